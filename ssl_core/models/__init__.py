"""Backbones and heads for self-supervised pretraining.

Every backbone follows one contract, :class:`Encoder`, which probing, kNN, retrieval and
projections rely on (and which the transformers adapters follow too):

- ``embed_dim: int`` (D), ``in_chans: int``, ``img_size: tuple[int, int]`` (nominal (H, W));
- ``forward_features(x: (B, C, H, W) float) -> (B, D)``: one embedding per image.

For the encoders (:class:`VisionTransformer`, :class:`ResNet`) ``forward`` is
``forward_features``; :class:`TinyUNet`'s ``forward`` returns the reconstruction instead.
Where a model has patch tokens it says so with more methods: the ViT has
``forward_tokens(x, ids_keep=None) -> (B, 1 + L', D)``, ``patch_tokens(x) -> (B, L, D)`` and
``get_last_selfattention(x) -> (B, heads, 1 + L, 1 + L)``; the ResNet has
``feature_map(x) -> (B, D, h, w)``.

Named sizes live in :mod:`ssl_core.models.registry`: ``build_backbone("vit_tiny_p4_28")``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from ssl_core.models.cnn import ResNet, ResNetConfig
from ssl_core.models.heads import DINOHead, MAEDecoder, ProjectionHead
from ssl_core.models.registry import (
    backbone_config,
    build_backbone,
    list_backbones,
    register_backbone,
)
from ssl_core.models.unet import TinyUNet, UNetConfig
from ssl_core.models.vit import VisionTransformer, ViTConfig

__all__ = [
    "DINOHead",
    "Encoder",
    "MAEDecoder",
    "ProjectionHead",
    "ResNet",
    "ResNetConfig",
    "TinyUNet",
    "UNetConfig",
    "ViTConfig",
    "VisionTransformer",
    "backbone_config",
    "build_backbone",
    "list_backbones",
    "register_backbone",
]


@runtime_checkable
class Encoder(Protocol):
    """What every backbone offers. ``isinstance(m, Encoder)`` checks the names only."""

    embed_dim: int  # D, the width of forward_features' output
    in_chans: int  # channels the model expects
    img_size: tuple[int, int]  # nominal (H, W) it was built for

    def forward_features(self, x: Tensor) -> Tensor:
        """``x: (B, in_chans, H, W)`` float -> ``(B, embed_dim)``."""
        ...
