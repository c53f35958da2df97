from __future__ import annotations

import numpy as np
import pytest
import torch

from lesson.live.mae import LiveMAEConfig, live_run, make_strip, strip_frame
from ssl_core.train import Trainer

# An MAE small enough for a test: one block of width 16, a one-block decoder of width 16.
TINY = LiveMAEConfig(depth=1, embed_dim=16, num_heads=1, decoder_dim=16, decoder_heads=1,
                     batch_size=16, lr=3e-3)


@pytest.fixture(scope="module")
def strip():
    return make_strip(4, mask_ratio=0.75, patch_size=4)


def _slow_masked_mse(output: torch.Tensor, images: torch.Tensor, masks: torch.Tensor,
                     patch: int) -> list[float]:
    """Mean squared error over each image's hidden pixels, one pixel at a time."""
    out = []
    for b in range(images.shape[0]):
        total, count = 0.0, 0
        for i in range(images.shape[-2]):
            for j in range(images.shape[-1]):
                if masks[b, (i // patch) * (images.shape[-1] // patch) + j // patch]:
                    total += float(output[b, 0, i, j] - images[b, 0, i, j]) ** 2
                    count += 1
        out.append(total / count)
    return out


def test_the_strip_is_one_image_per_class_under_its_own_mask(strip):
    assert strip.images.shape == (4, 1, 28, 28) and strip.labels.tolist() == [0, 1, 2, 3]
    # 12 of the 49 patches stay visible at 0.75
    assert strip.masks.shape == (4, 49) and strip.masks.sum(dim=1).tolist() == [37] * 4
    assert len({m.numpy().tobytes() for m in strip.masks}) == 4  # a mask of its own each
    visible = ~strip.masks.repeat_interleave(4, 1).reshape(4, 7, 28).repeat_interleave(4, 1)
    assert torch.equal(strip.baseline[:, 0][visible], strip.images[:, 0][visible])


def test_the_baseline_mse_is_the_mean_over_hidden_pixels(strip):
    expected = _slow_masked_mse(strip.baseline, strip.images, strip.masks, 4)
    assert strip.baseline_mse.tolist() == pytest.approx(expected, rel=1e-5)


def test_the_model_mse_is_the_mean_over_hidden_pixels(strip):
    trainer = Trainer(TINY.train_config(steps=1))
    shown = strip_frame(trainer.method, strip)
    expected = _slow_masked_mse(shown["reconstruction"], strip.images, strip.masks, 4)
    assert shown["mse"].tolist() == pytest.approx(expected, rel=1e-5)
    assert trainer.method.training  # the training mode is given back


def test_frames_arrive_with_the_strip_first(strip):
    frames = list(live_run(TINY, steps=4, every=2, time_limit_s=None, strip=strip))
    assert [(f["step"], f["done"]) for f in frames] == [(0, False), (2, False), (4, True)]
    first = frames[0]["strip"]
    assert np.asarray(first["images"]).shape == (4, 28, 28)
    assert np.asarray(first["masked"]).shape == (4, 28, 28)
    assert np.asarray(first["baseline"]).shape == (4, 28, 28)
    assert all("strip" not in f for f in frames[1:])
    for f in frames:
        assert np.asarray(f["reconstructions"], dtype=np.uint8).shape == (4, 28, 28)
        assert f["strip_mse"] == pytest.approx(np.mean(f["mse"]))
        assert f["baseline_strip_mse"] == pytest.approx(float(strip.baseline_mse.mean()))


@pytest.mark.slow
def test_the_strip_mse_falls_over_a_short_run(strip):
    frames = list(live_run(TINY, steps=40, every=20, time_limit_s=None, strip=strip))
    mse = [f["strip_mse"] for f in frames]
    assert mse[-1] < 0.6 * mse[0], mse


def test_bad_settings_say_what_is_wrong():
    with pytest.raises(ValueError, match="mask_ratio must be in"):
        LiveMAEConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        LiveMAEConfig(batch_size=0)
