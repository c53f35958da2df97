"""Tests for ``lesson.experiments.mae_ratio``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lesson.experiments import mae_ratio
from lesson.figures.mae import error_curve, interpolation_error_curve
from ssl_core.checkpoints import load_method
from ssl_core.train import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ckpts")
    cfg = TrainConfig(method="mae", steps=2, batch_size=8, limit_images=32,
                      backbone_kwargs={"depth": 1, "embed_dim": 16, "num_heads": 2},
                      method_config={"decoder_dim": 16, "decoder_depth": 1, "decoder_heads": 2},
                      out_dir=str(root / "mae"))
    Trainer(cfg).run()
    return root


def _images(n: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=generator)


def test_one_image_curves_equal_the_mae_pages_error_curve(checkpoints: Path) -> None:
    """With one image the masks are make_mask's, so the numbers are viz.error_curve's."""
    model = load_method(checkpoints / "mae")
    image = _images(1)
    ratios, seeds = (0.25, 0.75), (0, 1)
    out = mae_ratio.reconstruction_curves({"mae": model}, image, ratios=ratios, seeds=seeds,
                                          patch_size=4)
    base = interpolation_error_curve(image, ratios, patch_size=4, seeds=seeds)
    learned = error_curve(image, ratios, patch_size=4, seeds=seeds,
                          fill=lambda x, m: model.reconstruct(x, mask=m).reconstruction)
    np.testing.assert_allclose(out["interpolation"]["mse"], base.mean, rtol=1e-5)
    np.testing.assert_allclose(out["models"]["mae"]["mse"], learned.mean, rtol=1e-5)
    np.testing.assert_allclose(out["models"]["mae"]["advantage"], base.mean - learned.mean,
                               rtol=1e-4, atol=1e-7)


def test_biharmonic_curve_is_scikit_images_fill_on_the_same_masks(checkpoints: Path) -> None:
    from ssl_core.masking import biharmonic_masked

    model = load_method(checkpoints / "mae")
    image = _images(1)
    ratios, seeds = (0.25, 0.75), (0, 1)
    out = mae_ratio.reconstruction_curves({"mae": model}, image, ratios=ratios, seeds=seeds,
                                          patch_size=4, biharmonic=True)
    expected = error_curve(image, ratios, patch_size=4, seeds=seeds,
                           fill=lambda x, m: biharmonic_masked(x, m, 4))
    np.testing.assert_allclose(out["biharmonic"]["mse"], expected.mean, rtol=1e-5)
    # a different fill from interpolation's, so the two baselines are not one number twice
    assert out["biharmonic"]["mse"] != pytest.approx(out["interpolation"]["mse"])
    assert "biharmonic" not in mae_ratio.reconstruction_curves(
        {"mae": model}, image, ratios=ratios, seeds=seeds, patch_size=4)


def test_curves_are_batched_and_paired(checkpoints: Path) -> None:
    model = load_method(checkpoints / "mae")
    images = _images(10)
    small = mae_ratio.reconstruction_curves({"mae": model}, images, ratios=(0.5,), seeds=(3,),
                                            patch_size=4, batch_size=3)
    large = mae_ratio.reconstruction_curves({"mae": model}, images, ratios=(0.5,), seeds=(3,),
                                            patch_size=4, batch_size=64)
    assert small["models"]["mae"]["mse"] == pytest.approx(large["models"]["mae"]["mse"])
    curve = small["models"]["mae"]
    assert 0.0 <= curve["wins"][0] <= 1.0 and curve["sem"][0] > 0
    assert curve["advantage"][0] == pytest.approx(
        small["interpolation"]["mse"][0] - curve["mse"][0])
    with pytest.raises(ValueError, match="at least one seed"):
        mae_ratio.reconstruction_curves({}, images, ratios=(0.5,), seeds=(), patch_size=4)


def test_explain_reads_the_numbers() -> None:
    text = mae_ratio.explain([0.15, 0.5, 0.75, 0.9], [0.05, 0.05, 0.06, 0.09],
                             [0.03, 0.06, 0.12, 0.16], wins=[0.1, 0.6, 0.83, 0.9])
    assert "At 15% masking interpolation is as good or better" in text
    assert "largest at 90% (0.0700)" in text  # 0.16 - 0.09
    assert "is largest at 75% (2.0x)" in text  # 0.12 / 0.06
    assert "0.1200 against 0.0600 (2.0x); MAE is closer on 83% of the images" in text
    assert "copying neighbours breaks down while the model still reconstructs" in text
    assert "does not beat interpolation at 15%." in text
    text = mae_ratio.explain([0.15, 0.75], [0.01, 0.02], [0.02, 0.08], trained_ratio=None)
    assert "beats interpolation at every ratio" in text and "trained with" not in text
    with pytest.raises(ValueError, match="same length"):
        mae_ratio.explain([0.1, 0.2], [0.1], [0.1, 0.2])
    assert "From" not in mae_ratio.explain([0.75], [0.05], [0.07])


def test_run_and_main(checkpoints: Path, tmp_path: Path) -> None:
    result = mae_ratio.run(checkpoints_dir=checkpoints, ratios=(0.25, 0.75), seeds=(0,),
                           n_images=6)
    assert result["ratios"] == [0.25, 0.75] and result["n_images"] == 6
    assert len(result["mae"]["mse"]) == len(result["interpolation"]["sem"]) == 2
    assert result["mae"]["checkpoint"] == "mae" and result["mae"]["trained_mask_ratio"] == 0.75
    assert "rgb" not in result and "others" not in result
    assert "6 bundled Fashion-MNIST test images" in result["protocol"]
    assert len(result["biharmonic"]["mse"]) == 2 and "inpaint_biharmonic" in result["protocol"]
    assert mae_ratio.main(["--checkpoints", str(checkpoints), "--ratios", "0.5", "--seeds", "0",
                           "--n-images", "4", "--results-dir", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "mae_ratio.json").read_text())
    assert saved["ratios"] == [0.5] and "explanation" in saved
    assert mae_ratio.main(["--checkpoints", str(checkpoints), "--ratios", "0.5", "--seeds", "0",
                           "--n-images", "4", "--no-biharmonic", "--results-dir",
                           str(tmp_path / "quick")]) == 0
    assert "biharmonic" not in json.loads((tmp_path / "quick" / "mae_ratio.json").read_text())
    assert mae_ratio.main(["--checkpoints", str(tmp_path), "--results-dir",
                           str(tmp_path / "x")]) == 2
    with pytest.raises(ValueError, match="ratios must be in"):
        mae_ratio.run(checkpoints_dir=checkpoints, ratios=(0.0, 0.5))


def test_photo_crops_are_seeded() -> None:
    crops = mae_ratio.photo_crops(1, size=16, seed=0)
    assert crops.shape == (16, 3, 16, 16) and crops.dtype == torch.float32
    assert 0.0 <= float(crops.min()) and float(crops.max()) <= 1.0
    assert torch.equal(crops, mae_ratio.photo_crops(1, size=16, seed=0))
    assert not torch.equal(crops, mae_ratio.photo_crops(1, size=16, seed=1))
    with pytest.raises(ValueError, match="n_per_photo"):
        mae_ratio.photo_crops(0, size=16)
