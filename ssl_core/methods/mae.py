"""MAE (He et al. 2022): masked autoencoders, a ViT encoder on the visible patches only.

The pipeline is a chain of named stages (each a method below):

    patchify -> mask (random per sample) -> encode(visible patches only)
    -> decode(visible tokens + mask tokens, with the decoder's own positions) -> loss(masked only)

The encoder is the ViT backbone and never sees mask tokens: only CLS and the ``L_keep`` visible
patch tokens go through its blocks, which is what makes MAE cheap (4x fewer tokens at 75%). The
decoder (``MAEDecoder``) is lighter, has its own fixed sin-cos positions and a learned mask token,
and predicts every patch; the loss counts the masked ones only.

The training step and :meth:`MAE.reconstruct` (the same stages under a seeded mask of any kind,
returning a :class:`~ssl_core.methods.masked.Reconstruction`) are shared with the conv variant
``ssl_core.methods.masked_unet`` through :class:`~ssl_core.methods.masked.MaskedImageMethod`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ssl_core.masking import MaskResult
from ssl_core.methods.masked import MaskedImageMethod, Reconstruction
from ssl_core.models.heads import MAEDecoder

__all__ = ["MAE", "MAEConfig", "Reconstruction"]

@dataclass(frozen=True)
class MAEConfig:
    """MAE's settings. Defaults suit a tiny ViT on 28 px images with 4 px patches (49 tokens)."""

    mask_ratio: float = 0.75  # MAE's default; 0.75 also works on tiny grids (49 -> 12 visible)
    # Per-patch normalised targets. The MAE paper uses True (better linear probes, Table 1d).
    # False here: with 4 px grayscale patches (16 values) the near-constant background patches
    # of Fashion-MNIST are blown up to unit-variance noise, and the raw-pixel reconstructions are
    # easier to look at. Turn it on for photos and larger patches.
    norm_pix: bool = False
    decoder_dim: int = 128  # MAE: 512 for ViT-B/L; about the encoder's width for tiny encoders
    decoder_depth: int = 2  # MAE: 8; one block already works (MAE Table 1a), deeper = sharper
    decoder_heads: int = 4  # decoder_dim must divide by it (and by 4, for sin-cos positions)
    decoder_mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        if isinstance(self.mask_ratio, bool) or not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(
                f"mask_ratio must be in (0, 1), the fraction of patches hidden (MAE: 0.75); got "
                f"{self.mask_ratio!r}"
            )
        for name in ("decoder_dim", "decoder_depth", "decoder_heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if self.decoder_dim % self.decoder_heads or self.decoder_dim % 4:
            raise ValueError(
                f"decoder_dim must be divisible by decoder_heads ({self.decoder_heads}) and by 4 "
                f"(sin-cos positions); got {self.decoder_dim}"
            )
        if self.decoder_mlp_ratio <= 0:
            raise ValueError(f"decoder_mlp_ratio must be > 0; got {self.decoder_mlp_ratio}")


# --------------------------------------------------------------------------------------------
# The method
# --------------------------------------------------------------------------------------------


class MAE(MaskedImageMethod):
    """Masked autoencoder: a ViT encoder on visible patches, a light decoder, masked-only loss.

    The backbone must be a ViT with ``forward_tokens(x, ids_keep)``, ``patch_size``,
    ``grid_size``, ``in_chans`` and ``embed_dim`` (``ssl_core.models.vit.VisionTransformer``).
    Training images must have the backbone's ``img_size``: the decoder's positions are those of
    its patch grid. ``training_step(x) -> (loss, {"loss"})`` with a fresh random mask per sample
    from torch's global RNG.
    """

    name: ClassVar[str] = "mae"
    label: ClassVar[str] = "MAE"

    def __init__(self, backbone: nn.Module, config: MAEConfig | None = None) -> None:
        super().__init__()
        needed = ("forward_tokens", "patch_size", "grid_size", "in_chans", "embed_dim")
        missing = [attr for attr in needed if not hasattr(backbone, attr)]
        if missing:
            raise ValueError(
                f"MAE needs a ViT backbone (it encodes visible patch tokens only); "
                f"{type(backbone).__name__} lacks {missing}. Use a vit_* backbone, or unet_mae "
                "for a conv network"
            )
        self.config = config if config is not None else MAEConfig()
        cfg = self.config
        self.backbone = backbone
        self.patch_size: int = backbone.patch_size
        self.grid: tuple[int, int] = tuple(backbone.grid_size)  # type: ignore[assignment]
        self.decoder = MAEDecoder(
            grid_size=self.grid,
            embed_dim=backbone.embed_dim,
            patch_dim=self.patch_size**2 * backbone.in_chans,
            decoder_dim=cfg.decoder_dim,
            depth=cfg.decoder_depth,
            num_heads=cfg.decoder_heads,
            mlp_ratio=cfg.decoder_mlp_ratio,
        )

    @property
    def encoder(self) -> nn.Module:
        """The module to probe and embed with: the ViT backbone (the decoder is dropped)."""
        return self.backbone

    @property
    def num_patches(self) -> int:
        """L, patches per image."""
        return self.grid[0] * self.grid[1]

    def _check_images(self, images: Tensor) -> None:
        height, width = self.grid[0] * self.patch_size, self.grid[1] * self.patch_size
        if images.ndim != 4 or tuple(images.shape[-2:]) != (height, width):
            raise ValueError(
                f"MAE expects images (B, C, {height}, {width}) (the decoder's positions are fixed "
                f"to the {self.grid[0]}x{self.grid[1]} patch grid); got {tuple(images.shape)}. "
                "Resize or crop to the backbone's img_size"
            )

    # --- the stages ---------------------------------------------------------------------------

    def patch_grid(self, images: Tensor) -> tuple[int, int]:
        """The fixed patch grid, once ``images`` are checked to have the backbone's size."""
        self._check_images(images)
        return self.grid

    def random_mask(
        self,
        batch_size: int,
        grid: tuple[int, int] | None = None,
        *,
        generator: torch.Generator | None = None,
        device: Any = None,
    ) -> MaskResult:
        """A fresh random mask per sample at ``config.mask_ratio`` over the backbone's grid."""
        return super().random_mask(
            batch_size, self.grid if grid is None else grid, generator=generator, device=device
        )

    def encode(self, images: Tensor, ids_keep: Tensor) -> Tensor:
        """Encoder on visible patches only: ``(B, C, H, W), (B, L_keep) -> (B, 1 + L_keep, D)``."""
        return self.backbone.forward_tokens(images, ids_keep=ids_keep)

    def decode(self, tokens: Tensor, ids_restore: Tensor) -> Tensor:
        """Decoder with mask tokens: ``(B, 1 + L_keep, D), (B, L) -> (B, L, p*p*C)``."""
        return self.decoder(tokens, ids_restore)

    def predict(self, images: Tensor, masks: MaskResult) -> Tensor:
        """encode then decode: per-patch predictions ``(B, L, p*p*C)`` for ``images`` under
        ``masks`` (in the loss's units: normalised patches when ``norm_pix``)."""
        self._check_images(images)
        tokens = self.encode(images, masks.ids_keep)  # (B, 1 + L_keep, D)
        return self.decode(tokens, masks.ids_restore)  # (B, L, P)
