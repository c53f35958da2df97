"""The report ``python3 -m ssl_core.probe --protocol full`` writes (``probe-<name>.json``), typed.

``outputs/probe-full/probe-simclr.json`` is the bundled SimCLR under the whole protocol: kNN and
linear probes on the full Fashion-MNIST beside random init and raw pixels, and end-to-end
fine-tuning on 1,000 labels against the same network trained from scratch. The linear-probe page
shows it through :class:`ProbeReport` (:meth:`ProbeReport.load`), so a file of the wrong shape
fails in one place with one message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesson.results import Record, ResultFormatError, ResultMissingError
from ssl_core import paths

__all__ = ["FULL_PROBE_COMMAND", "FinetuneReport", "ProbeReport", "ReportRow",
           "full_probe_path"]

FULL_PROBE_COMMAND = ("OMP_NUM_THREADS=1 python3 -m ssl_core.probe --checkpoint "
                      "assets/checkpoints/simclr --protocol full --out outputs/probe-full")


def full_probe_path() -> Path | None:
    """``<checkout>/outputs/probe-full/probe-simclr.json``; None outside a checkout."""
    root = paths.checkout_root()
    return root / "outputs" / "probe-full" / "probe-simclr.json" if root else None


@dataclass(frozen=True, kw_only=True)
class ReportCell(Record):
    """One measured column of a row: its heading, the accuracy (a fraction) and how."""

    column: str
    value: float
    protocol: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReportRow(Record):
    """One encoder (pretrained, random init, raw pixels) and its columns by key."""

    encoder: str
    kind: str
    feature_dim: int | None = None
    results: dict[str, ReportCell]


@dataclass(frozen=True, kw_only=True)
class FinetuneSide(Record):
    """One side of the fine-tuning comparison: its test accuracy and wall time."""

    accuracy: float
    wall_time_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class FinetuneReport(Record):
    """Fine-tuned from the pretrained weights vs the same recipe from scratch, same labels."""

    n_labels: int
    labels_per_class: int | None = None
    fine_tuned: FinetuneSide
    scratch: FinetuneSide
    protocol: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ProbeReport(Record):
    """A probe report: the checkpoint, the evaluation data, the rows, fine-tuning if run."""

    name: str
    checkpoint: str | None = None
    method: str | None = None
    backbone: str | None = None
    step: int | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    rows: list[ReportRow]
    finetune: FinetuneReport | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> ProbeReport:
        """The report at ``path`` (default :func:`full_probe_path`). Raises
        :class:`lesson.results.ResultMissingError` (naming the command that writes it) when
        absent and :class:`lesson.results.ResultFormatError` when it is not a report."""
        path = Path(path) if path is not None else full_probe_path()
        if path is None or not path.is_file():
            raise ResultMissingError(f"no full-protocol probe report; it is written by "
                                     f"`{FULL_PROBE_COMMAND}`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ResultFormatError(f"{path.name} is not JSON ({error}); re-run "
                                    f"`{FULL_PROBE_COMMAND}`") from error
        return cls.from_json(data, where=path.name)

    def row(self, kind: str) -> ReportRow | None:
        """The first row of ``kind`` (``pretrained``, ``random_init``, ``raw_pixels``)."""
        return next((r for r in self.rows if r.kind == kind), None)
