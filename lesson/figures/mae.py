"""MAE figure data: how well a fill (a model, or interpolation) rebuilds masked patches as the mask
ratio grows, on one image. Each point is :func:`ssl_core.losses.mae.masked_patch_errors` under a
mask from :func:`ssl_core.masking.make_mask`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ssl_core.losses.mae import masked_patch_errors
from ssl_core.masking import interpolate_masked, make_mask

__all__ = ["ErrorCurve", "error_curve", "interpolation_error_curve"]


@dataclass(frozen=True)
class ErrorCurve:
    """Masked-patch MSE against the mask ratio, averaged over seeds (NaN where a ratio fails)."""

    ratios: np.ndarray  # (R,)
    mean: np.ndarray  # (R,) mean masked-patch MSE over the seeds
    sem: np.ndarray  # (R,) its standard error (0 with one seed or a deterministic mask)
    seeds: tuple[int, ...]


def error_curve(
    images: torch.Tensor,
    ratios: Iterable[float],
    *,
    patch_size: int,
    fill: Callable[[torch.Tensor, np.ndarray], torch.Tensor],
    mask_kind: str = "random",
    seeds: Iterable[int] = (0,),
) -> ErrorCurve:
    """How well ``fill`` rebuilds masked patches as the mask ratio grows.

    images: ``(1, C, H, W)``; ``fill(images, mask)`` with mask ``(L,)`` bool (True = masked)
    returns the prediction ``(1, C, H, W)``. For each ratio and seed the mask is
    ``make_mask(mask_kind, h, w, ratio, seed=seed)``; a ratio whose mask cannot be drawn (it
    leaves no visible or no masked patch on this grid) gives NaN.
    """
    if images.ndim != 4 or images.shape[0] != 1:
        raise ValueError(f"images must be one image (1, C, H, W); got {tuple(images.shape)}")
    ratios = np.asarray(list(ratios), dtype=np.float64)  # (R,)
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("error_curve needs at least one seed")
    grid_h, grid_w = images.shape[-2] // patch_size, images.shape[-1] // patch_size
    mean = np.full(len(ratios), np.nan)
    sem = np.full(len(ratios), np.nan)
    for i, ratio in enumerate(ratios):
        values = []
        for seed in seeds:
            try:
                mask = make_mask(mask_kind, grid_h, grid_w, float(ratio), seed=seed)  # (L,)
            except ValueError:
                break
            _, mse = masked_patch_errors(fill(images, mask), images, mask, patch_size=patch_size)
            values.append(float(mse[0]))
        if len(values) == len(seeds):
            mean[i] = float(np.mean(values))
            sem[i] = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 \
                else 0.0
    return ErrorCurve(ratios=ratios, mean=mean, sem=sem, seeds=seeds)


def interpolation_error_curve(
    images: torch.Tensor,
    ratios: Iterable[float],
    *,
    patch_size: int,
    mask_kind: str = "random",
    seeds: Iterable[int] = (0,),
) -> ErrorCurve:
    """:func:`error_curve` of the no-learning baseline, ``masking.interpolate_masked``."""
    return error_curve(
        images, ratios, patch_size=patch_size, mask_kind=mask_kind, seeds=seeds,
        fill=lambda x, mask: interpolate_masked(x, mask, patch_size),
    )
