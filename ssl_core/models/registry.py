"""Named backbones: build an encoder from a name plus overrides, and get back its config.

A named factory is a function returning a frozen config (:class:`ViTConfig`,
:class:`ResNetConfig` or :class:`UNetConfig`), registered with ``@register_backbone(name)``.
``build_backbone(name, **overrides)`` replaces fields of that config and builds the model;
``backbone_config(name, **overrides)`` returns the same resolved config as a JSON-ready dict, so a
checkpoint can store ``(name, config)`` and ``build_backbone(name, **config)`` rebuilds it exactly.

Sizes were chosen for CPU training on 28 px Fashion-MNIST and 64 px photo crops; each factory's
docstring gives its shape and parameter count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from ssl_core.models.cnn import ResNetConfig
from ssl_core.models.unet import UNetConfig
from ssl_core.models.vit import ViTConfig

__all__ = [
    "BackboneConfig",
    "backbone_config",
    "build_backbone",
    "list_backbones",
    "register_backbone",
    "resolve_config",
]

BackboneConfig = ViTConfig | ResNetConfig | UNetConfig
Factory = TypeVar("Factory", bound=Callable[[], BackboneConfig])

_FACTORIES: dict[str, Callable[[], BackboneConfig]] = {}


def register_backbone(name: str) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory() -> config`` under ``name`` (names are unique)."""

    def decorator(factory: Factory) -> Factory:
        if name in _FACTORIES:
            raise ValueError(f"backbone {name!r} is already registered; pick another name")
        _FACTORIES[name] = factory
        return factory

    return decorator


def list_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(_FACTORIES)


def resolve_config(name: str, **overrides: Any) -> BackboneConfig:
    """The named factory's config with ``overrides`` applied (validated by the config)."""
    if name not in _FACTORIES:
        known = ", ".join(list_backbones())
        raise ValueError(f"unknown backbone {name!r}; known backbones: {known}")
    base = _FACTORIES[name]()
    fields = sorted(f.name for f in dataclasses.fields(base))
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"backbone {name!r} has no option(s) {unknown}; valid overrides: {', '.join(fields)}"
        )
    return dataclasses.replace(base, **overrides)


def backbone_config(name: str, **overrides: Any) -> dict[str, Any]:
    """Resolved config of ``name`` as a JSON-serialisable dict (tuples become lists).

    ``build_backbone(name, **backbone_config(name, **overrides))`` rebuilds the same architecture.
    """
    cfg = resolve_config(name, **overrides)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def build_backbone(name: str, **overrides: Any) -> nn.Module:
    """Build the named backbone, e.g. ``build_backbone("vit_tiny_p4_28", in_chans=3)``.

    Unknown names and unknown override keys raise ``ValueError`` listing what is valid.
    """
    return resolve_config(name, **overrides).build()


# --- Vision Transformers ---------------------------------------------------------------------


@register_backbone("vit_tiny_p4_28")
def vit_tiny_p4_28() -> ViTConfig:
    """28x28 gray, 4 px patches (7x7 = 49 tokens), D=128, 4 blocks, 4 heads; ~0.8M params."""
    return ViTConfig(img_size=28, patch_size=4, in_chans=1, embed_dim=128, depth=4, num_heads=4)


@register_backbone("vit_small_p4_28")
def vit_small_p4_28() -> ViTConfig:
    """28x28 gray, 4 px patches, D=192, 6 blocks, 3 heads; ~2.7M params, ~3x the tiny's cost."""
    return ViTConfig(img_size=28, patch_size=4, in_chans=1, embed_dim=192, depth=6, num_heads=3)


@register_backbone("vit_tiny_p8_64")
def vit_tiny_p8_64() -> ViTConfig:
    """64x64 RGB photo crops, 8 px patches (8x8 = 64 tokens), D=128, 4 blocks; ~0.8M params."""
    return ViTConfig(img_size=64, patch_size=8, in_chans=3, embed_dim=128, depth=4, num_heads=4)


@register_backbone("vit_tiny_p16_224")
def vit_tiny_p16_224() -> ViTConfig:
    """timm's ViT-Ti/16 shape: 224 px RGB, 16 px patches, D=192, 12 blocks, 3 heads; ~5.5M params.

    For pretraining on real images with a GPU; far too slow for live CPU training.
    """
    return ViTConfig(img_size=224, patch_size=16, in_chans=3, embed_dim=192, depth=12, num_heads=3)


# --- CNNs ------------------------------------------------------------------------------------


@register_backbone("cnn_small_28")
def cnn_small_28() -> ResNetConfig:
    """28x28 gray, 4 stages of one BasicBlock, widths 16-128 (D=128); ~0.3M params."""
    return ResNetConfig(in_chans=1, img_size=28, widths=(16, 32, 64, 128), stem_stride=1)


@register_backbone("cnn_base_28")
def cnn_base_28() -> ResNetConfig:
    """28x28 gray, stride-2 stem, widths 32-256 (D=256), maps 14 -> 2 px; ~1.2M params.

    Wider features than ``cnn_small_28`` at less compute (the stem halves the map first): the
    bundled SimCLR and DINO encoders use it.
    """
    return ResNetConfig(in_chans=1, img_size=28, widths=(32, 64, 128, 256), stem_stride=2)


@register_backbone("cnn_small_rgb")
def cnn_small_rgb() -> ResNetConfig:
    """64x64 RGB, stride-2 stem, widths 32-256 (D=256), maps 32 -> 4 px; ~1.2M params."""
    return ResNetConfig(in_chans=3, img_size=64, widths=(32, 64, 128, 256), stem_stride=2)


# --- Conv encoder-decoders -------------------------------------------------------------------


@register_backbone("unet_tiny_28")
def unet_tiny_28() -> UNetConfig:
    """28x28 gray, 3 levels 28 -> 14 -> 7, widths 16-64 (D=64); ~0.12M params."""
    return UNetConfig(in_chans=1, img_size=28, widths=(16, 32, 64))


@register_backbone("unet_tiny_rgb")
def unet_tiny_rgb() -> UNetConfig:
    """64x64 RGB, 4 levels 64 -> 8, widths 16-128 (D=128); ~0.5M params."""
    return UNetConfig(in_chans=3, img_size=64, widths=(16, 32, 64, 128))
