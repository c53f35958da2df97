"""Pictures a page shows: enlarged pixels, grids of tiles, PNG bytes, heat maps over images.

Pure functions of uint8 arrays (``(H, W)`` gray or ``(H, W, 3)`` RGB) in and out; model
inputs and views become pictures through :mod:`ssl_core.images`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from ssl_core.eval.attention import upsample
from ssl_core.images import as_rgb

__all__ = ["colourize", "encode_png", "image_grid", "overlay", "upscale_nearest"]


def upscale_nearest(image: np.ndarray, *, min_side: int) -> np.ndarray:
    """Repeat pixels by the smallest integer factor that makes the shorter side >= ``min_side``.

    Browsers blur small images when they stretch them; a 28 px view enlarged here keeps its
    pixels square. ``(h, w)`` or ``(h, w, C)`` in, the same layout out (unchanged if big enough).
    """
    if min_side < 1:
        raise ValueError(f"min_side must be >= 1; got {min_side}")
    short = min(image.shape[0], image.shape[1])
    if short < 1:
        raise ValueError(f"image has an empty side: shape {image.shape}")
    factor = math.ceil(min_side / short)
    if factor <= 1:
        return image
    return image.repeat(factor, axis=0).repeat(factor, axis=1)  # (h * f, w * f[, C])


def image_grid(
    tiles: Sequence[np.ndarray], *, ncols: int, pad: int = 4, fill: int = 255
) -> np.ndarray:
    """Lay uint8 tiles out in rows of ``ncols``, each in a cell as big as the largest tile.

    Tiles may differ in size (DINO's global and local crops) and in channels: if any tile is
    colour, grayscale ones are repeated to RGB. Returns uint8 ``(rows * (h + pad) + pad,
    ncols * (w + pad) + pad[, 3])`` with ``fill`` between and around the tiles, each tile in the
    top-left corner of its cell.
    """
    if not tiles:
        raise ValueError("image_grid needs at least one tile")
    if ncols < 1 or pad < 0:
        raise ValueError(f"ncols must be >= 1 and pad >= 0; got ncols={ncols}, pad={pad}")
    colour = any(t.ndim == 3 for t in tiles)
    tiles = [as_rgb(t) if colour else t for t in tiles]
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    ncols = min(ncols, len(tiles))
    nrows = math.ceil(len(tiles) / ncols)
    shape: tuple[int, ...] = (nrows * (cell_h + pad) + pad, ncols * (cell_w + pad) + pad)
    grid = np.full(shape + ((3,) if colour else ()), fill, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        top = pad + (i // ncols) * (cell_h + pad)
        left = pad + (i % ncols) * (cell_w + pad)
        grid[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    return grid


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 ``(H, W)`` or ``(H, W, 3)`` image (for download buttons)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"image must be uint8 (H, W) or (H, W, 3); got {image.dtype} {image.shape}"
        )
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


# The "inferno" colour scale at 9 stops (matplotlib's values), dark (low) to bright (high).
_INFERNO = np.array([
    [0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
    [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164],
], dtype=np.float64)


def colourize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] ``(H, W)`` -> uint8 RGB ``(H, W, 3)`` on the inferno scale (clipped)."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    position = v * (len(_INFERNO) - 1)
    low = np.floor(position).astype(int).clip(0, len(_INFERNO) - 2)
    t = (position - low)[..., None]
    rgb = _INFERNO[low] * (1 - t) + _INFERNO[low + 1] * t
    return np.rint(rgb).astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, *, alpha: float = 0.6,
            mask: np.ndarray | None = None, mode: str = "nearest") -> np.ndarray:
    """A map blended over an image: uint8 RGB ``(H, W, 3)``.

    ``image``: uint8 ``(H, W)`` or ``(H, W, 3)``; ``heat``: ``(gh, gw)``, resized to the image
    (``mode`` as :func:`upsample`) and scaled by its maximum. ``alpha`` in [0, 1] is the weight of
    the colour. With ``mask`` (bool ``(gh, gw)``, e.g. :func:`mass_threshold_mask`), the patches
    outside it show the image darkened and no colour.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"image must be uint8 (H, W) or (H, W, 3); got {image.dtype} "
                         f"{image.shape}")
    rgb = as_rgb(image)  # (H, W, 3)
    size = rgb.shape[:2]
    heat = np.asarray(heat, dtype=np.float64)
    top = float(np.nanmax(heat)) if heat.size else 0.0
    scaled = heat / top if top > 0 else np.zeros_like(heat)
    colour = colourize(upsample(scaled, size, mode=mode)).astype(np.float64)
    out = (1 - alpha) * rgb.astype(np.float64) + alpha * colour
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != heat.shape:
            raise ValueError(f"mask must be {heat.shape} like heat; got {mask.shape}")
        inside = upsample(mask.astype(np.float32), size, mode="nearest")[..., None] > 0.5
        out = np.where(inside, out, 0.35 * rgb.astype(np.float64))
    return np.rint(out).clip(0, 255).astype(np.uint8)
