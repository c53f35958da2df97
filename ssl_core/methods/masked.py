"""What the masked-image methods share (MAE with a ViT, UNet-MAE with a conv net): the
training step and the display reconstruction, written once in :class:`MaskedImageMethod`, and
the :class:`Reconstruction` both return.

A method differs only in how it predicts the patches under a mask (:meth:`predict`) and in
which images it accepts (:meth:`patch_grid`):

    patchify -> random mask per sample -> predict(images, masks) -> loss on the masked patches

:meth:`~MaskedImageMethod.reconstruct` runs the same stages under a seeded mask of any kind
("random", "block", "grid"), shared by the batch, so two models can be compared under one mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ssl_core.losses.mae import mae_loss, per_patch_error
from ssl_core.masking import (
    MASK_KINDS,
    MaskResult,
    make_mask,
    mask_to_image,
    patchify,
    random_masking,
    unpatchify,
)
from ssl_core.methods.base import MethodBase

__all__ = [
    "NORM_PIX_EPS",
    "MaskedImageMethod",
    "Reconstruction",
    "build_reconstruction",
    "reconstruction_mask",
    "split_images",
]

# Added to the variance before the square root when patches are normalised, as mae_loss does.
NORM_PIX_EPS = 1e-6


def split_images(batch: Any, *, method: str = "MAE") -> Tensor:
    """The image batch ``(B, C, H, W)`` float of a batch ``x``, ``(x, y)`` or ``[x, y]``, where
    ``y`` is a (B,) labels tensor (ignored)."""
    if (
        isinstance(batch, Sequence)
        and len(batch) == 2
        and isinstance(batch[1], Tensor)
        and batch[1].ndim <= 1
    ):
        batch = batch[0]  # (x, y): labels dropped
    if not isinstance(batch, Tensor) or batch.ndim != 4 or not batch.is_floating_point():
        got = (
            f"{batch.dtype} tensor of shape {tuple(batch.shape)}"
            if isinstance(batch, Tensor)
            else type(batch).__name__
        )
        raise ValueError(
            f"a {method} batch is a float image tensor (B, C, H, W), optionally with labels as "
            f"(x, y); got {got}"
        )
    return batch


@dataclass(frozen=True, eq=False)
class Reconstruction:
    """What a masked model makes of a batch under one mask. Tensors detached, on the input device.

    Images are ``(B, C, H, W)`` in the input's units; masks and errors are per patch, in raster
    order over the ``grid`` of ``patch_size`` patches.
    """

    images: Tensor  # (B, C, H, W) the input
    masked_input: Tensor  # (B, C, H, W) the input with masked patches blanked to 0
    reconstruction: Tensor  # (B, C, H, W) the model's prediction of every patch, in pixel units
    reconstruction_pasted: Tensor  # (B, C, H, W) visible patches from the input, masked predicted
    mask: Tensor  # (B, L) bool, True = masked
    per_patch_error: Tensor  # (B, L) MSE per patch, in the loss's units (see norm_pix)
    masked_mse: Tensor  # (B,) mean of per_patch_error over each image's masked patches: its loss
    patch_size: int
    grid: tuple[int, int]  # (h, w) patches
    norm_pix: bool  # errors are on per-patch normalised targets; reconstructions de-normalised

    def mask_image(self) -> Tensor:
        """The mask per pixel, ``(B, H, W)`` bool, for overlays."""
        return mask_to_image(self.mask, self.patch_size, self.grid)


def reconstruction_mask(
    batch_size: int,
    grid: tuple[int, int],
    *,
    mask_ratio: float,
    seed: int,
    mask_kind: str,
    mask: Tensor | np.ndarray | None,
    device: torch.device | str | None,
) -> MaskResult:
    """The display mask: ``mask`` if given ((L,) or (B, L) bool, True = masked), else
    ``make_mask(mask_kind, *grid, mask_ratio, seed=seed)``. A single (L,) mask is shared by the
    whole batch, so images (and models) can be compared under the same mask."""
    length = grid[0] * grid[1]
    if mask is None:
        if mask_kind not in MASK_KINDS:
            raise ValueError(
                f"unknown mask_kind {mask_kind!r}; choose one of {', '.join(MASK_KINDS)}"
            )
        mask = make_mask(mask_kind, grid[0], grid[1], mask_ratio, seed=seed)  # (L,) bool
    m = torch.as_tensor(mask, device=device)
    if m.shape not in ((length,), (batch_size, length)):
        raise ValueError(
            f"mask must have shape ({length},) or ({batch_size}, {length}) for a {grid[0]}x"
            f"{grid[1]} patch grid and batch {batch_size}; got {tuple(m.shape)}"
        )
    m = m.bool().expand(batch_size, length)  # (B, L)
    return MaskResult.from_bool(m, device=device)


def build_reconstruction(
    images: Tensor,
    pred: Tensor,
    masks: MaskResult,
    *,
    patch_size: int,
    norm_pix: bool,
) -> Reconstruction:
    """Assemble a :class:`Reconstruction` from images ``(B, C, H, W)``, per-patch predictions
    ``pred: (B, L, p*p*C)`` (in the loss's units) and the mask.

    With ``norm_pix`` the predictions are normalised patches; they are de-normalised with the
    TRUE per-patch mean and variance of the target image (``pred * sqrt(var + eps) + mean``), as
    MAE's visualisation does. That borrows each masked patch's brightness and contrast from the
    very pixels the model did not see: a norm_pix reconstruction shows structure, not tone.
    """
    images = images.detach()
    pred = pred.detach()
    grid = (images.shape[-2] // patch_size, images.shape[-1] // patch_size)
    target = patchify(images, patch_size)  # (B, L, P)
    error = per_patch_error(pred, target, norm_pix=norm_pix, eps=NORM_PIX_EPS)  # (B, L)
    pixels = pred
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)  # (B, L, 1)
        var = target.var(dim=-1, keepdim=True)  # (B, L, 1), unbiased as normalize_patches
        pixels = pred * (var + NORM_PIX_EPS).sqrt() + mean  # (B, L, P)
    mask = masks.mask.to(images.device)  # (B, L) float, 1 = masked
    keep = (1.0 - mask).unsqueeze(-1)  # (B, L, 1)
    pasted = target * keep + pixels * (1.0 - keep)  # (B, L, P)

    def to_image(patches: Tensor) -> Tensor:
        return unpatchify(patches, patch_size=patch_size, grid=grid)  # (B, C, H, W)

    return Reconstruction(
        images=images,
        masked_input=to_image(target * keep),
        reconstruction=to_image(pixels),
        reconstruction_pasted=to_image(pasted),
        mask=mask.bool(),
        per_patch_error=error,
        masked_mse=(error * mask).sum(dim=1) / mask.sum(dim=1),  # (B,)
        patch_size=patch_size,
        grid=grid,
        norm_pix=norm_pix,
    )


# --------------------------------------------------------------------------------------------
# The shared method
# --------------------------------------------------------------------------------------------


class MaskedImageMethod(MethodBase):
    """A method that hides patches and learns to predict them: the training step and the display
    reconstruction. Subclasses set ``label`` (for messages), ``patch_size`` and ``config`` (with
    ``mask_ratio`` and ``norm_pix``) and implement :meth:`patch_grid` and :meth:`predict`."""

    label: ClassVar[str]
    patch_size: int
    config: Any

    def patch_grid(self, images: Tensor) -> tuple[int, int]:
        """The ``(h, w)`` patch grid of ``images: (B, C, H, W)``; ValueError for images this
        method cannot take."""
        raise NotImplementedError

    def predict(self, images: Tensor, masks: MaskResult) -> Tensor:
        """Per-patch predictions ``(B, L, p*p*C)`` for ``images`` under ``masks`` (in the loss's
        units: normalised patches when ``norm_pix``)."""
        raise NotImplementedError

    def patchify(self, images: Tensor) -> Tensor:
        """Targets: ``(B, C, H, W) -> (B, L, p*p*C)``."""
        return patchify(images, self.patch_size)

    def random_mask(
        self,
        batch_size: int,
        grid: tuple[int, int],
        *,
        generator: torch.Generator | None = None,
        device: Any = None,
    ) -> MaskResult:
        """A fresh random mask per sample at ``config.mask_ratio`` (global RNG by default)."""
        return random_masking(
            batch_size, grid[0] * grid[1], self.config.mask_ratio, generator=generator,
            device=device,
        )

    def loss(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """MSE on masked patches only: ``(B, L, P), (B, L, P), (B, L) -> scalar``."""
        return mae_loss(pred, target, mask, norm_pix=self.config.norm_pix, eps=NORM_PIX_EPS)

    def training_step(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """One step on ``x`` or ``(x, y)``: the masked-patch MSE and ``{"loss": ...}``."""
        images = split_images(batch, method=self.label)
        grid = self.patch_grid(images)
        target = self.patchify(images)  # (B, L, P)
        masks = self.random_mask(images.shape[0], grid, device=images.device)
        pred = self.predict(images, masks)  # (B, L, P)
        loss = self.loss(pred, target, masks.mask)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def reconstruct(
        self,
        images: Tensor,
        mask_ratio: float | None = None,
        seed: int = 0,
        *,
        mask_kind: str = "random",
        mask: Tensor | np.ndarray | None = None,
    ) -> Reconstruction:
        """Mask and predict ``images: (B, C, H, W)``; return a :class:`Reconstruction`.

        The mask is ``make_mask(mask_kind, h, w, mask_ratio, seed=seed)`` (``mask_ratio`` defaults
        to ``config.mask_ratio``), the same for every image, deterministic per seed; or pass
        ``mask`` ((L,) or (B, L) bool, True = masked) to choose it. The model is used in its
        current mode: call ``.eval()`` first (drop-path makes train mode random). No gradients.
        """
        grid = self.patch_grid(images)
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        masks = reconstruction_mask(
            images.shape[0],
            grid,
            mask_ratio=ratio,
            seed=seed,
            mask_kind=mask_kind,
            mask=mask,
            device=images.device,
        )
        pred = self.predict(images, masks)  # (B, L, P)
        return build_reconstruction(
            images, pred, masks, patch_size=self.patch_size, norm_pix=self.config.norm_pix
        )
