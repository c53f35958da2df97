"""Weighted kNN on frozen features (InstDisc, Wu et al. 2018), as lightly's benchmarks run it.

Features are L2-normalised, each query takes its ``k`` most cosine-similar labelled features,
and each neighbour votes for its class with weight ``exp(sim / T)``; defaults ``k=200, T=0.1``.
:func:`loo_knn_accuracy` scores a point set against itself, each point left out of its own
vote. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ssl_core.eval.arrays import (
    ArrayLike,
    as_features,
    as_labels,
    check_positive_int,
    maths_device,
)
from ssl_core.eval.retrieval import cosine_topk, retrieve

__all__ = ["knn_accuracy", "knn_predict", "loo_knn_accuracy"]


def knn_predict(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    query_features: ArrayLike,
    *,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Weighted kNN predictions ``(Q,)`` int64 for ``query_features (Q, D)``.

    The protocol of InstDisc (Wu et al. 2018) and lightly's ``knn_predict`` benchmarks: features
    are L2-normalised, each query takes its ``k`` most cosine-similar training features, and each
    neighbour votes for its class with weight ``exp(sim / temperature)``; the class with the largest
    summed weight wins (ties go to the lower class index). The weights are computed as
    ``exp((sim - max sim) / temperature)``, the same vote scaled by a per-query constant, so that a
    small temperature cannot overflow.

    Args:
        train_features: ``(N, D)``; train_labels: ``(N,)`` non-negative ints.
        query_features: ``(Q, D)``.
        k: neighbours per query; 200 (lightly's benchmarks) or 20 are the usual choices. ``k``
            larger than N raises ValueError rather than silently voting with fewer neighbours.
        temperature: softness of the vote; small values approach a plain majority of the closest.
        num_classes: defaults to ``max(train_labels) + 1``.
        batch_size: queries per chunk; memory is about ``batch_size * N * 4`` bytes
            (512 x 60,000 -> 123 MB).
        device: where to compute; default the inputs' device if they are tensors, else CUDA when
            available, else CPU.
    """
    check_positive_int(k, "k")
    check_positive_int(batch_size, "batch_size")
    if not temperature > 0:
        raise ValueError(
            f"temperature must be > 0 (lightly's benchmarks use 0.1); got {temperature}"
        )
    dev = maths_device(device, train_features, query_features)
    train = as_features(train_features, "train_features", dev)  # (N, D)
    query = as_features(query_features, "query_features", dev)  # (Q, D)
    labels = as_labels(train_labels, "train_labels", train.shape[0])
    if query.shape[1] != train.shape[1]:
        raise ValueError(
            f"query_features have D={query.shape[1]} but train_features have D={train.shape[1]}"
        )
    if k > train.shape[0]:
        raise ValueError(
            f"k={k} exceeds the {train.shape[0]} training features; pass k <= {train.shape[0]}"
        )
    n_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    if labels.max() >= n_classes:
        raise ValueError(
            f"train_labels go up to {labels.max()} but num_classes={n_classes}; "
            "pass num_classes > max label or leave it None"
        )
    label_t = torch.from_numpy(labels).to(dev)  # (N,)
    predictions = []
    for sim, idx in cosine_topk(query, train, k=k, batch_size=batch_size):  # (b, k) each
        weights = ((sim - sim[:, :1]) / temperature).exp()  # (b, k), largest weight 1
        votes = torch.zeros(sim.shape[0], n_classes, device=dev)  # (b, C)
        votes.scatter_add_(1, label_t[idx], weights)
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions).cpu().numpy().astype(np.int64)


def knn_accuracy(train_features: ArrayLike, train_labels: ArrayLike, query_features: ArrayLike,
                 query_labels: ArrayLike, *, k: int = 200, temperature: float = 0.1,
                 num_classes: int | None = None, batch_size: int = 512,
                 device: str | torch.device | None = None) -> float:
    """Fraction of ``query_labels (Q,)`` that :func:`knn_predict` gets right, in ``[0, 1]``; the
    other arguments are :func:`knn_predict`'s."""
    truth = as_labels(query_labels, "query_labels", len(query_features))
    predicted = knn_predict(train_features, train_labels, query_features, k=k,
                            temperature=temperature, num_classes=num_classes,
                            batch_size=batch_size, device=device)
    return float((predicted == truth).mean())


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
    :func:`knn_predict`); the result is the share classified correctly.
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
