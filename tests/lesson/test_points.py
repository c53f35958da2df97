"""Tests for lesson.points: the point sets the embedding and probe pages draw from."""

from __future__ import annotations

import numpy as np
import pytest

from lesson.points import photo_crops


def test_photo_crops_shapes_labels_and_determinism():
    rng = np.random.default_rng(0)
    photos = {"a": rng.integers(0, 255, (40, 60, 3), dtype=np.uint8),
              "b": rng.integers(0, 255, (30, 30), dtype=np.uint8)}
    images, labels, classes = photo_crops(photos, per_photo=5, size=16, seed=1)
    assert images.shape == (10, 16, 16, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0] * 5 + [1] * 5 and classes == ("a", "b")
    again, _, _ = photo_crops(photos, per_photo=5, size=16, seed=1)
    other, _, _ = photo_crops(photos, per_photo=5, size=16, seed=2)
    assert np.array_equal(images, again) and not np.array_equal(images, other)
    # a gray photo becomes equal R, G and B
    assert np.array_equal(images[5:, ..., 0], images[5:, ..., 2])
    with pytest.raises(ValueError, match="scale must satisfy"):
        photo_crops(photos, per_photo=1, scale=(0.5, 1.5))
