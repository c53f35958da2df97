"""The catalogue of checkpoint directories: which there are, what each says about itself.

A folder of checkpoints (by default :func:`ssl_core.paths.checkpoints_dir`, the bundled ones)
holds one directory per checkpoint; a directory counts when it holds ``model.safetensors``.
:func:`checkpoint_info` reads a directory's ``config.json`` without building the model and
answers the questions every reader asks: the method, the backbone and the images it takes, the
run's length and data, the training command, the weights' size and sha256, and a
:func:`checkpoint_stamp` (path and modification time) that cache keys carry so that a replaced
checkpoint is loaded again.
"""

from __future__ import annotations

import functools
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_core import paths
from ssl_core.checkpoints.files import (
    CONFIG_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    file_sha256,
    read_json,
)

__all__ = [
    "CheckpointInfo",
    "checkpoint_info",
    "checkpoint_names",
    "checkpoint_stamp",
    "find_checkpoint",
    "list_checkpoints",
    "read_metrics",
]

FASHION_SHAPE = (1, (28, 28))  # (in_chans, img_size) of a Fashion-MNIST backbone


def _folder(directory: str | Path | None) -> Path:
    return Path(directory) if directory is not None else paths.checkpoints_dir()


def checkpoint_names(directory: str | Path | None = None) -> list[str]:
    """Sorted names of the checkpoint directories (those holding model.safetensors) in
    ``directory`` (default: the bundled ones); [] when the folder is absent."""
    root = _folder(directory)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / WEIGHTS_FILE).is_file())


def find_checkpoint(name: str, directory: str | Path | None = None) -> Path | None:
    """``<directory>/<name>`` when it holds weights (a checkpoint), else None."""
    path = _folder(directory) / name
    return path if (path / WEIGHTS_FILE).is_file() else None


def checkpoint_stamp(path: str | Path) -> str:
    """``"<directory>:<mtime_ns of model.safetensors>"``: names a checkpoint's current weights in
    cache keys, so that replaced weights are loaded again. Raises OSError when they are gone."""
    directory = Path(path)
    return f"{directory}:{(directory / WEIGHTS_FILE).stat().st_mtime_ns}"


@functools.lru_cache(maxsize=64)
def _sha256(path: str, stamp: str) -> str:  # stamp in the key: a replaced file is hashed again
    return file_sha256(path)


