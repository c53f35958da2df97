"""MAE's reconstruction loss: mean squared error on the masked patches only.

Follows ``forward_loss`` in facebookresearch/mae ``models_mae.py``: the error of each patch is the
mean over its pixels, and the loss averages it over masked patches (``sum(err * mask) /
sum(mask)``), so reconstructing visible patches earns nothing. With ``norm_pix`` the target of
each patch is that patch normalised by its own mean and variance, which MAE found gives better
representations (the model no longer spends effort on brightness and contrast).

:func:`masked_patch_errors` is the same error in pixel units for any prediction of the whole
image (a model's reconstruction, or a no-learning fill such as interpolation), so that they
compare directly.
"""

from __future__ import annotations

import numpy as np
import torch

from ssl_core.masking import patchify

__all__ = ["mae_loss", "masked_patch_errors", "normalize_patches", "per_patch_error"]


def normalize_patches(patches: torch.Tensor, *, eps: float = 1e-6) -> torch.Tensor:
    """Each patch minus its mean over sqrt(its variance + eps): (..., P) -> (..., P).

    The variance is the unbiased one (torch's default), as in MAE; a patch needs P >= 2 values.
    """
    if patches.shape[-1] < 2:
        raise ValueError(
            f"norm_pix needs at least 2 values per patch to take a variance; got patch vectors "
            f"of length {patches.shape[-1]} (use norm_pix=False or larger patches)"
        )
    mean = patches.mean(dim=-1, keepdim=True)  # (..., 1)
    var = patches.var(dim=-1, keepdim=True)  # (..., 1), unbiased as in MAE
    return (patches - mean) / (var + eps).sqrt()


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.ndim != 3 or pred.shape != target.shape:
        raise ValueError(
            "pred and target must both have shape (B, L, P) (patchify the images for the "
            f"target); got {tuple(pred.shape)} and {tuple(target.shape)}"
        )


def per_patch_error(
    pred: torch.Tensor, target: torch.Tensor, *, norm_pix: bool = False, eps: float = 1e-6
) -> torch.Tensor:
    """Mean squared error of each patch: (B, L, P), (B, L, P) -> (B, L), for the error heat map.

    With ``norm_pix`` the target patches are normalised first (``normalize_patches``).
    """
    _check_pair(pred, target)
    if norm_pix:
        target = normalize_patches(target, eps=eps)
    return ((pred - target) ** 2).mean(dim=-1)  # (B, L)


def mae_loss(
    pred: torch.Tensor,
    target_patches: torch.Tensor,
    mask: torch.Tensor,
    *,
    norm_pix: bool = False,
    eps: float = 1e-6,
) -> torch.Tensor:
    """MAE loss: per-patch MSE averaged over masked patches only. -> scalar.

    pred, target_patches: (B, L, P) (decoder output and ``patchify(images, p)``).
    mask: (B, L), 1 / True = masked (``MaskResult.mask``); visible patches do not count.
    A mask with no masked patch raises ValueError (the average would be 0 / 0). Checking it
    reads one number back from the device.
    """
    _check_pair(pred, target_patches)
    if mask.shape != pred.shape[:2]:
        raise ValueError(
            f"mask must have shape (B, L) = {tuple(pred.shape[:2])}; got {tuple(mask.shape)}"
        )
    weights = mask.to(pred.dtype)  # (B, L)
    total = weights.sum()
    if not bool(total > 0):
        raise ValueError(
            "mask has no masked patch (mask.sum() == 0): the MAE loss is averaged over masked "
            "patches only; check the convention (1 = masked) and mask_ratio"
        )
    error = per_patch_error(pred, target_patches, norm_pix=norm_pix, eps=eps)  # (B, L)
    return (error * weights).sum() / total


def masked_patch_errors(
    prediction: torch.Tensor, images: torch.Tensor, mask: torch.Tensor | np.ndarray,
    *, patch_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-patch pixel MSE and its mean over the masked patches.

    prediction, images: ``(B, C, H, W)`` in the same units; mask: ``(L,)`` (shared) or
    ``(B, L)``, True = masked. Returns ``(per_patch (B, L), masked_mse (B,))``: MAE's loss in
    pixel units, so a learned reconstruction and the interpolation baseline compare directly.
    """
    errors = per_patch_error(patchify(prediction, patch_size), patchify(images, patch_size))
    m = torch.as_tensor(mask, device=errors.device).bool().expand_as(errors)  # (B, L)
    counts = m.sum(dim=1)  # (B,)
    if bool((counts == 0).any()):
        raise ValueError("the mask hides no patch: the masked-patch MSE is undefined")
    return errors, (errors * m).sum(dim=1) / counts  # (B, L), (B,)
