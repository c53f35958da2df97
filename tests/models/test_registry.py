"""Tests for ssl_core.models.registry: named backbones, overrides, configs, errors."""

from __future__ import annotations

import json

import pytest
import torch

from ssl_core.models import Encoder, registry
from ssl_core.models.registry import (
    backbone_config,
    build_backbone,
    list_backbones,
    register_backbone,
)
from ssl_core.models.vit import ViTConfig

REQUIRED = [
    "vit_tiny_p4_28",
    "vit_small_p4_28",
    "vit_tiny_p8_64",
    "vit_tiny_p16_224",
    "cnn_small_28",
    "cnn_small_rgb",
    "unet_tiny_28",
]
FAST = {"vit_tiny_p16_224": {"depth": 1}}  # keep the 224 px model cheap in tests


def test_required_names_are_registered():
    names = list_backbones()
    assert names == sorted(names)
    assert set(REQUIRED) <= set(names)


@pytest.mark.parametrize("name", list_backbones())
@pytest.mark.parametrize("chans", [1, 3])
def test_every_backbone_builds_and_embeds(name, chans):
    torch.manual_seed(0)
    model = build_backbone(name, in_chans=chans, **FAST.get(name, {}))
    assert isinstance(model, Encoder)
    assert model.in_chans == chans
    x = torch.randn(2, chans, *model.img_size)
    with torch.no_grad():
        feats = model.forward_features(x)
    assert feats.shape == (2, model.embed_dim)
    assert torch.isfinite(feats).all()


@pytest.mark.parametrize(
    ("name", "img_size"),
    [("vit_tiny_p4_28", (28, 20)), ("vit_tiny_p8_64", (64, 32)), ("cnn_small_28", (32, 24))],
)
def test_non_square_overrides(name, img_size):
    model = build_backbone(name, img_size=img_size)
    x = torch.randn(2, model.in_chans, *img_size)
    assert model.img_size == img_size
    assert model(x).shape == (2, model.embed_dim)


def test_unet_reconstructs_at_its_size():
    model = build_backbone("unet_tiny_28")
    x = torch.randn(2, 1, 28, 28)
    assert model(x).shape == x.shape


def test_config_is_json_and_rebuilds_the_same_model():
    cfg = backbone_config("vit_tiny_p4_28", depth=2, img_size=(28, 20), pos_embed="learned")
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg["img_size"] == [28, 20] and cfg["depth"] == 2
    torch.manual_seed(0)
    a = build_backbone("vit_tiny_p4_28", depth=2, img_size=(28, 20), pos_embed="learned")
    torch.manual_seed(0)
    b = build_backbone("vit_tiny_p4_28", **json.loads(json.dumps(cfg)))
    assert a.config == b.config
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", ["cnn_small_rgb", "unet_tiny_28"])
def test_conv_configs_round_trip(name):
    cfg = backbone_config(name)
    assert json.loads(json.dumps(cfg)) == cfg
    assert build_backbone(name, **cfg).config == build_backbone(name).config


@pytest.mark.parametrize("name", ["vit_tiny_p4_28", "cnn_small_28", "unet_tiny_28"])
def test_same_seed_same_init_different_seed_different(name):
    torch.manual_seed(3)
    a = build_backbone(name)
    torch.manual_seed(3)
    b = build_backbone(name)
    torch.manual_seed(4)
    c = build_backbone(name)
    pa, pb, pc = (list(m.parameters()) for m in (a, b, c))
    assert all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(pa, pc, strict=True))


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown backbone 'vit_huge'; known backbones: .*vit_"):
        build_backbone("vit_huge")
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        backbone_config("nope")


def test_unknown_override_lists_valid_ones():
    with pytest.raises(ValueError, match=r"no option\(s\) \['widths'\]; valid overrides: .*depth"):
        build_backbone("vit_tiny_p4_28", widths=(8, 16))


def test_invalid_override_value_is_caught_by_the_config():
    with pytest.raises(ValueError, match="must be a multiple of patch_size 5"):
        build_backbone("vit_tiny_p4_28", patch_size=5)


def test_register_custom_backbone(monkeypatch):
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))

    @register_backbone("vit_micro_test")
    def vit_micro_test() -> ViTConfig:
        return ViTConfig(img_size=16, patch_size=4, embed_dim=16, depth=1, num_heads=2)

    assert "vit_micro_test" in list_backbones()
    assert build_backbone("vit_micro_test")(torch.randn(1, 1, 16, 16)).shape == (1, 16)
    with pytest.raises(ValueError, match="'vit_micro_test' is already registered"):
        register_backbone("vit_micro_test")(vit_micro_test)
