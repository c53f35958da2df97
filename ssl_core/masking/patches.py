"""Images cut into flattened patches and put back: :func:`patchify`, :func:`unpatchify`, and
the patch grid of an image or of a patch count (:func:`patch_grid`, :func:`resolve_grid`).

A patch vector is ordered ``(p, q, c)``: row inside the patch, then column, then channel
(channel fastest); patches are numbered in raster order over the ``(h, w)`` grid.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch
from einops import rearrange

__all__ = ["ArrayT", "patch_grid", "patchify", "resolve_grid", "unpatchify"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def _nearest_multiples(size: int, multiple: int) -> list[int]:
    """The multiples of ``multiple`` just below and just above ``size`` (positive ones only)."""
    below = (size // multiple) * multiple
    return sorted({m for m in (below, below + multiple) if m > 0})


def patch_grid(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """(h, w) patch grid of an H x W image, or a ValueError naming the nearest valid sizes."""
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int; got {patch_size!r}")
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"images of size {height}x{width} cannot be cut into {patch_size}x{patch_size} "
            f"patches: H and W must be multiples of {patch_size}; nearest valid sizes are "
            f"H in {_nearest_multiples(height, patch_size)} and "
            f"W in {_nearest_multiples(width, patch_size)} (resize or crop first)"
        )
    return height // patch_size, width // patch_size


def patchify(images: ArrayT, patch_size: int) -> ArrayT:
    """Cut images into flattened non-overlapping patches: (B, C, H, W) -> (B, L, p*p*C).

    Works for any channel count (1 for Fashion-MNIST, 3 for photos) and for torch tensors or
    numpy arrays. ``L = (H / p) * (W / p)`` patches in raster order; each patch vector is ordered
    (p, q, c) - row in patch, column in patch, channel fastest - exactly as MAE's ``patchify``.
    H and W must be multiples of ``patch_size`` (ValueError naming the nearest valid sizes).
    """
    if images.ndim != 4:
        raise ValueError(
            f"patchify expects images of shape (B, C, H, W); got shape {tuple(images.shape)} "
            "(add a batch dimension with images[None] for a single image)"
        )
    patch_grid(images.shape[-2], images.shape[-1], patch_size)
    return rearrange(images, "b c (h p) (w q) -> b (h w) (p q c)", p=patch_size, q=patch_size)


def resolve_grid(
    num_patches: int, grid: tuple[int, int] | None, what: str = "patches"
) -> tuple[int, int]:
    """Patch grid (h, w) for ``num_patches``: ``grid`` if given (checked), else a square one;
    ``what`` names the items in the error message."""
    if grid is None:
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(
                f"{num_patches} {what} do not form a square grid; pass grid=(h, w) with "
                f"h * w == {num_patches}"
            )
        return side, side
    grid_h, grid_w = (int(g) for g in grid)
    if grid_h < 1 or grid_w < 1 or grid_h * grid_w != num_patches:
        raise ValueError(
            f"grid={tuple(grid)} does not hold {num_patches} {what}; need h * w == {num_patches}"
        )
    return grid_h, grid_w


def unpatchify(
    patches: ArrayT,
    *,
    patch_size: int,
    channels: int | None = None,
    grid: tuple[int, int] | None = None,
    image_size: tuple[int, int] | None = None,
) -> ArrayT:
    """Exact inverse of ``patchify``: (B, L, p*p*C) -> (B, C, H, W).

    ``channels`` defaults to ``P / p**2`` (checked against it when given). The patch grid is
    ``grid=(h, w)`` in patches, or ``image_size=(H, W)`` in pixels, or (neither given) square.
    """
    if patches.ndim != 3:
        raise ValueError(
            f"unpatchify expects patches of shape (B, L, p*p*C); got {tuple(patches.shape)}"
        )
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int; got {patch_size!r}")
    _, num_patches, patch_dim = patches.shape
    inferred, leftover = divmod(patch_dim, patch_size * patch_size)
    if leftover or inferred == 0:
        raise ValueError(
            f"patch vectors of length {patch_dim} are not p*p*C for patch_size={patch_size}"
        )
    if channels is not None and channels != inferred:
        raise ValueError(
            f"channels={channels} does not match patch vectors of length {patch_dim} "
            f"(= {patch_size}*{patch_size}*{inferred}); pass channels={inferred} or check "
            "patch_size"
        )
    if grid is not None and image_size is not None:
        raise ValueError("pass grid=(h, w) in patches or image_size=(H, W) in pixels, not both")
    if image_size is not None:
        grid = patch_grid(int(image_size[0]), int(image_size[1]), patch_size)
    grid_h, grid_w = resolve_grid(num_patches, grid)
    return rearrange(
        patches,
        "b (h w) (p q c) -> b c (h p) (w q)",
        h=grid_h,
        w=grid_w,
        p=patch_size,
        q=patch_size,
        c=inferred,
    )
