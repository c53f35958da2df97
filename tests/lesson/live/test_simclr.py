from __future__ import annotations

import numpy as np
import pytest

from lesson.live.simclr import LiveSimCLRConfig, align, live_run, map_frame, map_split

# A SimCLR small enough for a test: two stages of 4 and 8 channels, batch 8.
TINY = LiveSimCLRConfig(widths=(4, 8), batch_size=8, proj_hidden_dim=16, proj_out_dim=8)


@pytest.fixture(scope="module")
def split():
    return map_split(map_per_class=3, bank_per_class=3)


@pytest.fixture(scope="module")
def frames(split):
    return list(live_run(TINY, steps=4, every=2, time_limit_s=None, split=split))


def test_the_split_is_stratified_and_from_two_splits(split):
    assert split.map_images.shape == (30, 28, 28) and split.bank_images.shape == (30, 28, 28)
    assert np.bincount(split.map_labels).tolist() == [3] * 10
    assert np.bincount(split.bank_labels).tolist() == [3] * 10
    # test images are not train images: no map image appears in the bank
    bank = {image.tobytes() for image in split.bank_images}
    assert not any(image.tobytes() in bank for image in split.map_images)


def test_frames_arrive_at_step_0_every_few_steps_and_at_the_end(frames, split):
    assert [f["step"] for f in frames] == [0, 2, 4]
    assert [f["done"] for f in frames] == [False, False, True]
    assert frames[0]["loss"] is None and all(np.isfinite(f["loss"]) for f in frames[1:])
    for f in frames:
        assert f["total_steps"] == 4
        assert np.asarray(f["points"]).shape == (30, 2)
        assert f["labels"] == split.map_labels.tolist()
        assert 0.0 <= f["knn"] <= 1.0 and -1.0 <= f["silhouette"] <= 1.0
    assert frames[-1]["steps_per_s"] > 0


def test_the_time_limit_stops_after_the_first_step(split):
    frames = list(live_run(TINY, steps=50, every=10, time_limit_s=1e-9, split=split))
    assert [(f["step"], f["done"]) for f in frames] == [(0, False), (1, True)]


def test_align_undoes_a_rotation_a_reflection_a_shift_and_a_scale():
    rng = np.random.default_rng(0)
    previous = align(rng.normal(size=(50, 2)), None)  # centred, unit RMS
    angle = 2.0
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (previous @ turn) * np.array([1.0, -1.0]) * 3.0 + 5.0  # rotated, flipped, scaled
    assert np.allclose(align(moved, previous), previous, atol=1e-9)
    assert np.abs(moved - previous).max() > 1  # it was far off before


def test_aligned_frames_stay_closer_than_unaligned_pca(split):
    """Between two frames of a run, the Procrustes-aligned points move less than PCA's raw
    axes (which may swap or flip) would make them jump."""
    frames = list(live_run(TINY, steps=6, every=3, time_limit_s=None, split=split))
    for before, after in zip(frames, frames[1:], strict=False):
        prev, now = np.asarray(before["points"]), np.asarray(after["points"])
        unaligned = align(now @ np.array([[0.0, 1.0], [1.0, 0.0]]), None)  # axes swapped
        assert np.linalg.norm(now - prev) <= np.linalg.norm(unaligned - prev) + 1e-9
        assert np.linalg.norm(now - prev) <= np.linalg.norm(-now - prev) + 1e-9


def test_map_frame_scores_a_separable_encoder_high(split):
    """An 'encoder' that returns the one-hot label separates the classes: kNN 1, silhouette 1."""
    import torch

    labels = {image.tobytes(): int(label) for image, label in
              zip(np.concatenate([split.map_images, split.bank_images]),
                  np.concatenate([split.map_labels, split.bank_labels]), strict=True)}

    class Oracle(torch.nn.Module):
        def forward_features(self, x):
            keys = [(row[0] * 255).round().to(torch.uint8).numpy().tobytes() for row in x]
            return torch.nn.functional.one_hot(torch.tensor([labels[k] for k in keys]), 10).float()

    shown = map_frame(Oracle(), split, None)
    assert shown["knn"] == 1.0
    assert shown["silhouette"] > 0.5


@pytest.mark.parametrize(("field", "value", "message"), [
    ("temperature", 0.0, "temperature must be a finite number > 0"),
    ("batch_size", 1, "batch_size must be an int >= 2"),
    ("lr", -1.0, "lr must be a positive number"),
])
def test_bad_settings_say_what_is_wrong(field, value, message):
    with pytest.raises(ValueError, match=message):
        LiveSimCLRConfig(**{field: value})
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        next(live_run(TINY, steps=0))
