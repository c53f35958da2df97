"""How accuracy grows with labels: the linear probe on 1, 10, 100 ... labels per class.

:func:`subsample_per_class` draws nested label subsets (the 1-per-class draw inside the 10 one
for a seed), :func:`budget_probe` trains the probe on one budget, averaged over seeds, asking a
callback for the features of just the items each seed draws (10 labels per class needs features
for 100 images, not for the whole training set), and :func:`label_efficiency` runs it for each
budget on features already extracted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ssl_core.eval.arrays import ArrayLike, as_features, as_labels, check_positive_int
from ssl_core.eval.probe import linear_probe

__all__ = ["budget_probe", "label_efficiency", "subsample_per_class"]


def subsample_per_class(
    labels: ArrayLike, n_per_class: int | str | None, *, seed: int = 0
) -> np.ndarray:
    """Indices (sorted, int64) of ``n_per_class`` items drawn without replacement from each class.

    ``n_per_class`` None or ``"all"`` returns every index. For a fixed seed the draws are nested:
    the 1-per-class subset is inside the 10-per-class subset, which is inside the 100 one (each
    class is shuffled once and the first ``n`` are taken), so a label-efficiency curve compares
    growing sets rather than unrelated ones.
    """
    y = as_labels(labels, "labels", len(labels))
    if n_per_class is None or (isinstance(n_per_class, str) and n_per_class == "all"):
        return np.arange(y.shape[0], dtype=np.int64)
    if isinstance(n_per_class, str):
        raise ValueError(f"n_per_class must be a positive int, None or 'all'; got {n_per_class!r}")
    check_positive_int(n_per_class, "n_per_class")
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        if members.size < n_per_class:
            raise ValueError(
                f"class {cls} has only {members.size} items, fewer than n_per_class={n_per_class}; "
                f"pass n_per_class <= {members.size} or 'all'"
            )
        chosen.append(rng.permutation(members)[:n_per_class])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def budget_probe(
    features_of: Callable[[np.ndarray], np.ndarray],
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    *,
    n_per_class: int | str | None,
    seeds: Sequence[int] = (0, 1, 2),
    method: str = "sklearn",
    C: float = 1.0,
    max_iter: int = 1000,
    standardize: bool = True,
    device: str | torch.device | None = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The linear probe trained on ``n_per_class`` labels per class, averaged over ``seeds``.

    For each seed, ``idx = subsample_per_class(train_labels, n_per_class, seed=seed)`` and
    ``features_of(idx) -> (len(idx), D)`` supplies the training features; the probe
    (:func:`~ssl_core.eval.probe.linear_probe`, same seed) is scored on ``test_features (M, D)``.
    ``n_per_class`` None or ``"all"`` trains once on every item, with the first seed. Returns
    ``{"n_per_class": 10 or "all", "n_train": 100, "mean_accuracy", "std_accuracy" (sample std
    over seeds, 0.0 for one run), "accuracies": [...], "seeds": [...]}``.
    ``progress(done, total)`` is called before each seed's probe and once at the end.
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
        result = linear_probe(train, y_train[idx], test_features, y_test, method=method, C=C,
                              max_iter=max_iter, standardize=standardize, seed=seed,
                              num_classes=num_classes, device=device)
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


def label_efficiency(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    *,
    n_per_class: Sequence[int | str | None] = (1, 10, 100, None),
    seeds: Sequence[int] = (0, 1, 2),
    method: str = "sklearn",
    C: float = 1.0,
    max_iter: int = 1000,
    standardize: bool = True,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """Linear-probe accuracy with ``n`` labelled training items per class, for each ``n``: one
    :func:`budget_probe` row per entry of ``n_per_class``, in the order given, scored on the full
    test set (``"n_per_class"`` as an int, or ``"all"``)."""
    if len(seeds) == 0:
        raise ValueError("seeds must name at least one seed")
    cpu = torch.device("cpu")
    train = as_features(train_features, "train_features", cpu).numpy()
    test = as_features(test_features, "test_features", cpu).numpy()
    y_train = as_labels(train_labels, "train_labels", train.shape[0])
    y_test = as_labels(test_labels, "test_labels", test.shape[0])
    rows = []
    for n in n_per_class:
        row = budget_probe(lambda idx: train[idx], y_train, test, y_test, n_per_class=n,
                           seeds=seeds, method=method, C=C, max_iter=max_iter,
                           standardize=standardize, device=device)
        rows.append(row | {"n_per_class": row["n_per_class"] if row["n_per_class"] == "all"
                           else int(row["n_per_class"])})
    return rows
