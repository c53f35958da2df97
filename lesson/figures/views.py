"""What was sampled for a view, in words and as a table row (the ``params`` of a traced view,
:func:`ssl_core.augment.trace_views`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["crop_box", "describe_view", "view_record"]


def crop_box(params: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    """The crop of a traced view as ``(x0, y0, x1, y1)`` pixel edges in the source image.

    ``x0 = left``, ``x1 = left + width`` (exclusive), likewise for y. None when the view's
    pipeline had no crop.
    """
    crop = params.get("crop")
    if crop is None:
        return None
    left, top = int(crop["left"]), int(crop["top"])
    return left, top, left + int(crop["width"]), top + int(crop["height"])


_JITTER_LETTERS = {"brightness": "b", "contrast": "c", "saturation": "s", "hue": "h"}


def describe_view(params: Mapping[str, Any]) -> str:
    """One compact line for what ``trace_views`` sampled, e.g.

    ``crop 212x180 at (40, 12) (21% area) · flip · jitter b1.21 c0.83 s1.10 h+0.03 · gray ·
    blur σ1.2 · solarize``. Stages that were not applied are left out, so an unaugmented view
    reads ``crop ... · no colour change``.
    """
    parts = []
    box = crop_box(params)
    if box is not None:
        x0, y0, x1, y1 = box
        source_h, source_w = params["source_size"]
        area = (x1 - x0) * (y1 - y0) / (source_h * source_w)
        parts.append(f"crop {x1 - x0}x{y1 - y0} at ({x0}, {y0}) ({area:.0%} area)")
    if params.get("flipped"):
        parts.append("flip")
    jitter = params.get("jitter")
    colour = []
    if jitter is not None and jitter.get("order"):
        factors = []
        for name in jitter["order"]:
            value = jitter[name]
            text = f"{value:+.2f}" if name == "hue" else f"{value:.2f}"
            factors.append(f"{_JITTER_LETTERS[name]}{text}")
        colour.append("jitter " + " ".join(factors))
    if params.get("grayscale"):
        colour.append("gray")
    if params.get("blur_sigma") is not None:
        colour.append(f"blur σ{params['blur_sigma']:.1f}")
    if params.get("solarized"):
        colour.append("solarize")
    parts.extend(colour or ["no colour change"])
    return " · ".join(parts)


def view_record(params: Mapping[str, Any], *, pipeline: str, index: int) -> dict[str, Any]:
    """A flat row (one value per column) of a traced view's parameters, for a CSV download.

    Columns: pipeline, view, kind, crop_left, crop_top, crop_width, crop_height, output_h,
    output_w, flipped, jitter_order, brightness, contrast, saturation, hue, grayscale,
    blur_sigma, solarized. Stages not applied give empty cells (None).
    """
    crop = params.get("crop") or {}
    jitter = params.get("jitter") or {}
    return {
        "pipeline": pipeline,
        "view": index,
        "kind": params.get("kind"),
        "crop_left": crop.get("left"),
        "crop_top": crop.get("top"),
        "crop_width": crop.get("width"),
        "crop_height": crop.get("height"),
        "output_h": params["output_size"][0],
        "output_w": params["output_size"][1],
        "flipped": bool(params.get("flipped")),
        "jitter_order": " ".join(jitter.get("order", [])) or None,
        **{name: jitter.get(name) for name in _JITTER_LETTERS},
        "grayscale": bool(params.get("grayscale")),
        "blur_sigma": params.get("blur_sigma"),
        "solarized": bool(params.get("solarized")),
    }
