"""MAE figure data: one image masked and filled, by a model and by two classical fills (harmonic
interpolation, and scikit-image's biharmonic inpainting: :func:`biharmonic_fill`), and how well
each fill rebuilds the masked patches as the mask ratio grows.

:func:`input_geometry` says what image the page feeds (the model's own size, channels and
patches, else a default per kind of image); :func:`fill` masks one image and returns what the
panels show (:class:`MaskedFill`); :func:`error_curve` is the error against the ratio, each
point :func:`ssl_core.losses.mae.masked_patch_errors` under a mask from
:func:`ssl_core.masking.make_mask`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ssl_core.images import image_to_batch
from ssl_core.losses.mae import masked_patch_errors
from ssl_core.masking import biharmonic_masked, interpolate_masked, make_mask, mask_to_image

__all__ = [
    "BiharmonicFill",
    "CURVE_RATIOS",
    "CURVE_SEEDS",
    "DEFAULT_GEOMETRY",
    "ErrorCurve",
    "MaskedFill",
    "baseline_error_curve",
    "biharmonic_error_curve",
    "biharmonic_fill",
    "error_curve",
    "fill",
    "input_geometry",
    "interpolation_error_curve",
    "masked_only",
    "model_error_curve",
    "patch_records",
]

CURVE_RATIOS = tuple(round(0.05 + 0.1 * i, 2) for i in range(10))  # 0.05, 0.15, ..., 0.95
CURVE_SEEDS = (0, 1, 2)  # masks per ratio on the curve (one for the deterministic grid)
# Without a model: the input an MAE of that kind would see (size, channels, patch size).
DEFAULT_GEOMETRY = {"fashion": (28, 1, 4), "photo": (64, 3, 8)}


def input_geometry(model: nn.Module | None, kind: str) -> tuple[int, int, int]:
    """``(side, channels, patch size)`` of the images a page feeds: an MAE's own (its patch
    grid, channels and patches), else :data:`DEFAULT_GEOMETRY` of ``kind``."""
    if model is not None and isinstance(getattr(model, "grid", None), tuple):
        return model.grid[0] * model.patch_size, model.backbone.in_chans, model.patch_size
    return DEFAULT_GEOMETRY[kind]


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


def biharmonic_error_curve(image: np.ndarray, patch: int, mask_kind: str) -> ErrorCurve:
    """:func:`error_curve` of scikit-image's biharmonic inpainting on one uint8 image, at
    :data:`CURVE_RATIOS` (the classical baseline an MAE must beat)."""
    return error_curve(image_to_batch(image), CURVE_RATIOS, patch_size=patch,
                       mask_kind=mask_kind, seeds=_seeds_for(mask_kind),
                       fill=lambda x, mask: biharmonic_masked(x, mask, patch))


def _seeds_for(mask_kind: str) -> tuple[int, ...]:
    return CURVE_SEEDS if mask_kind != "grid" else CURVE_SEEDS[:1]  # the grid is deterministic


def model_error_curve(model: nn.Module, image: np.ndarray, patch: int, mask_kind: str
                      ) -> ErrorCurve:
    """:func:`error_curve` of ``model.reconstruct`` on one uint8 image, at :data:`CURVE_RATIOS`."""
    device = next(model.parameters()).device
    return error_curve(
        image_to_batch(image).to(device), CURVE_RATIOS, patch_size=patch, mask_kind=mask_kind,
        seeds=_seeds_for(mask_kind),
        fill=lambda x, mask: model.reconstruct(x, mask=mask).reconstruction,
    )


def baseline_error_curve(image: np.ndarray, patch: int, mask_kind: str) -> ErrorCurve:
    """:func:`interpolation_error_curve` on one uint8 image, at :data:`CURVE_RATIOS`."""
    return interpolation_error_curve(image_to_batch(image), CURVE_RATIOS, patch_size=patch,
                                     mask_kind=mask_kind, seeds=_seeds_for(mask_kind))


@dataclass(frozen=True, eq=False)
class MaskedFill:
    """One image under one mask: the panels (float ``(1, C, H, W)`` in [0, 1]) and the errors.

    ``model_*`` are None without a model; errors are per patch ``(1, L)`` and their masked mean
    ``(1,)``.
    """

    image: Tensor
    masked_input: Tensor  # hidden patches black
    baseline: Tensor  # interpolation
    baseline_errors: Tensor
    baseline_mse: Tensor
    reconstruction: Tensor | None = None
    reconstruction_pasted: Tensor | None = None
    model_errors: Tensor | None = None
    model_mse: Tensor | None = None


def fill(image: np.ndarray, mask: np.ndarray, patch: int, model: nn.Module | None = None
         ) -> MaskedFill:
    """Mask uint8 ``image`` (``mask`` ``(L,)`` bool, True = hidden) and fill it by interpolation
    and, when given, by ``model.reconstruct``."""
    x = image_to_batch(image)  # (1, C, side, side)
    grid = (x.shape[-2] // patch, x.shape[-1] // patch)
    visible = ~torch.from_numpy(mask_to_image(mask, patch, grid))  # (side, side) bool
    baseline = interpolate_masked(x, mask, patch)  # (1, C, side, side)
    base_errors, base_mse = masked_patch_errors(baseline, x, mask, patch_size=patch)
    out = dict(image=x, masked_input=x * visible, baseline=baseline,
               baseline_errors=base_errors, baseline_mse=base_mse)
    if model is not None:
        xm = x.to(next(model.parameters()).device)
        recon = model.reconstruct(xm, mask=mask)
        errors, mse = masked_patch_errors(recon.reconstruction, xm, mask, patch_size=patch)
        out |= dict(reconstruction=recon.reconstruction,
                    reconstruction_pasted=recon.reconstruction_pasted,
                    model_errors=errors, model_mse=mse)
    return MaskedFill(**out)


@dataclass(frozen=True, eq=False)
class BiharmonicFill:
    """One image under one mask, filled by biharmonic inpainting: the fill ``(1, C, H, W)``,
    its per-patch errors ``(1, L)`` and their masked mean ``(1,)``."""

    image: Tensor
    errors: Tensor
    mse: Tensor


def biharmonic_fill(image: np.ndarray, mask: np.ndarray, patch: int) -> BiharmonicFill:
    """Mask uint8 ``image`` (``mask`` ``(L,)`` bool, True = hidden) and fill it with
    ``skimage.restoration.inpaint_biharmonic`` (kept apart from :func:`fill`: it is the slow
    one, so a page can draw the other panels first)."""
    x = image_to_batch(image)  # (1, C, side, side)
    filled = biharmonic_masked(x, mask, patch)
    errors, mse = masked_patch_errors(filled, x, mask, patch_size=patch)
    return BiharmonicFill(image=filled, errors=errors, mse=mse)


def masked_only(errors: Tensor, mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``(1, L)`` per-patch errors -> ``(h, w)`` with the visible patches blank (NaN)."""
    return np.where(mask, errors[0].cpu().numpy(), np.nan).reshape(grid)


def patch_records(result: MaskedFill, mask: np.ndarray, grid: tuple[int, int],
                  biharmonic: BiharmonicFill | None = None) -> list[dict[str, Any]]:
    """One CSV row per patch: where it is, whether it is masked, each fill's MSE."""
    return [{"patch": i, "row": i // grid[1], "column": i % grid[1], "masked": bool(mask[i]),
             "interpolation_mse": float(result.baseline_errors[0, i])}
            | ({"biharmonic_mse": float(biharmonic.errors[0, i])}
               if biharmonic is not None else {})
            | ({"mae_mse": float(result.model_errors[0, i])}
               if result.model_errors is not None else {})
            for i in range(mask.size)]
