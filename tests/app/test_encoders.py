from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from app import encoders, figures, resources
from ssl_core import paths
from ssl_core.checkpoints import CheckpointError
from ssl_core.data import DataError, load_fashion_mnist, subset_indices
from tests.app.conftest import save_tiny_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = {"name": "Fashion-MNIST, bundled stratified subset (train split)"}


def save_tiny(directory, method: str) -> None:
    """A tiny SimCLR (ResNet) or DINO (ViT) checkpoint, seeded, with a data name."""
    save_tiny_encoder(directory, method, data_name=DATA["name"])


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    save_tiny(root / "simclr", "simclr")
    save_tiny(root / "dino", "dino")
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: root)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no_hf"))
    return {o.key: o for o in encoders.encoder_options()}


def test_options_list_checkpoints_random_twins_and_raw(tiny):
    assert list(tiny) == ["ckpt:dino", "ckpt:simclr", "random:dino", "random:simclr", "raw"]
    simclr = tiny["ckpt:simclr"]
    assert simclr.label == "SimCLR · cnn_small_28 · Fashion-MNIST"
    assert (simclr.size, simclr.channels, simclr.kind) == (28, 1, "ssl")
    assert tiny["random:dino"].kind == "random" and tiny["random:dino"].size == 28
    assert tiny["raw"].size is None and "own pixels" in tiny["raw"].accepts
    assert encoders.default_encoder(list(tiny.values()), ("ckpt:nope", "ckpt:dino")) == "ckpt:dino"
    assert encoders.default_encoder(list(tiny.values()), ("ckpt:nope",)) == "ckpt:dino"


def test_one_random_twin_per_architecture(tmp_path, monkeypatch):
    save_tiny(tmp_path / "a", "simclr")
    save_tiny(tmp_path / "b", "simclr")
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path)
    keys = [o.key for o in encoders.encoder_options()]
    assert keys[:3] == ["ckpt:a", "ckpt:b", "random:a"] and "random:b" not in keys


def test_no_checkpoints_leaves_raw_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path / "none")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no_hf"))
    assert [o.key for o in encoders.encoder_options()] == ["raw"]


def test_random_init_is_seeded_and_differs_from_the_trained_weights(tiny):
    trained = encoders.load_encoder(tiny["ckpt:simclr"])
    random = encoders.load_encoder(tiny["random:simclr"])
    assert not random.training and not any(p.requires_grad for p in random.parameters())
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert not torch.allclose(trained.forward_features(x), random.forward_features(x))
    from ssl_core.models.registry import build_backbone

    torch.manual_seed(0)
    expected = build_backbone("cnn_small_28", widths=(8, 16))
    torch.testing.assert_close(random.state_dict()["stem.0.weight"],
                               expected.state_dict()["stem.0.weight"])


def test_point_sets(tmp_path):
    fashion = encoders.points(encoders.DatasetSpec("fashion", 120))
    assert fashion.images.shape == (120, 28, 28) and fashion.labelled
    assert set(fashion.labels.tolist()) <= set(range(10)) and len(fashion.classes) == 10
    photos = encoders.points(encoders.DatasetSpec("photos", 40))
    assert photos.images.shape == (40, 64, 64, 3) and len(photos.classes) == 16
    assert photos.class_name(0) in resources.photo_names()


def _write_folder(root, classes=("cat", "dog"), per_class=3, flat=False):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        folder = root if flat else root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (20 + 10 * c, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}{i}.png")


def test_image_folder_points_and_bad_paths(tmp_path, monkeypatch):
    _write_folder(tmp_path / "data" / "pets")
    _write_folder(tmp_path / "data" / "flat", flat=True)
    monkeypatch.setenv("SSL_EXPLORER_FOLDER_ROOTS", str(tmp_path / "data"))
    pets = encoders.points(encoders.DatasetSpec("folder", 100, "data/pets"))
    assert pets.images.shape == (6, 64, 64, 3) and pets.classes == ("cat", "dog")
    assert pets.labels.tolist() == [0, 0, 0, 1, 1, 1] and pets.labelled
    assert pets.name == "6 of the 6 images in data/pets", "the choice's name, not a path"
    flat = encoders.points(encoders.DatasetSpec("folder", 4, "data/flat"))
    assert len(flat.labels) == 4 and not flat.labelled and flat.class_name(0) == "unlabelled"
    with pytest.raises(DataError, match="not one this server offers"):
        encoders.points(encoders.DatasetSpec("folder", 10, str(tmp_path / "data" / "pets")))
    with pytest.raises(DataError, match="not one this server offers"):
        encoders.points(encoders.DatasetSpec("folder", 10, "  "))
    Image.new("RGB", (4, 4)).save(tmp_path / "data" / "top.png")
    with pytest.raises(DataError, match="both images at the top") as error:
        encoders.points(encoders.DatasetSpec("folder", 10, "data"))
    assert str(tmp_path) not in str(error.value)


