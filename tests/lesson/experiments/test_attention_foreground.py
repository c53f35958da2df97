"""Tests for lesson.experiments.attention_foreground on tiny checkpoints and a few images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lesson.experiments import attention_foreground as exp
from ssl_core.checkpoints import save_checkpoint
from ssl_core.methods import build_method, method_spec
from ssl_core.models.registry import build_backbone

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _save(directory, method: str, backbone: str = "vit_tiny_p4_28") -> None:
    kwargs = {"depth": 1} if backbone.startswith("cnn") else {"depth": 1, "embed_dim": 32,
                                                               "num_heads": 2}
    config = {"dino": {"out_dim": 64, "head_hidden_dim": 32, "head_bottleneck_dim": 16},
              "mae": {"decoder_depth": 1, "decoder_dim": 32}, "simclr": {}}[method]
    if backbone.startswith("cnn"):
        kwargs = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_method(method, backbone=backbone, backbone_kwargs=kwargs, config=config)
    save_checkpoint(directory, state_dict=model.state_dict(), config=method_spec(model))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    _save(root / "dino", "dino")
    _save(root / "mae", "mae")
    return root


def _uniform_vit():
    """A ViT whose attention is exactly uniform: zero query/key weights and biases."""
    vit = build_backbone("vit_tiny_p4_28", depth=1, embed_dim=32, num_heads=2).eval()
    with torch.no_grad():
        vit.blocks[-1].attn.qkv.weight[: 2 * 32].zero_()
        vit.blocks[-1].attn.qkv.bias[: 2 * 32].zero_()
    return vit


def test_uniform_attention_gives_the_area_share():
    rng = np.random.default_rng(0)
    images = (rng.random((6, 28, 28)) * 255).astype(np.uint8)
    out = exp.measure(_uniform_vit(), images, threshold=0.5, sensitivity=(0.2,), batch_size=4)
    assert out["share"].shape == (6,) and out["head_share"].shape == (6, 2)
    np.testing.assert_allclose(out["share"], out["area"], atol=1e-6)
    np.testing.assert_allclose(out["head_share"], np.repeat(out["area"][:, None], 2, 1),
                               atol=1e-6)
    np.testing.assert_allclose(out["area"], (images / 255 > 0.5).mean(axis=(1, 2)))
    np.testing.assert_allclose(out["cls_self"], 1 / 50, rtol=1e-5)
    np.testing.assert_allclose(out["area@0.2"], (images / 255 > 0.2).mean(axis=(1, 2)))


def test_measure_matches_the_attention_functions_per_image(checkpoints):
    from ssl_core.checkpoints import load_encoder
    from ssl_core.eval.attention import attention_maps, foreground_share
    from ssl_core.images import image_to_batch

    encoder = load_encoder(checkpoints / "dino")
    rng = np.random.default_rng(1)
    images = np.zeros((3, 28, 28), np.uint8)
    images[:, 8:20, 10:18] = rng.integers(100, 255, (3, 12, 8))
    out = exp.measure(encoder, images, batch_size=2)
    for i, image in enumerate(images):
        maps = attention_maps(encoder, image_to_batch(image))
        fg = image / 255 > exp.THRESHOLD
        assert out["share"][i] == pytest.approx(float(foreground_share(maps.mean, fg)), rel=1e-5)
        assert out["area"][i] == pytest.approx(96 / 784)
        assert 0 <= out["jaccard"][i] <= 1


def test_run_on_tiny_checkpoints(checkpoints):
    data = exp.run(checkpoints_dir=checkpoints, n_images=30, random_seeds=(0, 1))
    names = [m["name"] for m in data["models"]]
    assert names == ["dino", "random", "mae"] and data["skipped"] == []
    assert data["dataset"]["n_images"] == 30 and data["foreground"]["threshold"] == 0.1
    for model in data["models"]:
        assert 0 < model["attention_share"] < 1 and 0 < model["area_share"] < 1
        assert model["lift"] == pytest.approx(model["attention_share"] / model["area_share"])
        assert len(model["per_head"]) == 2 and 0 <= model["images_above_area"] <= 1
        assert [s["threshold"] for s in model["sensitivity"]] == [0.0, 0.1, 0.3, 0.5]
        areas = [s["area_share"] for s in model["sensitivity"]]
        assert areas == sorted(areas, reverse=True)  # a higher threshold keeps fewer pixels
        assert {c["class"] for c in model["per_class"]} <= set(data["classes"])
    random = data["models"][1]
    assert random["seeds"] == [0, 1] and len(random["per_seed_attention_share"]) == 2
    assert random["attention_share"] == pytest.approx(np.mean(random["per_seed_attention_share"]))
    assert "DINO ViT (bundled dino)" in data["verdict"]
    json.dumps(data, allow_nan=False)  # what save_result will write


def test_missing_and_wrong_checkpoints(tmp_path, checkpoints):
    with pytest.raises(ValueError, match="no DINO ViT checkpoint"):
        exp.run(checkpoints_dir=tmp_path, n_images=2)
    data = exp.run(checkpoints_dir=checkpoints, n_images=2, random_seeds=(),
                   compare=("mae", "absent"))
    assert data["skipped"] == ["absent"] and [m["name"] for m in data["models"]] == ["dino",
                                                                                       "mae"]
    _save(tmp_path / "dino", "dino")
    _save(tmp_path / "cnn", "simclr", backbone="cnn_small_28")
    with pytest.raises(ValueError, match="not a ViT"):
        exp.run(checkpoints_dir=tmp_path, n_images=2, random_seeds=(), compare=("cnn",))
    with pytest.raises(ValueError, match="n_images must be"):
        exp.run(checkpoints_dir=checkpoints, n_images=0)
    with pytest.raises(ValueError, match="threshold is a pixel level"):
        exp.run(checkpoints_dir=checkpoints, threshold=1.5)


def test_main_writes_the_result(tmp_path, checkpoints, capsys):
    data = exp.main(["--checkpoints-dir", str(checkpoints), "--n-images", "8",
                     "--random-seeds", "0", "--out-dir", str(tmp_path)])
    saved = json.loads((tmp_path / "attention_foreground.json").read_text())
    assert saved["verdict"] == data["verdict"]
    assert saved["provenance"]["command"].startswith(
        "python3 -m lesson.experiments.attention_foreground --checkpoints-dir")
    assert "wrote" in capsys.readouterr().out


def test_the_dino_vit_is_found_beside_a_cnn_dino(tmp_path):
    """The bundled ``dino`` is a CNN (no attention); the experiment and the page measure the DINO
    ViT beside it, whatever it is called, and a CNN DINO alone is not taken for one."""
    _save(tmp_path / "dino", "dino", backbone="cnn_small_28")
    _save(tmp_path / "mae", "mae")
    assert exp.dino_vit_checkpoints(tmp_path) == []
    with pytest.raises(ValueError, match="no DINO ViT checkpoint"):
        exp.run(checkpoints_dir=tmp_path, n_images=2, random_seeds=())
    _save(tmp_path / "dino_vit", "dino")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"")
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert exp.dino_vit_checkpoints(tmp_path) == ["broken", "dino_vit"]  # unreadable: listed
    data = exp.run(checkpoints_dir=tmp_path, n_images=2, random_seeds=(), dino="dino_vit")
    assert [m["name"] for m in data["models"]] == ["dino_vit", "mae"]
    assert data["models"][0]["label"] == "DINO ViT (bundled dino_vit)"
    with pytest.raises(ValueError, match="not a ViT"):
        exp.run(checkpoints_dir=tmp_path, n_images=2, random_seeds=(), dino="dino")
