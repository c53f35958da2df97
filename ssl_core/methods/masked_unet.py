"""Masked-patch reconstruction with a conv backbone (the lesson's hard exercise): UNet-MAE.

A convolution cannot drop tokens the way MAE's ViT encoder does, so the masked patches are blanked
(set to 0) at the input instead, and the network (``TinyUNet``) paints the whole image back:

    patchify -> mask (random per sample) -> blank the masked patches -> UNet(blanked image)
    -> loss(masked patches only)

The loss is MAE's (``mae_loss``): visible patches, which the network could copy through its skip
connections, earn nothing. :meth:`UNetMAE.reconstruct` has the same API and returns the same
:class:`~ssl_core.methods.mae.Reconstruction` as ``MAE.reconstruct``, so the MAE page can show
both models under the same mask.

Differences from MAE worth saying out loud: the network sees the mask only as zeros, so on
Fashion-MNIST a masked patch looks like background and the context must tell them apart; and the
encoder does the full cost of every pixel (no 4x saving from dropping 75% of the tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ssl_core.losses.mae import mae_loss
from ssl_core.masking import MaskResult, mask_to_image, patchify, random_masking
from ssl_core.methods.base import MethodBase
from ssl_core.methods.mae import (
    NORM_PIX_EPS,
    Reconstruction,
    build_reconstruction,
    reconstruction_mask,
    split_images,
)

__all__ = ["UNetMAE", "UNetMAEConfig"]


@dataclass(frozen=True)
class UNetMAEConfig:
    """UNet-MAE's settings. Defaults match MAE's on 28 px Fashion-MNIST (7x7 patches of 4 px)."""

    mask_ratio: float = 0.75  # as MAE; lower (0.5) is easier for a conv net with small context
    patch_size: int = 4  # masking granularity; H and W must be multiples of it
    # Per-patch normalised targets, as MAEConfig.norm_pix (False: raw pixels, viewable as is).
    norm_pix: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.mask_ratio, bool) or not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(
                f"mask_ratio must be in (0, 1), the fraction of patches hidden; got "
                f"{self.mask_ratio!r}"
            )
        if isinstance(self.patch_size, bool) or not isinstance(self.patch_size, int):
            raise ValueError(f"patch_size must be a positive int; got {self.patch_size!r}")
        if self.patch_size < 1:
            raise ValueError(f"patch_size must be a positive int; got {self.patch_size}")


class UNetMAE(MethodBase):
    """Masked-patch reconstruction with a conv encoder-decoder (``TinyUNet``).

    The backbone needs ``forward(x) -> (B, C, H, W)`` (the reconstruction), ``forward_features``
    and ``in_chans``. ``training_step(x) -> (loss, {"loss"})`` with a fresh random mask per
    sample from torch's global RNG. ``encoder`` is the UNet, whose ``forward_features``
    average-pools the bottleneck for probing.
    """

    name: ClassVar[str] = "unet_mae"

    def __init__(self, backbone: nn.Module, config: UNetMAEConfig | None = None) -> None:
        super().__init__()
        missing = [a for a in ("forward_features", "in_chans") if not hasattr(backbone, a)]
        if missing or hasattr(backbone, "forward_tokens"):
            raise ValueError(
                "unet_mae needs a conv encoder-decoder whose forward returns the reconstruction "
                f"(a unet_* backbone); got {type(backbone).__name__}. Use mae for a ViT"
            )
        self.config = config if config is not None else UNetMAEConfig()
        self.backbone = backbone
        self.patch_size = self.config.patch_size

    @property
    def encoder(self) -> nn.Module:
        """The module to probe and embed with: the UNet (``forward_features``)."""
        return self.backbone

    def grid(self, images: Tensor) -> tuple[int, int]:
        """Patch grid ``(h, w)`` of ``images: (B, C, H, W)``; ValueError unless p divides H, W."""
        p = self.patch_size
        if images.ndim != 4 or images.shape[-2] % p or images.shape[-1] % p:
            raise ValueError(
                f"UNet-MAE masks {p}x{p} patches, so images must be (B, C, H, W) with H and W "
                f"multiples of {p}; got {tuple(images.shape)}. Crop/resize or change patch_size"
            )
        return images.shape[-2] // p, images.shape[-1] // p

    # --- the stages ---------------------------------------------------------------------------

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
            batch_size,
            grid[0] * grid[1],
            self.config.mask_ratio,
            generator=generator,
            device=device,
        )

    def blank(self, images: Tensor, mask: Tensor) -> Tensor:
        """Network input, masked patches set to 0: ``(B, C, H, W), (B, L) -> (B, C, H, W)``."""
        pixels = mask_to_image(mask, self.patch_size, self.grid(images))  # (B, H, W), 1 = masked
        return images * (1.0 - pixels.to(images.dtype)).unsqueeze(1)  # (B, C, H, W)

    def predict(self, images: Tensor, masks: MaskResult) -> Tensor:
        """Blank, then reconstruct: per-patch predictions ``(B, L, p*p*C)`` (loss units)."""
        out = self.backbone(self.blank(images, masks.mask))  # (B, C, H, W)
        return self.patchify(out)  # (B, L, P)

    def loss(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """MSE on masked patches only: ``(B, L, P), (B, L, P), (B, L) -> scalar``."""
        return mae_loss(pred, target, mask, norm_pix=self.config.norm_pix, eps=NORM_PIX_EPS)

    # --- training -----------------------------------------------------------------------------

    def training_step(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """One step on ``x`` or ``(x, y)``: the masked-patch MSE and ``{"loss": ...}``."""
        images = split_images(batch, method="UNet-MAE")
        grid = self.grid(images)
        target = self.patchify(images)  # (B, L, P)
        masks = self.random_mask(images.shape[0], grid, device=images.device)
        pred = self.predict(images, masks)  # (B, L, P)
        loss = self.loss(pred, target, masks.mask)
        return loss, {"loss": loss.item()}





    # --- display ------------------------------------------------------------------------------

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
        """As ``MAE.reconstruct``: a seeded mask of ``mask_kind`` (or ``mask``), shared by the
        batch; returns a :class:`~ssl_core.methods.mae.Reconstruction`. Here ``reconstruction``
        is the network's whole output image (de-normalised per patch when ``norm_pix``)."""
        grid = self.grid(images)
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
