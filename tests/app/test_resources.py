from __future__ import annotations

import pytest
import torch

from app import resources
from ssl_core import paths
from ssl_core.checkpoints import CheckpointError, save_checkpoint
from ssl_core.methods import build_method, method_spec


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path)
    return tmp_path


def _save_tiny_simclr(directory) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method("simclr", backbone="cnn_small_28")
    save_checkpoint(directory, state_dict=method.state_dict(), config=method_spec(method))
    return method


def test_no_bundled_checkpoint_gives_none(checkpoints):
    assert resources.bundled_checkpoint("simclr") is None
    assert resources.load_bundled_encoder("simclr") is None
    (checkpoints / "simclr").mkdir()  # a folder without weights is not a checkpoint
    assert resources.load_bundled_encoder("simclr") is None


def test_bundled_encoder_is_loaded_once_frozen_and_listed(checkpoints):
    method = _save_tiny_simclr(checkpoints / "simclr")
    encoder = resources.load_bundled_encoder("simclr")
    assert encoder is resources.load_bundled_encoder("simclr")  # cached for the process
    assert not encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(encoder.forward_features(x),
                                   method.encoder.eval().forward_features(x))
    assert any(name == "simclr" and "parameters" in text
               for name, text in resources.loaded_models())


def test_corrupt_bundled_checkpoint_raises_checkpoint_error(checkpoints):
    folder = checkpoints / "simclr"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"not safetensors at all")
    (folder / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        resources.load_bundled_encoder("simclr")


def test_fashion_item_and_photos():
    image, name = resources.fashion_item(0)
    assert image.shape == (28, 28) and image.dtype == "uint8"
    assert name in ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")
    image.fill(0)  # a copy: the shared read-only dataset is untouched
    assert resources.fashion_item(0)[0].any()
    assert resources.DEFAULT_PHOTO in resources.photo_names()
    assert resources.photo(resources.DEFAULT_PHOTO).shape[-1] == 3
