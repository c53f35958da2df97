"""ViT-MAE's reconstruction of images under a seeded random mask (:func:`mae_reconstruct`): the
masked input, the decoder's prediction and the per-patch error in the model's loss space.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssl_core.models.hf.encoder import HFEncoder, mae_mask_ratio

__all__ = ["mae_reconstruct"]

# Grey of the masked patches in ``mae_reconstruct``'s masked input, as in the MAE paper's figures.
_MASK_FILL = 0.5


def _visible_count(num_patches: int, mask_ratio: float) -> int:
    """Patches ViT-MAE keeps: ``int(L * (1 - mask_ratio))``, its own rounding."""
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1); got {mask_ratio}")
    keep = int(num_patches * (1 - mask_ratio))
    if keep < 1:
        raise ValueError(
            f"mask_ratio must leave at least one visible patch; got {mask_ratio} for "
            f"{num_patches} patches"
        )
    if keep == num_patches:
        raise ValueError(
            f"mask_ratio {mask_ratio} masks no patch of {num_patches}; use at least "
            f"{1 / num_patches:.3g}"
        )
    return keep


@torch.no_grad()
def mae_reconstruct(
    model_or_encoder: nn.Module,
    images: Tensor,
    *,
    mask_ratio: float = 0.75,
    seed: int = 0,
) -> dict[str, Tensor]:
    """ViT-MAE's reconstruction of ``images`` with a seeded random mask.

    ``model_or_encoder``: an :class:`HFEncoder` loaded from a checkpoint with the decoder
    (``facebook/vit-mae-base``), or a transformers ``ViTMAEForPreTraining`` (then wrapped with the
    default preprocessing). ``images: (B, 1 or C, H, W)`` in [0, 1], resized to the encoder's size.

    The model keeps ``int(L * (1 - mask_ratio))`` patches and masks the rest (12 of 16 at 0.75);
    which ones comes from ``seed`` alone, so the same seed gives the same mask for every image size
    and device. Returns, with ``(h, w)`` the encoder's image size and ``L`` its patch count:

    - ``masked_input: (B, C, h, w)`` in [0, 1]: the input with masked patches grey.
    - ``reconstruction: (B, C, h, w)`` in [0, 1] (clamped): the decoder's prediction everywhere.
    - ``reconstruction_with_visible: (B, C, h, w)``: the input where visible, the prediction where
      masked (the MAE paper's figures).
    - ``mask: (B, L)`` bool, True where masked, patches in raster order.
    - ``per_patch_error: (B, L)``: mean squared error of each patch in the model's loss space
      (normalised pixels; per-patch normalised too when ``norm_pix_loss``). Its mean over masked
      patches is ``loss``, the model's own training loss for this mask.

    With ``norm_pix_loss`` (the config flag of MAE's best checkpoints) the decoder predicts each
    patch normalised to zero mean and unit variance, so its raw output has no brightness or
    contrast. For display we de-normalise each predicted patch with the TRUE mean and std of that
    patch of the input, as MAE's own visualisations do: the masked patches then show the model's
    predicted structure, but their average colour and contrast come from the hidden image (one
    could use the visible patches' statistics instead, which leaks nothing and looks blotchier).
    """
    encoder = (
        model_or_encoder if isinstance(model_or_encoder, HFEncoder) else HFEncoder(model_or_encoder)
    )
    if not encoder.has_decoder:
        raise ValueError(
            f"mae_reconstruct needs a ViT-MAE saved with its decoder (ViTMAEForPreTraining, e.g. "
            f"facebook/vit-mae-base); {encoder.source!r} is a {type(encoder.model).__name__}"
        )
    model = encoder.model
    _visible_count(encoder.num_patches, mask_ratio)  # validates before any work

    pixels = encoder.to_model_pixels(images)  # (B, C, h, w) in [0, 1]
    pixel_values = encoder.normalize(pixels)  # (B, C, h, w)
    batch = pixels.shape[0]
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(batch, encoder.num_patches, generator=generator)  # (B, L), on the CPU
    with mae_mask_ratio(encoder.backbone, mask_ratio):
        out = model(
            pixel_values,
            noise=noise.to(encoder.device),
            interpolate_pos_encoding=encoder.interpolate_pos_encoding,
        )
    mask = out.mask.bool()  # (B, L), True = masked; L - keep per row

    target = model.patchify(pixel_values, interpolate_pos_encoding=encoder.interpolate_pos_encoding)
    prediction = out.logits  # (B, L, p*p*C) in the loss space
    if model.config.norm_pix_loss:
        patch_mean = target.mean(dim=-1, keepdim=True)  # (B, L, 1)
        patch_std = (target.var(dim=-1, keepdim=True) + 1.0e-6) ** 0.5  # (B, L, 1), as the loss
        per_patch_error = ((prediction - (target - patch_mean) / patch_std) ** 2).mean(dim=-1)
        prediction = prediction * patch_std + patch_mean  # (B, L, p*p*C) normalised pixels
    else:
        per_patch_error = ((prediction - target) ** 2).mean(dim=-1)  # (B, L)

    size = encoder.image_size
    reconstruction = encoder.denormalize(model.unpatchify(prediction, size)).clamp(0, 1)
    patch_values = model.config.patch_size**2 * model.config.num_channels
    mask_image = model.unpatchify(mask[..., None].expand(-1, -1, patch_values).to(pixels), size)
    # mask_image: (B, C, h, w), 1 on masked pixels
    return {
        "masked_input": pixels * (1 - mask_image) + _MASK_FILL * mask_image,
        "reconstruction": reconstruction,
        "reconstruction_with_visible": pixels * (1 - mask_image) + reconstruction * mask_image,
        "mask": mask,
        "per_patch_error": per_patch_error,
        "loss": out.loss,
    }
