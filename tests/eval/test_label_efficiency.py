"""Tests for ssl_core.eval: leave-one-out kNN and the label-budget probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_core.eval import budget_probe, label_efficiency, loo_knn_accuracy


def _slow_loo_knn(features, labels, k, temperature):
    x = features / np.linalg.norm(features, axis=1, keepdims=True)
    sim = x @ x.T
    correct = 0
    for i in range(len(x)):
        others = [j for j in range(len(x)) if j != i]
        top = sorted(others, key=lambda j: -sim[i, j])[:k]
        votes = {}
        for j in top:
            votes[labels[j]] = votes.get(labels[j], 0.0) + np.exp(sim[i, j] / temperature)
        correct += max(votes, key=votes.get) == labels[i]
    return correct / len(x)


@pytest.mark.parametrize(("k", "temperature"), [(1, 0.1), (5, 0.1), (9, 1.0)])
def test_loo_knn_matches_a_slow_loop(k, temperature):
    rng = np.random.default_rng(k)
    labels = rng.integers(0, 3, 40)
    features = rng.standard_normal((40, 6)) + 1.5 * np.eye(6)[labels]
    fast = loo_knn_accuracy(features.astype(np.float32), labels, k=k, temperature=temperature)
    assert fast == pytest.approx(_slow_loo_knn(features, labels, k, temperature))


def test_loo_knn_separates_clusters_from_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)
    clustered = np.eye(8)[labels] * 5 + rng.standard_normal((100, 8)) * 0.1
    assert loo_knn_accuracy(clustered, labels, k=5) == 1.0
    assert loo_knn_accuracy(rng.standard_normal((100, 8)), labels, k=5) < 0.5
    with pytest.raises(ValueError, match="k must be between 1 and N - 1"):
        loo_knn_accuracy(clustered, labels, k=100)
    with pytest.raises(ValueError, match="negative"):
        loo_knn_accuracy(clustered, labels - 1, k=5)


@pytest.mark.parametrize("n", [2, "all"])
def test_budget_probe_equals_label_efficiency_and_asks_only_for_its_items(n):
    rng = np.random.default_rng(0)
    y_train, y_test = np.repeat(np.arange(3), 10), np.repeat(np.arange(3), 5)
    train = (np.eye(4)[y_train] + rng.standard_normal((30, 4)) * 0.8).astype(np.float32)
    test = (np.eye(4)[y_test] + rng.standard_normal((15, 4)) * 0.8).astype(np.float32)
    asked: list[int] = []
    steps: list[tuple[int, int]] = []

    def features_of(idx):
        asked.append(len(idx))
        return torch.from_numpy(train[idx]).numpy()

    row = budget_probe(features_of, y_train, test, y_test, n_per_class=n, seeds=(0, 1),
                       progress=lambda done, total: steps.append((done, total)))
    (reference,) = label_efficiency(train, y_train, test, y_test, n_per_class=(n,), seeds=(0, 1))
    assert row == pytest.approx(reference)
    assert asked == ([6, 6] if n == 2 else [30])
    assert steps[-1][0] == steps[-1][1] == len(row["seeds"])


def test_budget_probe_checks_the_callback():
    y = np.repeat(np.arange(2), 4)
    with pytest.raises(ValueError, match="returned 1 rows"):
        budget_probe(lambda idx: np.zeros((1, 2)), y, np.zeros((2, 2)), np.array([0, 1]),
                     n_per_class=2)
