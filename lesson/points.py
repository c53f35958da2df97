"""Point sets: the labelled images the representation pages embed, retrieve from and probe.

:func:`load_point_set` makes one of :data:`POINT_SETS`: a nested subset of the bundled
Fashion-MNIST test split, seeded random crops of the bundled photos labelled by the photo they
came from (:func:`photo_crops`: a handful of photos becomes a labelled set, "which photo did this
crop come from?"), or the images of a folder, all as a :class:`PointSet` of uint8 arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ssl_core.data import (
    WalkLimits,
    load_fashion_mnist,
    load_image_folder,
    load_photos,
    subset_indices,
)
from ssl_core.data.walk import DEFAULT_LIMITS
from ssl_core.images import as_rgb, fit_to

__all__ = ["PHOTO_SIDE", "POINT_SETS", "PointSet", "load_point_set", "photo_crops"]

POINT_SETS = ("fashion", "photos", "folder")
PHOTO_SIDE = 64  # photo crops and folder images are stored at 64 x 64 RGB


@dataclass(frozen=True)
class PointSet:
    """``images``: uint8 ``(N, s, s)`` or ``(N, s, s, 3)``; ``labels (N,)`` int64 (-1 =
    unlabelled); ``classes`` their names; ``name`` says where they came from."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str

    @property
    def labelled(self) -> bool:
        return bool(len(self.labels)) and bool(self.labels.min() >= 0) and len(self.classes) > 1

    def class_name(self, index: int) -> str:
        label = int(self.labels[index])
        return self.classes[label] if 0 <= label < len(self.classes) else "unlabelled"


def load_point_set(kind: str, n: int, path: str = "", *, photo_side: int = PHOTO_SIDE,
                   limits: WalkLimits = DEFAULT_LIMITS) -> PointSet:
    """The point set of ``kind`` (:data:`POINT_SETS`): ``n`` items of the bundled
    Fashion-MNIST test split, ``n`` random crops of the bundled photos (labelled by photo), or
    ``n`` images of the folder ``path``; the same ``n`` items for a given ``n`` (nested draws).
    The folder is listed within ``limits`` (``ssl_core.data.walk``: files, depth, seconds;
    links leaving it are not followed). Raises ``ssl_core.data.DataError`` for a bad folder."""
    if kind == "fashion":
        test = load_fashion_mnist("test", source="bundled")
        idx = subset_indices(len(test), n)
        return PointSet(np.array(test.images[idx]), test.labels[idx].astype(np.int64),
                        tuple(test.classes), f"Fashion-MNIST test subset ({len(idx):,} items)")
    if kind == "photos":
        photos = load_photos()
        per_photo = math.ceil(n / len(photos))
        images, labels, classes = photo_crops(photos, per_photo=per_photo, size=photo_side,
                                              seed=0)
        idx = subset_indices(len(labels), n)
        return PointSet(images[idx], labels[idx], classes,
                        f"{len(idx):,} random crops of the {len(photos)} bundled photos")
    if kind == "folder":
        dataset = load_image_folder(Path(path), mode="RGB", limits=limits,
                                    max_side=4 * photo_side)  # shrunk while decoded
        idx = subset_indices(len(dataset), n)
        images = [dataset[int(i)][0].permute(1, 2, 0).numpy() for i in idx]  # (H, W, 3) each
        return PointSet(fit_to(images, size=photo_side, channels=3),
                        dataset.labels[idx].astype(np.int64), tuple(dataset.classes),
                        f"{len(idx):,} of the {len(dataset):,} images in {path}")
    raise ValueError(f"point set kind must be one of {POINT_SETS}; got {kind!r}")


def photo_crops(
    photos: Mapping[str, np.ndarray],
    *,
    per_photo: int,
    size: int = 64,
    scale: tuple[float, float] = (0.2, 1.0),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Random square crops of each photo: ``(images (N, size, size, 3) uint8, labels (N,),
    classes)`` with ``N = len(photos) * per_photo``, label ``i`` = the ``i``-th photo.

    Each crop covers a share of the photo's shorter side squared drawn uniformly from ``scale``
    (area fraction of the largest square), at a uniform position, resized bicubically to
    ``size``. Photos are uint8 ``(H, W)`` or ``(H, W, 3)`` (gray is repeated to RGB).
    """
    if not photos:
        raise ValueError("photos is empty; pass at least one photo")
    if per_photo < 1 or size < 1:
        raise ValueError(f"per_photo and size must be >= 1; got {per_photo} and {size}")
    lo, hi = scale
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1; got {scale}")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, (name, photo) in enumerate(photos.items()):
        if photo.dtype != np.uint8 or photo.ndim not in (2, 3):
            raise ValueError(f"photo {name!r} must be uint8 (H, W) or (H, W, 3); got "
                             f"{photo.dtype} {photo.shape}")
        rgb = as_rgb(photo)  # (H, W, 3)
        height, width = rgb.shape[:2]
        short = min(height, width)
        for _ in range(per_photo):
            side = max(1, round(short * float(np.sqrt(rng.uniform(lo, hi)))))
            top = int(rng.integers(0, height - side + 1))
            left = int(rng.integers(0, width - side + 1))
            crop = Image.fromarray(rgb[top : top + side, left : left + side])
            images.append(np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC)))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64), tuple(photos)
