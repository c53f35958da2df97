"""Point sets for the representation pages: model inputs, photo crops, leave-one-out kNN, and a
label-budget probe that needs features only for the items it trains on.

- :func:`photo_crops`: seeded random square crops of a few photos, labelled by photo, so that a
  handful of photos becomes a point set with classes ("which photo did this crop come from?");
- :func:`loo_knn_accuracy`: weighted kNN accuracy of a point set against itself, each point
  left out of its own vote (the embeddings page's number beside a scatter plot);
- :func:`budget_probe`: the frozen linear probe with ``n`` labels per class, as one row of
  ``ssl_core.evaluate.label_efficiency``, but asking a callback for the features of just the
  training items each seed draws (10 labels per class means features for 100 images, not for
  the whole training set).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ssl_core.evaluate import linear_probe, retrieve, subsample_per_class

__all__ = [
    "budget_probe",
    "loo_knn_accuracy",
    "photo_crops",
]


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


def loo_knn_accuracy(
    features: np.ndarray | torch.Tensor,
    labels: np.ndarray | Sequence[int],
    *,
    k: int = 20,
    temperature: float = 0.1,
) -> float:
    """Leave-one-out weighted kNN accuracy of a point set, in ``[0, 1]``.

    Each point is classified by its ``k`` most cosine-similar *other* points, which vote for
    their labels with weight ``exp(sim / temperature)`` (the InstDisc kNN of
    ``ssl_core.evaluate.knn_predict``); the result is the share classified correctly.
    ``features: (N, D)``, ``labels: (N,)`` non-negative ints; ``k`` must be < N.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array; got {y.dtype} {y.shape}")
    if y.size and y.min() < 0:
        raise ValueError("labels contain negative values (unlabelled items); kNN accuracy "
                         "needs a label for every point")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    n = len(y)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and N - 1 = {n - 1} for {n} points; got {k}")
    indices, scores = retrieve(features, features, k=k, exclude_self=True, device="cpu")
    weights = np.exp((scores - scores[:, :1]) / temperature)  # (N, k), largest weight 1
    votes = np.zeros((n, int(y.max()) + 1))  # (N, C)
    np.add.at(votes, (np.repeat(np.arange(n), k), y[indices].ravel()), weights.ravel())
    return float((votes.argmax(axis=1) == y).mean())


def budget_probe(
    features_of: Callable[[np.ndarray], np.ndarray],
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    *,
    n_per_class: int | str | None,
    seeds: Sequence[int] = (0, 1, 2),
    C: float = 1.0,
    max_iter: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The linear probe trained on ``n_per_class`` labels per class, averaged over ``seeds``.

    For each seed, ``idx = subsample_per_class(train_labels, n_per_class, seed=seed)`` and
    ``features_of(idx) -> (len(idx), D)`` supplies the training features; the probe
    (``ssl_core.evaluate.linear_probe``, same seed) is scored on ``test_features (M, D)``.
    ``n_per_class`` None or ``"all"`` trains once on every item, with the first seed. The row has
    the keys of ``label_efficiency``'s rows (``n_per_class``, ``n_train``, ``mean_accuracy``,
    ``std_accuracy`` (sample std, 0.0 for one run), ``accuracies``, ``seeds``) and gives the same
    numbers when ``features_of`` indexes the full feature array. ``progress(done, total)`` is
    called before each seed's probe and once at the end.
    """
    if len(seeds) == 0:
        raise ValueError("seeds must name at least one seed")
    y_train = np.asarray(train_labels, dtype=np.int64)
    y_test = np.asarray(test_labels, dtype=np.int64)
    use_all = n_per_class is None or n_per_class == "all"
    run_seeds = [seeds[0]] if use_all else list(seeds)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    accuracies, n_train = [], 0
    for i, seed in enumerate(run_seeds):
        if progress is not None:
            progress(i, len(run_seeds))
        idx = subsample_per_class(y_train, n_per_class, seed=seed)  # (n_train,) sorted
        n_train = int(idx.size)
        train = np.asarray(features_of(idx))
        if train.shape[0] != idx.size:
            raise ValueError(f"features_of returned {train.shape[0]} rows for {idx.size} indices")
        result = linear_probe(train, y_train[idx], test_features, y_test, C=C, max_iter=max_iter,
                              seed=seed, num_classes=num_classes, device="cpu")
        accuracies.append(result.accuracy)
    if progress is not None:
        progress(len(run_seeds), len(run_seeds))
    return {
        "n_per_class": "all" if use_all else n_per_class,
        "n_train": n_train,
        "mean_accuracy": float(np.mean(accuracies)),
        "std_accuracy": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
        "accuracies": accuracies,
        "seeds": run_seeds,
    }
