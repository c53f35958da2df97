"""Point sets for the representation pages from a few photos: seeded random crops, labelled by
the photo they came from, so that a handful of photos becomes a labelled set ("which photo did
this crop come from?") to embed, retrieve from and probe.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

__all__ = ["photo_crops"]


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
        rgb = np.repeat(photo[..., None], 3, axis=-1) if photo.ndim == 2 else photo  # (H, W, 3)
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
