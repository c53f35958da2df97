"""What is bundled: the checkpoints and the measured results, as tables read from their files
(config.json and metrics.jsonl; each result's provenance), so that nothing the home page lists
is a hard-coded number."""

from __future__ import annotations

from typing import Any

from lesson.results import available_results, load_result
from ssl_core import paths
from ssl_core.checkpoints import WEIGHTS_FILE, CheckpointError, checkpoint_info, checkpoint_names

__all__ = ["bundled_checkpoint_rows", "measured_result_rows"]


def bundled_checkpoint_rows() -> list[dict[str, Any]]:
    """One row per bundled checkpoint, read from its files."""
    rows = []
    for name in checkpoint_names():
        path = paths.checkpoints_dir() / name
        row: dict[str, Any] = {"checkpoint": name,
                               "size (MB)": round((path / WEIGHTS_FILE).stat().st_size / 1e6, 2)}
        try:
            info = checkpoint_info(path)
        except CheckpointError as error:
            rows.append(row | {"method": "unreadable", "data": str(error)})
            continue
        row |= {"method": info.method, "backbone": info.backbone, "data": info.data_name,
                "steps": info.step, "batch size": info.batch_size}
        last = info.metrics[-1] if info.metrics else {}
        if "loss" in last:
            row["final training loss"] = round(float(last["loss"]), 3)
        if "elapsed_s" in last:
            row["training time (min)"] = round(float(last["elapsed_s"]) / 60, 1)
        rows.append(row)
    return rows


def measured_result_rows() -> list[dict[str, Any]]:
    """One row per measured result in assets/results: its name, command and when it finished."""
    rows = []
    for name in available_results():
        try:
            provenance = load_result(name).get("provenance", {})
        except ValueError as error:
            rows.append({"result": name, "command": f"unreadable: {error}"})
            continue
        rows.append({"result": name, "command": provenance.get("command"),
                     "finished (UTC)": provenance.get("finished_utc")})
    return rows
