"""The bundled checkpoints are runs of their documented recipes, load offline, fit the size cap."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from pathlib import Path

import pytest
import torch

from ssl_core.checkpoints import load_encoder, load_method
from ssl_core.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("bundle_checkpoints",
                                              ROOT / "scripts" / "bundle_checkpoints.py")
bundle = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bundle  # dataclasses look their module up while the file runs
SPEC.loader.exec_module(bundle)

BUNDLED = bundle.bundled_names()


@pytest.mark.parametrize("name", sorted(bundle.RECIPES))
def test_every_recipe_is_a_valid_pretrain_command(name):
    given = bundle.recipe_train_config(bundle.RECIPES[name])
    TrainConfig(**given)  # raises on an invalid recipe
    assert given["method"] in ("simclr", "dino", "mae", "unet_mae")


def test_the_app_s_core_checkpoints_are_bundled():
    assert {"simclr", "dino", "mae"} <= set(BUNDLED)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_checkpoint_is_a_run_of_its_recipe(name):
    config = json.loads((bundle.BUNDLE_DIR / name / "config.json").read_text())
    assert bundle.mismatches(bundle.RECIPES[name], config) == []
    assert config["step"] == config["total_steps"]


def test_a_changed_run_is_not_taken_for_the_recipe():
    config = json.loads((bundle.BUNDLE_DIR / "simclr" / "config.json").read_text())
    config["train"]["batch_size"] = 128
    config["train"]["augment"] = {"scale": [0.5, 1.0]}
    problems = bundle.mismatches(bundle.RECIPES["simclr"], config)
    assert any(p.startswith("batch_size") for p in problems)
    assert any(p.startswith("augment") for p in problems)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_checkpoint_loads_offline_and_encodes(name, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a bundled checkpoint tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    folder = bundle.BUNDLE_DIR / name
    method = load_method(folder)
    encoder = load_encoder(folder).eval()
    config = json.loads((folder / "config.json").read_text())
    kwargs = config["backbone_kwargs"]
    channels, (height, width) = kwargs.get("in_chans", 1), kwargs["img_size"]
    with torch.no_grad():
        features = encoder.forward_features(torch.rand(2, channels, height, width))
    assert features.ndim == 2 and features.shape[0] == 2 and torch.isfinite(features).all()
    n_method = sum(p.numel() for p in method.parameters())
    # SimCLR / DINO / MAE add heads to the encoder; the UNet-MAE's U-Net is its own encoder
    assert n_method >= sum(p.numel() for p in encoder.parameters()) > 0


def test_bundle_fits_the_size_cap_and_provenance_names_every_checkpoint():
    assert bundle.bundle_bytes() <= bundle.MAX_BUNDLE_BYTES
    provenance = (bundle.BUNDLE_DIR / "PROVENANCE.md").read_text()
    assert f"(limit {bundle.MAX_BUNDLE_MB} MB)" in provenance
    for name in BUNDLED:
        assert f"## `{name}`" in provenance
        assert bundle.RECIPES[name].command() in provenance


def test_provenance_gives_the_time_at_the_median_step_beside_the_wall_time():
    provenance = (bundle.BUNDLE_DIR / "PROVENANCE.md").read_text()
    assert "| wall time | at the median step |" in provenance
    for name in BUNDLED:
        facts = bundle.describe(name)
        assert facts["median_time_s"] is not None and facts["median_time_s"] > 0
        assert f"| {facts['median_time_s']:.0f} s |" in provenance
