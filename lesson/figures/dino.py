"""DINO-collapse figure data: the reference lines of the diagnostic panels, and the table and
caption of the measured ``dino_collapse`` runs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from lesson.experiments.dino_collapse import DinoCollapseResult
from lesson.live.dino import curve_records

__all__ = ["measured_caption", "measured_records", "reference", "variant_table"]


def reference(metric: str, rows: Sequence[Mapping[str, float]]) -> float | None:
    """The reference line of a panel, read from the rows (log K, 1/sqrt K or 1/K)."""
    last = rows[-1]
    if metric == "teacher_entropy":
        return last.get("max_entropy")
    if metric == "output_std":
        return last.get("output_std_ref")
    if metric == "dominant_dim_share" and "max_entropy" in last:
        return math.exp(-last["max_entropy"])
    return None


def variant_table(result: DinoCollapseResult) -> list[dict[str, Any]]:
    """One row per measured variant: the last step's diagnostics, kNN and the verdict."""
    table = []
    for v in result.variants.values():
        last = v.last
        knn = v.last_knn()
        table.append({
            "variant": v.label,
            "teacher entropy / log K": f"{last['teacher_entropy']:.2f} / "
                                       f"{last['max_entropy']:.2f}",
            "KL": round(last["kl_teacher_student"], 4),
            "dominant share": round(last["dominant_dim_share"], 3),
            "output std × √K": round(last["output_std"] / last["output_std_ref"], 3),
            "kNN k=20": f"{knn:.1%}" if knn is not None else "—",
            "verdict": v.verdict,
        })
    return table


def measured_caption(result: DinoCollapseResult, shown: str) -> str:
    """What the table shows, the kNN protocol, and how the runs were made."""
    provenance = result.provenance
    command = provenance.command if provenance else "python3 -m lesson.experiments.dino_collapse"
    wall = provenance.wall_time_s if provenance and provenance.wall_time_s is not None else "?"
    start = result.variants[shown].curve[0].get("knn_k20")
    knn = result.knn or {}
    return (
        f"{result.steps} steps each, the last row of each curve. kNN: k = 20 on the "
        f"teacher backbone's features, {knn.get('train_images', '?')} reference and "
        f"{knn.get('test_images', '?')} query images"
        + (f"; the random start scores {start:.1%}" if start is not None else "")
        + ". A run this short is about the collapse dynamics, not about learning features. "
        "The verdict (`collapse_verdict`: medians over the last quarter of the run) names "
        "three collapses: one dimension, uniform, and a constant output that is neither. Made "
        f"by `{command}` in {wall} s.")


def measured_records(result: DinoCollapseResult) -> list[dict[str, Any]]:
    """Every measured curve row, with its variant's name, for a CSV."""
    return [{"variant": name, **row} for name, v in result.variants.items()
            for row in curve_records(v.curve)]
