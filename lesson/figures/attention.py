"""Attention-map figure data: which encoders show CLS attention, what was done to a picked image
to make their input, and the tables behind the measured ``attention_foreground`` result.

The maps themselves come from :mod:`ssl_core.eval.attention`; this module only decides what the
lesson shows beside them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lesson.experiments.attention_foreground import AttentionForegroundResult
from ssl_core.eval.attention import AttentionMaps

__all__ = [
    "conversion",
    "patch_records",
    "per_class_lift",
    "result_caption",
    "result_records",
    "result_rows",
]


def conversion(picked: np.ndarray, side: int, channels: int) -> str:
    """What was done to the picked image to make the model's ``side`` x ``side`` input with
    ``channels`` channels, in words."""
    steps = []
    if picked.shape[0] != picked.shape[1]:
        steps.append("cropped to its centred square")
    if channels == 1 and picked.ndim == 3:
        steps.append("converted to gray")
    elif channels == 3 and picked.ndim == 2:
        steps.append("repeated to three channels")
    if min(picked.shape[:2]) != side:
        steps.append(f"resized to {side} x {side}")
    if not steps:
        return "The picked image is already that."
    text = (f"The picked {picked.shape[1]} x {picked.shape[0]} "
            f"{'colour' if picked.ndim == 3 else 'gray'} image was " + ", ".join(steps) + ".")
    if side <= 32 and max(picked.shape[:2]) > 64:
        text += f" A {side} x {side} model sees little of a photo: its maps are coarse."
    return text


def patch_records(maps: AttentionMaps, kept: np.ndarray) -> list[dict[str, Any]]:
    """One row per patch: its grid position, the mean map, whether the threshold ``kept``
    ``(gh, gw)`` holds it, and every head's map."""
    gh, gw = maps.grid
    return [
        {"row": i, "column": j, "mean": float(maps.mean[i, j]), "kept": bool(kept[i, j]),
         **{f"head_{h}": float(maps.heads[h, i, j]) for h in range(len(maps.heads))}}
        for i in range(gh) for j in range(gw)
    ]


def result_rows(result: AttentionForegroundResult) -> list[dict[str, str]]:
    """The measured result as a table: one formatted row per model."""
    return [{"model": m.label,
             "attention on garment": f"{100 * m.attention_share:.1f} %",
             "garment area": f"{100 * m.area_share:.1f} %",
             "lift": f"{m.lift:.2f}",
             "images above area": f"{100 * m.images_above_area:.0f} %",
             "Jaccard @keep": f"{m.jaccard:.2f}"}
            for m in result.models]


def result_records(result: AttentionForegroundResult) -> list[dict[str, Any]]:
    """The measured result's numbers, one row per model (for a CSV)."""
    return [{"model": m.name, "attention_share": m.attention_share, "area_share": m.area_share,
             "lift": m.lift, "images_above_area": m.images_above_area, "jaccard": m.jaccard}
            for m in result.models]


def result_caption(result: AttentionForegroundResult) -> str:
    """What the measured table's columns mean, on which images, and the command that made it."""
    dataset, fg = result.dataset, result.foreground
    command = result.provenance.command if result.provenance else "?"
    return (
        f"{dataset['n_images']:,} {dataset['name']} images; foreground: {fg['rule']}. "
        "Attention share: the CLS token's last-layer attention (mean of the heads, over the "
        "patches) that lands on foreground pixels. Lift = attention share / area share (1: "
        "no preference). Jaccard: foreground vs the patches holding "
        f"{100 * result.keep:.0f} % of the mass."
        + "".join(f" Random init: mean of seeds {', '.join(map(str, m.seeds or []))}."
                  for m in result.models if m.kind == "random")
        + f" Made by `{command}`."
    )


def per_class_lift(result: AttentionForegroundResult) -> list[tuple[str, list[str], list[float]]]:
    """``(model label, class names, lift per class)`` for each model (NaN where a class has no
    foreground)."""
    return [(m.label, [c["class"] for c in m.per_class],
             [c["attention_share"] / (c["area_share"] or float("nan")) for c in m.per_class])
            for m in result.models]