def test_geometry_and_raw_features(tiny):
    fashion = encoders.points(encoders.DatasetSpec("fashion", 60))
    photos = encoders.points(encoders.DatasetSpec("photos", 32))
    assert encoders.input_geometry(tiny["raw"], fashion) == (28, 1)
    assert encoders.input_geometry(tiny["raw"], photos) == (32, 3)
    assert encoders.input_geometry(tiny["ckpt:dino"], photos) == (28, 1)
    raw = encoders.features(tiny["raw"], encoders.DatasetSpec("fashion", 60))
    np.testing.assert_allclose(raw, fashion.images.reshape(60, -1) / 255.0, atol=1e-6)
    assert encoders.model_inputs(tiny["ckpt:simclr"], photos).shape == (32, 28, 28)


def test_features_embed_and_patch_tokens_agree(tiny):
    spec = encoders.DatasetSpec("fashion", 60)
    fashion = encoders.points(spec)
    for key in ("ckpt:simclr", "ckpt:dino", "random:dino"):
        feats = encoders.features(tiny[key], spec)
        assert feats.shape[0] == 60 and np.isfinite(feats).all()
        np.testing.assert_allclose(encoders.embed(tiny[key], fashion, fashion.images[:3]),
                                   feats[:3], rtol=1e-4, atol=1e-5)
    assert encoders.has_patch_tokens(tiny["ckpt:dino"])
    assert not encoders.has_patch_tokens(tiny["ckpt:simclr"])
    tokens, grid = encoders.patch_tokens(tiny["ckpt:dino"], fashion, fashion.images[:2])
    assert tokens.shape == (2, 49, 32) and grid == (7, 7)


@pytest.mark.slow
def test_fashion_features_come_in_blocks_shared_by_every_gallery_size(tiny, monkeypatch):
    spec = encoders.DatasetSpec("fashion", 1234)  # three blocks of the nested draw
    points = encoders.points(spec)
    raw = encoders.features(tiny["raw"], spec)  # raw pixels: exact, so the order is checked
    np.testing.assert_allclose(raw, points.images.reshape(1234, -1) / 255.0, atol=1e-6)

    images_encoded = []
    real = encoders.embedding.extract_features

    def counting(encoder, data, **kwargs):
        images_encoded.append(len(data[0]))
        return real(encoder, data, **kwargs)

    monkeypatch.setattr(encoders.embedding, "extract_features", counting)
    encoders.embedding._fashion_chunk.clear()
    option = tiny["ckpt:simclr"]
    big = encoders.features(option, spec)
    assert images_encoded == [500, 500, 500]
    small = encoders.features(option, encoders.DatasetSpec("fashion", 600))  # smaller: no work
    assert images_encoded == [500, 500, 500]
    total = len(load_fashion_mnist("test", source="bundled"))
    rows = np.searchsorted(subset_indices(total, 1234), subset_indices(total, 600))
    np.testing.assert_array_equal(small, big[rows])  # the same items, the same features
    encoders.features(option, encoders.DatasetSpec("fashion", 1600))  # larger: one more block
    assert images_encoded == [500, 500, 500, 500]


def test_transformers_model_from_the_local_cache(tiny_dinov2_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path / "none")
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_dinov2_cache))
    options = {o.key: o for o in encoders.encoder_options()}
    dinov2 = options["hf:facebook/dinov2-small"]
    assert dinov2.kind == "foundation" and dinov2.label.startswith("DINOv2 ViT-S/14")
    spec = encoders.DatasetSpec("fashion", 50)
    assert encoders.features(dinov2, spec).shape == (50, 32)
    tokens, grid = encoders.patch_tokens(dinov2, encoders.points(spec), [np.zeros((28, 28),
                                                                                  np.uint8)])
    assert tokens.shape[1] == grid[0] * grid[1]


def test_a_vanished_checkpoint_raises_checkpoint_error(tiny, tmp_path):
    (paths.checkpoints_dir() / "simclr" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="gone"):
        encoders.load_encoder(tiny["ckpt:simclr"])


def test_selected_points_maps_traces_to_items():
    groups = [np.array([4, 7, 9]), np.array([0, 2])]
    event = {"selection": {"points": [
        {"curve_number": 1, "point_index": 1}, {"curve_number": 0, "point_index": 2},
        {"curve_number": 1, "point_index": 1}, {"curve_number": 5, "point_index": 0},
        {"curve_number": 0, "point_index": 99}]}}
    assert figures.selected_points(event, groups) == [2, 9]
    assert figures.selected_points(None, groups) == []
    assert figures.selected_points({"selection": {"points": []}}, groups) == []
