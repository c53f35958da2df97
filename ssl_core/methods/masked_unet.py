"""Masked-patch reconstruction with a conv backbone: UNet-MAE.

A convolution cannot drop tokens the way MAE's ViT encoder does, so the masked patches are blanked
(set to 0) at the input instead, and the network (``TinyUNet``) paints the whole image back:

    patchify -> mask (random per sample) -> blank the masked patches -> UNet(blanked image)
    -> loss(masked patches only)

The loss is MAE's (``mae_loss``): visible patches, which the network could copy through its skip
connections, earn nothing. The training step and :meth:`UNetMAE.reconstruct` are MAE's
(:class:`~ssl_core.methods.masked.MaskedImageMethod`), so both models can be shown under the
same mask.

Differences from MAE worth saying out loud: the network sees the mask only as zeros, so on
Fashion-MNIST a masked patch looks like background and the context must tell them apart; and the
encoder does the full cost of every pixel (no 4x saving from dropping 75% of the tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from ssl_core.masking import MaskResult, mask_to_image
from ssl_core.methods.masked import MaskedImageMethod

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


class UNetMAE(MaskedImageMethod):
    """Masked-patch reconstruction with a conv encoder-decoder (``TinyUNet``).

    The backbone needs ``forward(x) -> (B, C, H, W)`` (the reconstruction), ``forward_features``
    and ``in_chans``. ``training_step(x) -> (loss, {"loss"})`` with a fresh random mask per
    sample from torch's global RNG. ``encoder`` is the UNet, whose ``forward_features``
    average-pools the bottleneck for probing.
    """

    name: ClassVar[str] = "unet_mae"
    label: ClassVar[str] = "UNet-MAE"

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

    def patch_grid(self, images: Tensor) -> tuple[int, int]:
        """Patch grid ``(h, w)`` of ``images: (B, C, H, W)``; ValueError unless p divides H, W."""
        p = self.patch_size
        if images.ndim != 4 or images.shape[-2] % p or images.shape[-1] % p:
            raise ValueError(
                f"UNet-MAE masks {p}x{p} patches, so images must be (B, C, H, W) with H and W "
                f"multiples of {p}; got {tuple(images.shape)}. Crop/resize or change patch_size"
            )
        return images.shape[-2] // p, images.shape[-1] // p

    # --- the stages ---------------------------------------------------------------------------

    def blank(self, images: Tensor, mask: Tensor) -> Tensor:
        """Network input, masked patches set to 0: ``(B, C, H, W), (B, L) -> (B, C, H, W)``."""
        grid = self.patch_grid(images)
        pixels = mask_to_image(mask, self.patch_size, grid)  # (B, H, W), 1 = masked
        return images * (1.0 - pixels.to(images.dtype)).unsqueeze(1)  # (B, C, H, W)

    def predict(self, images: Tensor, masks: MaskResult) -> Tensor:
        """Blank, then reconstruct: per-patch predictions ``(B, L, p*p*C)`` (loss units)."""
        out = self.backbone(self.blank(images, masks.mask))  # (B, C, H, W)
        return self.patchify(out)  # (B, L, P)
