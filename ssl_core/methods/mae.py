"""MAE (He et al. 2022): masked autoencoders, with the reconstruction view the MAE page shows.

The pipeline is a chain of named stages (each a method below):

    patchify -> mask (random per sample) -> encode(visible patches only)
    -> decode(visible tokens + mask tokens, with the decoder's own positions) -> loss(masked only)

The encoder is the ViT backbone and never sees mask tokens: only CLS and the ``L_keep`` visible
patch tokens go through its blocks, which is what makes MAE cheap (4x fewer tokens at 75%). The
decoder (``MAEDecoder``) is lighter, has its own fixed sin-cos positions and a learned mask token,
and predicts every patch; the loss counts the masked ones only.

:meth:`MAE.reconstruct` runs the same stages under a seeded mask of any kind ("random", "block",
"grid") and returns a :class:`Reconstruction` for display. :class:`Reconstruction` and the helpers
that build it are shared with the conv variant in ``ssl_core.methods.masked_unet``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

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
from ssl_core.models.heads import MAEDecoder

__all__ = [
    "MAE",
    "MAEConfig",
    "Reconstruction",
    "build_reconstruction",
    "reconstruction_mask",
    "split_images",
]

# Added to the variance before the square root when patches are normalised, as mae_loss does.
NORM_PIX_EPS = 1e-6


@dataclass(frozen=True)
class MAEConfig:
    """MAE's settings. Defaults suit a tiny ViT on 28 px images with 4 px patches (49 tokens)."""

    mask_ratio: float = 0.75  # MAE's default; 0.75 also works on tiny grids (49 -> 12 visible)
    # Per-patch normalised targets. The MAE paper uses True (better linear probes, Table 1d).
    # False here: with 4 px grayscale patches (16 values) the near-constant background patches
    # of Fashion-MNIST are blown up to unit-variance noise, and the raw-pixel reconstructions are
    # what the app shows. Turn it on for photos and larger patches.
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


# --------------------------------------------------------------------------------------------
# The reconstruction the MAE page shows (shared with masked_unet)
# --------------------------------------------------------------------------------------------


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
# The method
# --------------------------------------------------------------------------------------------


class MAE(MethodBase):
    """Masked autoencoder: a ViT encoder on visible patches, a light decoder, masked-only loss.

    The backbone must be a ViT with ``forward_tokens(x, ids_keep)``, ``patch_size``,
    ``grid_size``, ``in_chans`` and ``embed_dim`` (``ssl_core.models.vit.VisionTransformer``).
    Training images must have the backbone's ``img_size``: the decoder's positions are those of
    its patch grid. ``training_step(x) -> (loss, {"loss"})`` with a fresh random mask per sample
    from torch's global RNG.
    """

    name: ClassVar[str] = "mae"

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

    def patchify(self, images: Tensor) -> Tensor:
        """Targets: ``(B, C, H, W) -> (B, L, p*p*C)``."""
        return patchify(images, self.patch_size)

    def random_mask(
        self, batch_size: int, *, generator: torch.Generator | None = None, device: Any = None
    ) -> MaskResult:
        """A fresh random mask per sample at ``config.mask_ratio`` (global RNG by default)."""
        return random_masking(
            batch_size, self.num_patches, self.config.mask_ratio, generator=generator, device=device
        )

    def encode(self, images: Tensor, ids_keep: Tensor) -> Tensor:
        """Encoder on visible patches only: ``(B, C, H, W), (B, L_keep) -> (B, 1 + L_keep, D)``."""
        return self.backbone.forward_tokens(images, ids_keep=ids_keep)

    def decode(self, tokens: Tensor, ids_restore: Tensor) -> Tensor:
        """Decoder with mask tokens: ``(B, 1 + L_keep, D), (B, L) -> (B, L, p*p*C)``."""
        return self.decoder(tokens, ids_restore)

    def loss(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """MSE on masked patches only: ``(B, L, P), (B, L, P), (B, L) -> scalar``."""
        return mae_loss(pred, target, mask, norm_pix=self.config.norm_pix, eps=NORM_PIX_EPS)

    def predict(self, images: Tensor, masks: MaskResult) -> Tensor:
        """encode then decode: per-patch predictions ``(B, L, p*p*C)`` for ``images`` under
        ``masks`` (in the loss's units: normalised patches when ``norm_pix``)."""
        self._check_images(images)
        tokens = self.encode(images, masks.ids_keep)  # (B, 1 + L_keep, D)
        return self.decode(tokens, masks.ids_restore)  # (B, L, P)

    # --- training -----------------------------------------------------------------------------

    def training_step(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """One MAE step on ``x`` or ``(x, y)``: the masked-patch MSE and ``{"loss": ...}``."""
        images = split_images(batch, method="MAE")
        self._check_images(images)
        target = self.patchify(images)  # (B, L, P)
        masks = self.random_mask(images.shape[0], device=images.device)
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
        """Mask, encode, decode ``images: (B, C, H, W)`` and return a :class:`Reconstruction`.

        The mask is ``make_mask(mask_kind, h, w, mask_ratio, seed=seed)`` (``mask_ratio`` defaults
        to ``config.mask_ratio``), the same for every image, deterministic per seed; or pass
        ``mask`` ((L,) or (B, L) bool, True = masked) to choose it. The model is used in its
        current mode: call ``.eval()`` first (drop-path makes train mode random). No gradients.
        """
        self._check_images(images)
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        masks = reconstruction_mask(
            images.shape[0],
            self.grid,
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
