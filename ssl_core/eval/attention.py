"""DINO-style attention maps: where a ViT's CLS token looks, per head and on average.

For any encoder with ``get_last_selfattention(x) -> (B, heads, 1 + L, 1 + L)`` and
``input_grid(x) -> (gh, gw)`` (our :class:`~ssl_core.models.vit.VisionTransformer` and the
transformers adapters in :mod:`ssl_core.models.hf`):

- :func:`cls_attention` picks the CLS query's row of the last layer's attention and lays its patch
  keys out on the patch grid: ``(B, heads, gh, gw)``; :func:`attention_maps` runs the encoder and
  returns the per-head maps and their mean for one image;
- :func:`upsample` stretches a ``(..., gh, gw)`` map to the image's pixels;
- :func:`mass_threshold_mask` is the DINO paper's threshold: keep the fewest highest patches that
  together hold at least a share ``keep`` of the map's mass (Caron et al. 2021, Fig. 3 uses 0.6);
- :func:`foreground_share` measures how much of the attention mass lands on given pixels (the
  pixels of an object, e.g. a garment's).

The CLS token also attends to itself (key 0); that weight is not on the grid, so a head's map sums
to ``1 - attention[CLS, CLS]``. :func:`mass_threshold_mask` and :func:`foreground_share` normalise
by the map's own total, i.e. they speak of the attention paid to patches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "AttentionMaps",
    "attention_maps",
    "cls_attention",
    "foreground_share",
    "mass_threshold_mask",
    "upsample",
]


def cls_attention(attention: Tensor, grid: tuple[int, int]) -> Tensor:
    """CLS-to-patch attention on the grid: ``(B, heads, 1 + L, 1 + L) -> (B, heads, gh, gw)``.

    ``attention[:, :, 0, 1:]`` (query CLS, keys the L = gh * gw patches in raster order).
    """
    if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(
            f"attention must be (B, heads, 1 + L, 1 + L); got {tuple(attention.shape)}"
        )
    gh, gw = grid
    if attention.shape[-1] != 1 + gh * gw:
        raise ValueError(
            f"attention has {attention.shape[-1]} tokens but the grid {gh}x{gw} needs "
            f"1 + {gh * gw}; pass the grid of the input the attention was computed on"
        )
    row = attention[:, :, 0, 1:]  # (B, heads, L)
    return row.reshape(*row.shape[:2], gh, gw)  # (B, heads, gh, gw)


@dataclass(frozen=True)
class AttentionMaps:
    """One image's CLS attention: ``heads`` ``(H, gh, gw)``, their ``mean`` ``(gh, gw)``, float32.

    ``cls_self`` ``(H,)`` is each head's weight on the CLS token itself (not on the grid);
    ``patch_size`` is in model-input pixels (the model input is ``grid * patch_size``).
    """

    heads: np.ndarray
    mean: np.ndarray
    cls_self: np.ndarray
    patch_size: int

    @property
    def grid(self) -> tuple[int, int]:
        return int(self.mean.shape[0]), int(self.mean.shape[1])


def _check_encoder(encoder: nn.Module) -> None:
    if not hasattr(encoder, "get_last_selfattention") or not hasattr(encoder, "input_grid"):
        raise ValueError(
            f"{type(encoder).__name__} has no get_last_selfattention/input_grid: attention maps "
            "need a ViT (ssl_core's VisionTransformer or a DINOv2 / ViT-MAE from "
            "ssl_core.models.hf), not a CNN"
        )


@torch.inference_mode()
def attention_maps(encoder: nn.Module, x: Tensor) -> AttentionMaps:
    """The CLS attention of the last layer for one image ``x: (1, C, H, W)`` in [0, 1]."""
    _check_encoder(encoder)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be one image (1, C, H, W); got {tuple(x.shape)}")
    grid = encoder.input_grid(x)
    device = next(encoder.parameters()).device
    attention = encoder.get_last_selfattention(x.to(device)).float()  # (1, H, 1+L, 1+L)
    heads = cls_attention(attention, grid)[0].cpu().numpy()  # (H, gh, gw)
    return AttentionMaps(
        heads=heads,
        mean=heads.mean(axis=0),
        cls_self=attention[0, :, 0, 0].cpu().numpy(),
        patch_size=int(encoder.patch_size),
    )


def upsample(maps: Tensor | np.ndarray, size: tuple[int, int], *,
             mode: str = "nearest") -> np.ndarray:
    """Resize ``(..., gh, gw)`` maps to ``(..., H, W)`` (``"nearest"``: patch blocks, as DINO
    shows them; ``"bilinear"``: smooth). Values are not rescaled."""
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"mode must be 'nearest' or 'bilinear'; got {mode!r}")
    tensor = torch.as_tensor(np.asarray(maps), dtype=torch.float32)
    if tensor.ndim < 2:
        raise ValueError(f"maps must be (..., gh, gw); got shape {tuple(tensor.shape)}")
    lead = tensor.shape[:-2]
    flat = tensor.reshape(1, -1, *tensor.shape[-2:])  # (1, N, gh, gw)
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    out = F.interpolate(flat, size=tuple(size), mode=mode, **kwargs)  # (1, N, H, W)
    return out.reshape(*lead, *size).numpy()


def mass_threshold_mask(maps: Tensor | np.ndarray, keep: float) -> np.ndarray:
    """DINO's attention threshold: per map, the fewest highest patches holding >= ``keep`` of
    its mass. ``maps: (..., gh, gw)`` non-negative -> bool ``(..., gh, gw)``.

    A patch is kept when the mass of the patches ranked above it (highest first, ties in raster
    order) is below ``keep``; ``keep = 0`` keeps none, ``keep = 1`` keeps every patch with
    attention. DINO's ``visualize_attention.py`` does the same with ``cumsum > 1 - keep`` on the
    ascending sort.
    """
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep is a share of the attention mass in [0, 1]; got {keep}")
    array = np.asarray(maps, dtype=np.float64)
    if array.ndim < 2 or (array < 0).any():
        raise ValueError(f"maps must be non-negative (..., gh, gw); got shape {array.shape}")
    flat = array.reshape(-1, array.shape[-2] * array.shape[-1])  # (N, L)
    total = flat.sum(axis=1, keepdims=True)
    share = np.divide(flat, total, out=np.zeros_like(flat), where=total > 0)  # (N, L)
    order = np.argsort(-share, axis=1, kind="stable")  # highest first
    ranked = np.take_along_axis(share, order, axis=1)  # (N, L)
    before = np.cumsum(ranked, axis=1) - ranked  # mass of the patches ranked above
    kept_ranked = (before < keep - 1e-12) & (ranked > 0)  # (N, L)
    mask = np.zeros_like(kept_ranked)
    np.put_along_axis(mask, order, kept_ranked, axis=1)
    return mask.reshape(array.shape)


def foreground_share(maps: Tensor | np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Share of each map's attention mass that falls on foreground pixels.

    ``maps: (..., gh, gw)`` non-negative, ``foreground: bool (..., H, W)`` with H = gh * ph and
    W = gw * pw (one patch covers ph x pw pixels). A patch's mass is spread evenly over its
    pixels, so a patch contributes ``mass * (foreground pixels in it) / (pixels in it)``.
    Returns ``(...,)`` in [0, 1]; NaN where a map has no mass.
    """
    array = np.asarray(maps, dtype=np.float64)
    fg = np.asarray(foreground, dtype=np.float64)
    if array.ndim < 2 or fg.ndim != array.ndim or fg.shape[:-2] != array.shape[:-2]:
        raise ValueError(
            f"maps (..., gh, gw) and foreground (..., H, W) need the same leading shape; got "
            f"{array.shape} and {fg.shape}"
        )
    gh, gw = array.shape[-2:]
    height, width = fg.shape[-2:]
    if height % gh or width % gw:
        raise ValueError(
            f"the foreground's {height}x{width} pixels must tile the {gh}x{gw} patch grid"
        )
    ph, pw = height // gh, width // gw
    blocks = fg.reshape(*fg.shape[:-2], gh, ph, gw, pw)  # (..., gh, ph, gw, pw)
    fg_fraction = blocks.mean(axis=(-3, -1))  # (..., gh, gw): foreground share of each patch
    total = array.sum(axis=(-2, -1))
    on_fg = (array * fg_fraction).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, on_fg / np.where(total > 0, total, 1.0), np.nan)