def read_metrics(directory: str | Path) -> list[dict[str, Any]]:
    """The records of a checkpoint's metrics.jsonl, unreadable lines skipped ([] when absent)."""
    try:
        lines = (Path(directory) / METRICS_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _recorded_command(directory: Path) -> str | None:
    """The training command for ``directory`` listed in the folder's PROVENANCE.md, if any.

    ``scripts/bundle_checkpoints.py provenance`` writes a section "## `name`" per checkpoint
    with the command in a fenced block; a missing file or section gives None.
    """
    provenance = directory.parent / "PROVENANCE.md"
    if not provenance.is_file():
        return None
    lines = provenance.read_text(encoding="utf-8").splitlines()
    header = f"## `{directory.name}`"
    if header not in lines:
        return None
    in_block = False
    for line in lines[lines.index(header) + 1:]:
        if line.startswith("## "):
            return None
        if line.startswith("```"):
            in_block = not in_block
        elif in_block and line.startswith("python"):
            return line.strip()
    return None


def _as_hw(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint directory says about itself, read from its files (no model is built).

    ``in_chans`` / ``img_size`` come from the registry's resolved backbone config (None when the
    backbone cannot be resolved). The weights' sha256, the metrics and the training command are
    read when first asked for.
    """

    name: str  # the directory's name, e.g. "simclr"
    path: Path  # the checkpoint directory
    config: dict[str, Any] = field(repr=False)
    method: str
    backbone: str
    in_chans: int | None
    img_size: tuple[int, int] | None
    stamp: str  # checkpoint_stamp(path)

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def step(self) -> int | None:
        """Optimizer steps done."""
        return self.config.get("step")

    @property
    def total_steps(self) -> int | None:
        return self.config.get("total_steps")

    @property
    def batch_size(self) -> int | None:
        """Images per device and step."""
        return (self.config.get("train") or {}).get("batch_size")

    @property
    def data_name(self) -> str | None:
        return (self.config.get("data") or {}).get("name")

    @property
    def data_sha256(self) -> dict[str, str]:
        """File name -> sha256 of the pretraining data files (bundled data); for data read
        from elsewhere, the digests its description records instead (``arrays_sha256`` of the
        decoded arrays, ``listing_sha256`` of an image folder's listing)."""
        data = self.config.get("data") or {}
        return dict(data.get("files") or {
            key: value for key, value in data.items()
            if key.endswith("sha256") and isinstance(value, str)})

    @property
    def size_bytes(self) -> int:
        return self.weights.stat().st_size

    @property
    def sha256(self) -> str:
        """sha256 of model.safetensors (computed once per stamp)."""
        return _sha256(str(self.weights), self.stamp)

    @functools.cached_property
    def metrics(self) -> list[dict[str, Any]]:
        """The logged records of metrics.jsonl."""
        return read_metrics(self.path)

    @property
    def wall_time_s(self) -> float | None:
        """The trainer's last ``elapsed_s`` in metrics.jsonl."""
        times = [r["elapsed_s"] for r in self.metrics
                 if isinstance(r.get("elapsed_s"), int | float)]
        return float(times[-1]) if times else None

    @property
    def median_step_time_s(self) -> float | None:
        """The median logged ``step_time_s``: the run's pace without the stretches when other
        jobs shared the CPU (``wall_time_s`` sums every step, the slowed ones too)."""
        times = [float(r["step_time_s"]) for r in self.metrics
                 if isinstance(r.get("step_time_s"), int | float)]
        return statistics.median(times) if times else None

    @property
    def median_time_s(self) -> float | None:
        """Steps done x :attr:`median_step_time_s`: how long the run takes unloaded."""
        median, step = self.median_step_time_s, self.step
        return None if median is None or step is None else median * step

    @property
    def command(self) -> str | None:
        """The command that trained it, when config.json or the folder's PROVENANCE.md says."""
        train = self.config.get("train") or {}
        return (self.config.get("command") or train.get("command")
                or _recorded_command(self.path))

    @property
    def is_fashion(self) -> bool:
        """True for a 1-channel 28 x 28 backbone (a Fashion-MNIST model)."""
        return (self.in_chans, self.img_size) == FASHION_SHAPE


def checkpoint_info(path: str | Path) -> CheckpointInfo:
    """Read a checkpoint directory's description without building the model.

    Raises :class:`~ssl_core.checkpoints.CheckpointError` (a ValueError) when the directory
    lacks weights or config.json, or config.json is not a method checkpoint's.
    """
    from ssl_core.models.registry import backbone_config

    directory = Path(path)
    if not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointError(
            f"{directory} is not a checkpoint directory: it needs {CONFIG_FILE} and "
            f"{WEIGHTS_FILE} (written by `python -m ssl_core.pretrain`)"
        )
    config = read_json(directory / CONFIG_FILE)
    if not isinstance(config, dict) or "backbone" not in config or "method" not in config:
        raise CheckpointError(f"{directory / CONFIG_FILE} lacks 'method'/'backbone'; it is not "
                              "a method checkpoint")
    try:
        resolved = backbone_config(str(config["backbone"]),
                                   **dict(config.get("backbone_kwargs") or {}))
        in_chans, img_size = int(resolved["in_chans"]), _as_hw(resolved["img_size"])
    except (KeyError, TypeError, ValueError):
        in_chans, img_size = None, None
    return CheckpointInfo(
        name=directory.name, path=directory, config=config, method=str(config["method"]),
        backbone=str(config["backbone"]), in_chans=in_chans, img_size=img_size,
        stamp=checkpoint_stamp(directory),
    )


def list_checkpoints(directory: str | Path | None = None) -> list[CheckpointInfo]:
    """:func:`checkpoint_info` of every checkpoint in ``directory`` (default: the bundled ones),
    sorted by name; [] when the folder is absent. A malformed one raises CheckpointError."""
    root = _folder(directory)
    return [checkpoint_info(root / name) for name in checkpoint_names(root)]
