"""Masks as bool patch vectors (numpy, shape ``(L,)``, True = masked) of three kinds: random,
one contiguous block, or a regular grid (:func:`make_mask` dispatches on :data:`MASK_KINDS`);
and :func:`mask_to_image`, a mask at pixel resolution.
"""

from __future__ import annotations

import math

import numpy as np
from einops import repeat

from ssl_core.masking.counts import check_mask_ratio, check_num_patches, num_visible
from ssl_core.masking.patches import ArrayT, resolve_grid
from ssl_core.masking.sequence import random_masking

__all__ = ["MASK_KINDS", "block_mask", "grid_mask", "make_mask", "mask_to_image"]

MASK_KINDS = ("random", "block", "grid")


def _check_grid(grid_h: int, grid_w: int) -> None:
    for name, value in (("grid_h", grid_h), ("grid_w", grid_w)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")


def block_mask(grid_h: int, grid_w: int, mask_ratio: float = 0.75, *, seed: int = 0) -> np.ndarray:
    """One contiguous block of masked patches at a random place: bool (grid_h * grid_w,).

    Masks exactly ``L - num_visible(L, mask_ratio)`` patches, the same count as
    ``random_masking``. The block is ``bw`` patches wide, ``bw = ceil(sqrt(n_mask * w / h))``
    (a shape like the grid's), filled in raster order: full rows, then a partial last row on its
    left. Its top-left corner is uniform over the places it fits (numpy ``default_rng(seed)``).
    One big hole, not BEiT's several small blocks: the hardest case for interpolation.
    """
    _check_grid(grid_h, grid_w)
    length = grid_h * grid_w
    n_mask = length - num_visible(length, mask_ratio)
    block_w = min(grid_w, max(1, math.ceil(math.sqrt(n_mask * grid_w / grid_h))))
    block_h = math.ceil(n_mask / block_w)
    if block_h > grid_h:  # float guard; in exact arithmetic block_h <= grid_h always
        block_w, block_h = grid_w, math.ceil(n_mask / grid_w)
    rng = np.random.default_rng(seed)
    top = int(rng.integers(0, grid_h - block_h + 1))
    left = int(rng.integers(0, grid_w - block_w + 1))
    full_rows, rest = divmod(n_mask, block_w)
    masked = np.zeros((grid_h, grid_w), dtype=bool)  # (h, w)
    masked[top : top + full_rows, left : left + block_w] = True
    if rest:  # partial last row; with none, row top + full_rows may lie past the grid
        masked[top + full_rows, left : left + rest] = True
    return masked.reshape(length)  # (L,)


def _grid_patterns(grid_h: int, grid_w: int) -> list[tuple[float, str, int]]:
    """(nominal mask ratio, pattern, stride) for the regular patterns ``grid_mask`` draws from."""
    patterns: list[tuple[float, str, int]] = [(0.5, "checkerboard", 2)]
    for stride in range(2, max(grid_h, grid_w, 2) + 1):
        patterns.append((1 - 1 / stride**2, "keep_one", stride))
        patterns.append((1 / stride**2, "mask_one", stride))
    return patterns


def grid_mask(grid_h: int, grid_w: int, mask_ratio: float = 0.75) -> np.ndarray:
    """A regular (deterministic) mask: bool (grid_h * grid_w,), True = masked.

    Picks the pattern whose nominal ratio is nearest ``mask_ratio`` (ties go to the higher ratio):
    - keep one patch, the top-left, of every s x s cell: 1 - 1/s**2 = 0.75, 0.889, 0.9375, ...
    - checkerboard, top-left patch visible: 0.5
    - mask one patch, the top-left, of every s x s cell: 1/s**2 = 0.25, 0.111, 0.0625, ...
    The count matches ``num_visible``'s rule only when the nominal ratio is the requested one and
    s divides both sides (14 x 14 at 0.75: 147 masked). Otherwise the pattern decides it:
    keep-one masks ``L - ceil(h/s) * ceil(w/s)``, mask-one ``ceil(h/s) * ceil(w/s)``,
    checkerboard ``floor(L / 2)`` (14 x 14 at 0.9 uses s = 3 and masks 171, not 177).
    """
    _check_grid(grid_h, grid_w)
    length = grid_h * grid_w
    check_num_patches(length)
    ratio = check_mask_ratio(mask_ratio)
    nominal, pattern, stride = min(
        _grid_patterns(grid_h, grid_w), key=lambda item: (abs(item[0] - ratio), -item[0])
    )
    rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")  # (h, w)
    corner = (rows % stride == 0) & (cols % stride == 0)  # (h, w): top-left of each s x s cell
    if pattern == "keep_one":
        masked = ~corner
    elif pattern == "mask_one":
        masked = corner
    else:
        masked = (rows + cols) % 2 == 1
    n_mask = int(masked.sum())
    if n_mask in (0, length):
        raise ValueError(
            f"the grid pattern nearest mask_ratio={ratio} ({pattern}, stride {stride}, nominal "
            f"{nominal:.3g}) hides {n_mask} of {length} patches on a {grid_h}x{grid_w} grid; "
            "use a larger grid or another mask kind"
        )
    return masked.reshape(length)  # (L,)


def make_mask(
    kind: str, grid_h: int, grid_w: int, mask_ratio: float = 0.75, *, seed: int = 0
) -> np.ndarray:
    """Any mask kind as a bool array (grid_h * grid_w,), True = masked.

    ``kind`` is one of ``MASK_KINDS``: "random" (row 0 of ``random_masking(1, L, r, seed=seed)``),
    "block" (``block_mask``) or "grid" (``grid_mask``; ``seed`` unused). Feed the result to the
    encoder through ``MaskResult.from_bool``.
    """
    _check_grid(grid_h, grid_w)
    if kind == "random":
        result = random_masking(1, grid_h * grid_w, mask_ratio, seed=seed)
        return result.mask[0].bool().cpu().numpy()
    if kind == "block":
        return block_mask(grid_h, grid_w, mask_ratio, seed=seed)
    if kind == "grid":
        return grid_mask(grid_h, grid_w, mask_ratio)
    raise ValueError(f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}")


def mask_to_image(mask: ArrayT, patch_size: int, grid: tuple[int, int] | None = None) -> ArrayT:
    """Per-pixel mask for display: (L,) -> (H, W) or (B, L) -> (B, H, W), same dtype.

    ``grid=(h, w)`` is the patch grid (square when omitted); H = h * patch_size.
    """
    if mask.ndim not in (1, 2):
        raise ValueError(f"mask must have shape (L,) or (B, L); got {tuple(mask.shape)}")
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int; got {patch_size!r}")
    grid_h, grid_w = resolve_grid(mask.shape[-1], grid)
    batched = mask if mask.ndim == 2 else mask[None]  # (B, L)
    pixels = repeat(
        batched, "b (h w) -> b (h p) (w q)", h=grid_h, w=grid_w, p=patch_size, q=patch_size
    )  # (B, H, W)
    return pixels if mask.ndim == 2 else pixels[0]
