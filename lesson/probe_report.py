"""The report ``python3 -m ssl_core.probe --protocol full`` writes (``probe-<name>.json``), typed.

``outputs/probe-full/probe-<name>.json`` is a bundled encoder under the whole protocol: kNN and
linear probes on the full Fashion-MNIST beside random init and raw pixels, and end-to-end
fine-tuning on 1,000 labels against the same network trained from scratch. The linear-probe page
shows them through :class:`ProbeReport` (:meth:`ProbeReport.load`, :func:`load_all`), so a file
of the wrong shape fails in one place with one message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lesson.results import Record, ResultFormatError, ResultMissingError
from ssl_core import paths

if TYPE_CHECKING:
    from lesson.experiments.mae_ratio import MaeRatioResult

__all__ = ["FULL_MAE_RATIO_COMMAND", "FULL_PROBE_COMMAND", "FULL_PROBE_NAMES", "FinetuneReport",
           "FloorCheck", "ProbeReport", "ReportRow", "floor_checks", "full_probe_dir",
           "full_probe_path", "load_all", "raw_pixels"]

# The bundled encoders the full protocol is run on, in the order the page lists them.
FULL_PROBE_NAMES = ("simclr", "dino", "dino_vit", "mae", "unet_mae")
FULL_PROBE_COMMAND = ("OMP_NUM_THREADS=1 python3 -m ssl_core.probe --checkpoint "
                      + " ".join(f"assets/checkpoints/{n}" for n in FULL_PROBE_NAMES)
                      + " --protocol full --out outputs/probe-full")
# The bundled MAE's masked-patch error against biharmonic inpainting on the whole test set, at
# the two ratios issue 13 sets floors for (the app's assets/results/mae_ratio.json: 1,000 images).
FULL_MAE_RATIO_COMMAND = ("python3 -m lesson.experiments.mae_ratio --ratios 0.5 0.75 --seeds 0 "
                          "--n-images 10000 --results-dir outputs/mae-ratio-full")


def full_probe_dir() -> Path | None:
    """``<checkout>/outputs/probe-full``; None outside a checkout."""
    root = paths.checkout_root()
    return root / "outputs" / "probe-full" if root else None


def full_probe_path(name: str = "simclr") -> Path | None:
    """``<checkout>/outputs/probe-full/probe-<name>.json``; None outside a checkout."""
    folder = full_probe_dir()
    return folder / f"probe-{name}.json" if folder else None


def load_all(folder: str | Path | None = None) -> tuple[list[ProbeReport], list[str]]:
    """Every ``probe-*.json`` report in ``folder`` (default :func:`full_probe_dir`), the bundled
    names first in :data:`FULL_PROBE_NAMES` order, then any others by name; and one message per
    file that could not be read (the readable ones are still returned)."""
    folder = Path(folder) if folder is not None else full_probe_dir()
    if folder is None or not folder.is_dir():
        return [], []
    order = {name: i for i, name in enumerate(FULL_PROBE_NAMES)}
    files = sorted(folder.glob("probe-*.json"),
                   key=lambda f: (order.get(f.stem.removeprefix("probe-"), len(order)), f.name))
    reports, problems = [], []
    for path in files:
        try:
            reports.append(ProbeReport.load(path))
        except (ResultFormatError, ValueError) as error:
            problems.append(f"{path.name}: {error}")
    return reports, problems


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


def raw_pixels(reports: list[ProbeReport]) -> ReportRow | None:
    """The raw-pixel row, the same in every report of one protocol: the first report's that has
    one."""
    return next((r.row("raw_pixels") for r in reports if r.row("raw_pixels") is not None), None)


@dataclass(frozen=True)
class FloorCheck:
    """One floor of issue 13 on the full protocol: what it asks, whether the numbers meet it
    (None when a number it needs was not measured) and the numbers themselves."""

    floor: str
    met: bool | None
    numbers: str


def _value(row: ReportRow | None, key: str) -> float | None:
    cell = row.results.get(key) if row is not None else None
    return cell.value if cell is not None else None


def _pretrained(report: ProbeReport | None) -> ReportRow | None:
    return report.row("pretrained") if report is not None else None


def floor_checks(reports: list[ProbeReport],
                 mae_ratio: MaeRatioResult | None = None) -> list[FloorCheck]:
    """The floors issue 13 sets for the bundled SimCLR, DINO and MAE, checked against their
    full-protocol reports (raw pixels from any report that has them) and, for the MAE's
    masked-patch error against biharmonic inpainting, against ``mae_ratio`` (a ``mae_ratio``
    result on the test set with the biharmonic baseline; not measured without one)."""
    by_name = {r.name: r for r in reports}
    raw = raw_pixels(reports)
    raw_knn, raw_linear = _value(raw, "knn_k200"), _value(raw, "linear_all")
    simclr, dino, mae = (by_name.get(n) for n in ("simclr", "dino", "mae"))
    s_knn, s_lin = _value(_pretrained(simclr), "knn_k200"), _value(_pretrained(simclr),
                                                                    "linear_all")
    d_knn = _value(_pretrained(dino), "knn_k200")
    m_lin = _value(_pretrained(mae), "linear_all")

    def pct(v: float | None) -> str:
        return "not measured" if v is None else f"{v:.1%}"

    def check(floor: str, values: list[float | None], test: Any, numbers: str) -> FloorCheck:
        met = None if any(v is None for v in values) else bool(test())
        return FloorCheck(floor, met, numbers)

    checks = [
        check("SimCLR kNN k=200 >= 85%", [s_knn], lambda: s_knn >= 0.85, pct(s_knn)),
        check("SimCLR linear (all labels) >= 88%", [s_lin], lambda: s_lin >= 0.88, pct(s_lin)),
        check("DINO kNN k=200 >= raw pixels + 3 points", [d_knn, raw_knn],
              lambda: d_knn + 1e-9 >= raw_knn + 0.03, f"{pct(d_knn)} vs raw pixels {pct(raw_knn)}"),
        check("DINO kNN k=200 within 2 points of SimCLR or above", [d_knn, s_knn],
              lambda: d_knn + 1e-9 >= s_knn - 0.02, f"{pct(d_knn)} vs SimCLR {pct(s_knn)}"),
        check("MAE linear (all labels) >= raw pixels", [m_lin, raw_linear],
              lambda: m_lin >= raw_linear, f"{pct(m_lin)} vs raw pixels {pct(raw_linear)}"),
    ]
    ft = mae.finetune if mae is not None else None
    tuned, scratch = (ft.fine_tuned.accuracy, ft.scratch.accuracy) if ft else (None, None)
    checks.append(check("MAE fine-tuned on 1,000 labels >= from scratch + 3 points",
                        [tuned, scratch], lambda: tuned + 1e-9 >= scratch + 0.03,
                        f"{pct(tuned)} vs from scratch {pct(scratch)}"))
    for ratio, factor, floor in ((0.75, 0.5, "MAE masked-patch MSE at ratio 0.75 <= 0.5x "
                                               "biharmonic inpainting"),
                                 (0.5, 1.0, "MAE masked-patch MSE at ratio 0.5 <= biharmonic "
                                            "inpainting")):
        mse, bih = _mse_at(mae_ratio, ratio)
        numbers = ("not measured" if mse is None or bih is None else
                   f"{mse:.4f} vs biharmonic {bih:.4f} ({mse / bih:.2f}x) on "
                   f"{mae_ratio.n_images:,} test images")  # type: ignore[union-attr]
        checks.append(check(floor, [mse, bih],
                            lambda mse=mse, bih=bih, factor=factor: mse <= factor * bih,
                            numbers))
    return checks


def _mse_at(result: MaeRatioResult | None, ratio: float) -> tuple[float | None, float | None]:
    """The bundled MAE's and biharmonic inpainting's masked-patch MSE at ``ratio`` (None where
    the result lacks the ratio or the baseline)."""
    if result is None or result.biharmonic is None or result.mae.checkpoint != "mae":
        return None, None
    index = next((i for i, r in enumerate(result.ratios) if abs(r - ratio) < 1e-9), None)
    if index is None:
        return None, None
    return result.mae.mse[index], result.biharmonic.mse[index]
