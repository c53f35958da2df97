"""Tests for ssl_core.eval: features, weighted kNN, probes, label efficiency, retrieval."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from ssl_core.eval import (
    ProbeResult,
    RawPixels,
    extract_features,
    knn_accuracy,
    knn_predict,
    label_efficiency,
    linear_probe,
    patch_similarity,
    probe_encoder,
    retrieve,
    subsample_per_class,
    weights_fingerprint,
)

# --------------------------------------------------------------------------------------------
# Fixtures: a toy separable set and tiny encoders that satisfy the contract
# --------------------------------------------------------------------------------------------


def blobs(
    n_per_class: int, *, num_classes: int = 3, dim: int = 16, spread: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated gaussian blobs: centres on different axes at distance ~4, noise ``spread``."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((num_classes, dim), dtype=np.float32)
    centres[np.arange(num_classes), np.arange(num_classes)] = 3.0  # (C, D) distinct axes
    centres += 1.0  # a common offset, so the centres are not orthogonal through the origin
    labels = np.repeat(np.arange(num_classes), n_per_class).astype(np.int64)  # (N,)
    features = centres[labels] + spread * rng.standard_normal((labels.size, dim))  # (N, D)
    return features.astype(np.float32), labels


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train_x, train_y = blobs(100, seed=0)  # 300 items
    test_x, test_y = blobs(50, seed=1)  # 150 items
    return train_x, train_y, test_x, test_y


class LinearEncoder(nn.Module):
    """Flatten + Linear: ``forward_features(x: (B, C, H, W)) -> (B, dim)``."""

    def __init__(self, in_features: int, dim: int = 8) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, dim)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class MutatingEncoder(LinearEncoder):
    """Secretly updates its own weight on every forward pass."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.linear.weight.add_(1e-3)
        return super().forward_features(x)


class BatchNormEncoder(nn.Module):
    """Has batch-norm buffers, which a forward pass in train mode would update."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 8)
        self.norm = nn.BatchNorm1d(8)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(x.flatten(1)))


class ListDataset(torch.utils.data.Dataset):
    """``dataset[i] -> (image tensor, int label)``, like ssl_core.data's datasets."""

    def __init__(self, images: list, labels: list[int]) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


def image_blobs(n_per_class: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The blobs reshaped to 1 x 4 x 4 float images: ``(N, 1, 4, 4)``, labels ``(N,)``."""
    x, y = blobs(n_per_class, seed=seed)
    return x.reshape(-1, 1, 4, 4), y


def weighted_knn_loop(
    train: np.ndarray, labels: np.ndarray, query: np.ndarray, *, k: int, t: float, classes: int
) -> np.ndarray:
    """Slow reference: cosine to every train item, top-k, then sum exp(sim / t) per class."""
    predictions = []
    for q in query:
        sims = []
        for f in train:
            sims.append(float(q @ f) / (np.linalg.norm(q) * np.linalg.norm(f)))
        order = np.argsort(-np.array(sims), kind="stable")[:k]
        scores = [0.0] * classes
        for j in order:
            scores[labels[j]] += math.exp(sims[j] / t)
        predictions.append(int(np.argmax(scores)))
    return np.array(predictions)


# --------------------------------------------------------------------------------------------
# Weighted kNN
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [20, 200])
def test_knn_reaches_full_accuracy_on_separable_blobs(toy, k):
    train_x, train_y, test_x, test_y = toy
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=k) >= 0.99


@pytest.mark.parametrize(
    "seed, k, t", [(0, 1, 0.1), (1, 3, 0.1), (2, 5, 0.5), (3, 7, 1.0), (4, 12, 0.05)]
)
def test_knn_predict_matches_loop_reference(seed, k, t):
    rng = np.random.default_rng(seed)
    train = rng.standard_normal((40, 6)).astype(np.float32)
    labels = rng.integers(0, 4, size=40)
    query = rng.standard_normal((15, 6)).astype(np.float32)
    expected = weighted_knn_loop(train, labels, query, k=k, t=t, classes=4)
    got = knn_predict(train, labels, query, k=k, temperature=t, num_classes=4, batch_size=4)
    np.testing.assert_array_equal(got, expected)


def test_knn_temperature_decides_a_hand_built_vote():
    # Query (1, 0). Class 0: one neighbour at cosine 1. Class 1: cosines 0 and 0.6.
    train = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    labels = np.array([0, 1, 1])
    query = np.array([[2.0, 0.0]], dtype=np.float32)  # norm does not matter
    # T = 1: e^1 = 2.72 for class 0 < e^0 + e^0.6 = 2.82 for class 1.
    assert knn_predict(train, labels, query, k=3, temperature=1.0).tolist() == [1]
    # T = 0.1: e^10 = 22026 for class 0 > 1 + e^6 = 404 for class 1.
    assert knn_predict(train, labels, query, k=3, temperature=0.1).tolist() == [0]


def test_knn_query_equal_to_train_with_k1_is_perfect():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 10)).astype(np.float32)
    y = rng.integers(0, 5, size=50)
    assert knn_accuracy(x, y, x, y, k=1) == 1.0


def test_knn_tiny_temperature_is_the_nearest_neighbour_and_does_not_overflow():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((60, 8)).astype(np.float32)
    labels = rng.integers(0, 3, size=60)
    query = rng.standard_normal((20, 8)).astype(np.float32)
    nearest, _ = retrieve(query, train, k=1)  # (Q, 1)
    got = knn_predict(train, labels, query, k=30, temperature=1e-4)  # exp(1e4) would overflow
    np.testing.assert_array_equal(got, labels[nearest[:, 0]])


def test_knn_chunking_and_input_types_do_not_change_predictions(toy):
    train_x, train_y, test_x, _ = toy
    reference = knn_predict(train_x, train_y, test_x, k=20, batch_size=1000)
    np.testing.assert_array_equal(
        knn_predict(train_x, train_y, test_x, k=20, batch_size=7), reference
    )
    np.testing.assert_array_equal(
        knn_predict(
            torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(test_x), k=20
        ),
        reference,
    )
    assert reference.dtype == np.int64 and reference.shape == (150,)


def test_knn_rejects_bad_arguments(toy):
    train_x, train_y, test_x, _ = toy
    with pytest.raises(ValueError, match=r"k=301 exceeds the 300 training features"):
        knn_predict(train_x, train_y, test_x, k=301)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        knn_predict(train_x, train_y, test_x, temperature=0.0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        knn_predict(train_x, train_y, test_x, k=0)
    with pytest.raises(ValueError, match="D=4 but train_features have D=16"):
        knn_predict(train_x, train_y, test_x[:, :4])
    with pytest.raises(ValueError, match="negative values"):
        knn_predict(train_x, np.full_like(train_y, -1), test_x, k=5)
    with pytest.raises(ValueError, match=r"train_labels must have shape \(300,\)"):
        knn_predict(train_x, train_y[:10], test_x)
    with pytest.raises(ValueError, match="num_classes=2"):
        knn_predict(train_x, train_y, test_x, k=5, num_classes=2)
    bad = train_x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        knn_predict(bad, train_y, test_x, k=5)


# --------------------------------------------------------------------------------------------
# Linear probe
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sklearn", "torch"])
def test_probe_reaches_full_accuracy_on_separable_blobs(toy, method):
    result = linear_probe(*toy, method=method)
    assert isinstance(result, ProbeResult)
    assert result.accuracy >= 0.99
    assert (result.n_train, result.n_test) == (300, 150)
    assert result.confusion.shape == (3, 3) and result.confusion.sum() == 150
    assert result.confusion.sum(axis=1).tolist() == [50, 50, 50]
    np.testing.assert_allclose(result.per_class_accuracy, np.diag(result.confusion) / 50)
    assert result.encoder_unchanged is None
    assert "logistic regression" in result.protocol and "standardised" in result.protocol


def test_sklearn_and_torch_probes_solve_the_same_problem():
    # Overlapping blobs, so that the answer depends on the fitted weights.
    train_x, train_y = blobs(80, spread=2.0, seed=3)
    test_x, test_y = blobs(80, spread=2.0, seed=4)
    a = linear_probe(train_x, train_y, test_x, test_y, method="sklearn", C=0.5)
    b = linear_probe(train_x, train_y, test_x, test_y, method="torch", C=0.5)
    assert 0.5 < a.accuracy < 0.99  # the problem is not trivial
    assert abs(a.accuracy - b.accuracy) <= 1 / 240
    assert np.abs(a.confusion - b.confusion).sum() <= 4


def test_torch_probe_is_deterministic_for_a_seed(toy):
    a = linear_probe(*toy, method="torch", seed=5, max_iter=3)
    b = linear_probe(*toy, method="torch", seed=5, max_iter=3)
    np.testing.assert_array_equal(a.confusion, b.confusion)


def test_probe_per_class_accuracy_is_nan_for_a_class_missing_from_the_test_set(toy):
    train_x, train_y, test_x, test_y = toy
    keep = test_y != 2
    result = linear_probe(train_x, train_y, test_x[keep], test_y[keep], num_classes=4)
    assert result.confusion.shape == (4, 4)
    assert np.isnan(result.per_class_accuracy[2]) and np.isnan(result.per_class_accuracy[3])
    assert result.per_class_accuracy[0] >= 0.98


def test_probe_standardisation_keeps_constant_features_finite(toy):
    train_x, train_y, test_x, test_y = toy
    train_x = np.concatenate([train_x, np.ones((300, 3), np.float32)], axis=1)  # constant columns
    test_x = np.concatenate([test_x, np.ones((150, 3), np.float32)], axis=1)
    assert linear_probe(train_x, train_y, test_x, test_y).accuracy >= 0.99


def test_probe_rejects_bad_arguments(toy):
    train_x, train_y, test_x, test_y = toy
    with pytest.raises(ValueError, match=r"method must be one of \('sklearn', 'torch'\)"):
        linear_probe(*toy, method="svm")
    with pytest.raises(ValueError, match="only class"):
        linear_probe(train_x[:100], train_y[:100], test_x, test_y)
    with pytest.raises(ValueError, match="C must be > 0"):
        linear_probe(*toy, C=0)
    with pytest.raises(ValueError, match="D=5 but train_features have D=16"):
        linear_probe(train_x, train_y, test_x[:, :5], test_y)


# --------------------------------------------------------------------------------------------
# Feature extraction and probing an encoder
# --------------------------------------------------------------------------------------------


def test_extract_features_batches_a_tuple_with_a_ragged_last_batch():
    torch.manual_seed(0)
    encoder = LinearEncoder(16)
    images = torch.rand(10, 1, 4, 4)
    labels = np.arange(10)
    seen = []
    features, out_labels = extract_features(
        encoder,
        (images, labels),
        batch_size=4,
        progress=lambda done, total: seen.append((done, total)),
    )
    with torch.no_grad():
        expected = encoder.forward_features(images).numpy()
    assert features.dtype == np.float32 and features.shape == (10, 8)
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out_labels, labels)
    assert out_labels.dtype == np.int64
    assert seen == [(4, 10), (8, 10), (10, 10)]


def test_extract_features_scales_uint8_grayscale_arrays_and_accepts_read_only_ones():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 5, 6), dtype=np.uint8)  # (N, H, W)
    images.flags.writeable = False  # like ssl_core.data's idx arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features, _ = extract_features(RawPixels(), (images, np.zeros(7, np.int64)), batch_size=3)
    np.testing.assert_allclose(features, images.reshape(7, -1) / 255.0, atol=1e-7)
    assert features.max() <= 1.0


def test_extract_features_from_a_dataset_of_uint8_tensors_with_a_transform():
    rng = np.random.default_rng(0)
    images = [torch.from_numpy(rng.integers(0, 256, (3, 2, 2), dtype=np.uint8)) for _ in range(5)]
    dataset = ListDataset(images, [0, 1, 2, 1, 0])
    features, labels = extract_features(
        RawPixels(), dataset, batch_size=2, transform=lambda x: 2.0 * x - 1.0
    )
    expected = torch.stack(images).float().div(255).mul(2).sub(1).flatten(1).numpy()
    np.testing.assert_allclose(features, expected, atol=1e-6)
    assert labels.tolist() == [0, 1, 2, 1, 0]


@pytest.mark.parametrize("was_training", [True, False])
def test_extract_features_runs_in_eval_mode_and_restores_modes(was_training):
    encoder = BatchNormEncoder(16)
    encoder.train(was_training)
    encoder.linear.eval()  # a submodule in its own mode must keep it
    modes_seen = []

    def spy(module, args):
        modes_seen.append(module.training)

    encoder.norm.register_forward_pre_hook(spy)
    extract_features(encoder, (torch.rand(6, 1, 4, 4), np.zeros(6, np.int64)), batch_size=4)
    assert modes_seen == [False, False]
    assert encoder.training is was_training and encoder.norm.training is was_training
    assert encoder.linear.training is False


def test_extract_features_restores_modes_when_the_encoder_raises():
    class Broken(LinearEncoder):
        def forward_features(self, x):
            raise RuntimeError("boom")

    encoder = Broken(16).train()
    with pytest.raises(RuntimeError, match="boom"):
        extract_features(encoder, (torch.rand(2, 1, 4, 4), np.zeros(2, np.int64)))
    assert encoder.training


def test_extract_features_rejects_bad_inputs():
    data = (torch.rand(4, 1, 4, 4), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="has no forward_features method"):
        extract_features(nn.Linear(16, 2), data)
    with pytest.raises(ValueError, match=r"move it yourself with encoder.to\('cuda'\)"):
        extract_features(LinearEncoder(16), data, device="cuda")

    class TokenEncoder(LinearEncoder):
        def forward_features(self, x):
            return super().forward_features(x).unsqueeze(1)  # (B, 1, D): not the contract

    with pytest.raises(ValueError, match=r"must return \(B, D\)"):
        extract_features(TokenEncoder(16), data)
    with pytest.raises(ValueError, match="uint8 .* or float; got dtype torch.int32"):
        extract_features(RawPixels(), (torch.zeros(4, 1, 4, 4, dtype=torch.int32), data[1]))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        extract_features(RawPixels(), (data[0], np.zeros(3, np.int64)))
    ragged = ListDataset([torch.zeros(1, 4, 4), torch.zeros(1, 5, 5)], [0, 1])
    with pytest.raises(ValueError, match="different shapes .* transform that resizes"):
        extract_features(RawPixels(), ragged)
    with pytest.raises(ValueError, match="data is empty"):
        extract_features(RawPixels(), (torch.zeros(0, 1, 4, 4), np.zeros(0, np.int64)))


def test_probe_encoder_passes_for_a_frozen_encoder_and_leaves_it_alone():
    torch.manual_seed(0)
    encoder = BatchNormEncoder(16).train()  # train mode: a careless forward would move BN stats
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    train = image_blobs(60, seed=0)
    test = image_blobs(30, seed=1)
    seen = []
    result = probe_encoder(
        encoder, train, test, batch_size=64, progress=lambda d, t: seen.append((d, t))
    )
    assert result.encoder_unchanged is True
    assert result.accuracy >= 0.95  # a random linear map of separable blobs stays separable
    assert "verified unchanged" in result.protocol
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert encoder.training
    assert seen == [(64, 270), (128, 270), (180, 270), (244, 270), (270, 270)]


def test_probe_encoder_detects_an_encoder_that_changes_its_weights():
    with pytest.raises(RuntimeError, match="MutatingEncoder changed while extracting"):
        probe_encoder(MutatingEncoder(16), image_blobs(5, seed=0), image_blobs(5, seed=1))


def test_weights_fingerprint_sees_any_change_to_parameters_or_buffers():
    encoder = BatchNormEncoder(16).to(torch.bfloat16)
    first = weights_fingerprint(encoder)
    assert weights_fingerprint(encoder) == first
    with torch.no_grad():
        encoder.norm.running_mean[3] += 1
    assert weights_fingerprint(encoder) != first


def test_raw_pixels_probe_gives_the_pixel_baseline():
    train = image_blobs(40, seed=0)
    test = image_blobs(20, seed=1)
    train_x, train_y = extract_features(RawPixels(), train)
    test_x, test_y = extract_features(RawPixels(), test)
    np.testing.assert_array_equal(train_x, train[0].reshape(120, 16))
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=20) >= 0.99


# --------------------------------------------------------------------------------------------
# Label efficiency
# --------------------------------------------------------------------------------------------


def test_subsample_per_class_counts_nesting_and_determinism():
    labels = np.repeat([0, 1, 2], [5, 12, 20])
    for n in (1, 3, 5):
        idx = subsample_per_class(labels, n, seed=0)
        assert np.bincount(labels[idx]).tolist() == [n, n, n]
        assert np.all(np.diff(idx) > 0)  # sorted, no repeats
    small = set(subsample_per_class(labels, 2, seed=7))
    assert small <= set(subsample_per_class(labels, 5, seed=7))  # nested for one seed
    np.testing.assert_array_equal(
        subsample_per_class(labels, 3, seed=1), subsample_per_class(labels, 3, seed=1)
    )
    draws = {tuple(subsample_per_class(labels, 3, seed=s)) for s in range(5)}
    assert len(draws) > 1  # seeds matter
    np.testing.assert_array_equal(subsample_per_class(labels, None), np.arange(37))
    np.testing.assert_array_equal(subsample_per_class(labels, "all"), np.arange(37))


def test_subsample_per_class_rejects_bad_counts():
    labels = np.repeat([0, 1, 2], [5, 12, 20])
    with pytest.raises(ValueError, match="class 0 has only 5 items, fewer than n_per_class=6"):
        subsample_per_class(labels, 6)
    with pytest.raises(ValueError, match="n_per_class must be a positive integer"):
        subsample_per_class(labels, 0)
    with pytest.raises(ValueError, match="positive int, None or 'all'"):
        subsample_per_class(labels, "some")


def test_label_efficiency_rows(toy):
    rows = label_efficiency(*toy, n_per_class=(1, 10, None), seeds=(0, 1, 2))
    assert [row["n_per_class"] for row in rows] == [1, 10, "all"]
    assert [row["n_train"] for row in rows] == [3, 30, 300]
    assert [len(row["accuracies"]) for row in rows] == [3, 3, 1]
    assert rows[2]["seeds"] == [0] and rows[2]["std_accuracy"] == 0.0
    for row in rows:
        assert row["mean_accuracy"] == pytest.approx(np.mean(row["accuracies"]))
        assert 0.0 <= row["mean_accuracy"] <= 1.0
    assert rows[0]["std_accuracy"] == pytest.approx(np.std(rows[0]["accuracies"], ddof=1))
    assert rows[1]["mean_accuracy"] >= 0.99 and rows[2]["mean_accuracy"] >= 0.99
    with pytest.raises(ValueError, match="fewer than n_per_class=101"):
        label_efficiency(*toy, n_per_class=(101,))


# --------------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------------


def test_retrieval_returns_the_query_first_with_score_one():
    rng = np.random.default_rng(0)
    gallery = rng.standard_normal((40, 12)).astype(np.float32)
    queries = gallery[[3, 17, 39]] * 2.5  # the same directions, scaled
    indices, scores = retrieve(queries, gallery, k=5, batch_size=2)
    assert indices.shape == scores.shape == (3, 5) and indices.dtype == np.int64
    assert indices[:, 0].tolist() == [3, 17, 39]
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-6)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_retrieval_scores_match_brute_force_cosine():
    rng = np.random.default_rng(1)
    gallery = rng.standard_normal((30, 7))
    queries = rng.standard_normal((4, 7))
    cosine = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    ).T  # (4, 30)
    indices, scores = retrieve(queries, gallery, k=6)
    np.testing.assert_array_equal(indices, np.argsort(-cosine, axis=1)[:, :6])
    np.testing.assert_allclose(scores, np.take_along_axis(cosine, indices, 1), atol=1e-6)


def test_retrieval_exclude_self():
    rng = np.random.default_rng(2)
    gallery = rng.standard_normal((20, 5)).astype(np.float32)
    indices, scores = retrieve(gallery, gallery, k=19, exclude_self=True, batch_size=6)
    for i in range(20):
        assert i not in indices[i]
    assert np.all(scores < 1.0 - 1e-6)
    with pytest.raises(ValueError, match="k=20 exceeds the 19 gallery items"):
        retrieve(gallery, gallery, k=20, exclude_self=True)
    with pytest.raises(ValueError, match="Q must equal N"):
        retrieve(gallery[:3], gallery, k=2, exclude_self=True)


def test_patch_similarity_heat_map():
    tokens = torch.zeros(6, 3)  # a 2 x 3 grid of patches
    tokens[0] = torch.tensor([1.0, 0.0, 0.0])  # the query direction
    tokens[1] = torch.tensor([-2.0, 0.0, 0.0])  # opposite
    tokens[2] = torch.tensor([0.0, 1.0, 0.0])  # orthogonal
    tokens[3:] = torch.tensor([1.0, 1.0, 0.0])  # 45 degrees
    heat = patch_similarity(torch.tensor([3.0, 0.0, 0.0]), tokens, (2, 3))
    assert heat.shape == (2, 3) and heat.dtype == np.float32
    np.testing.assert_allclose(heat, [[1, -1, 0], [2**-0.5] * 3], atol=1e-6)
    # Query tokens are averaged: the mean of (1, 1, 0) and (1, -1, 0) is (1, 0, 0).
    query_tokens = np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]])
    np.testing.assert_allclose(patch_similarity(query_tokens, tokens, (2, 3)), heat, atol=1e-6)
    square = patch_similarity(np.ones(3), torch.ones(4, 3), 2)
    np.testing.assert_allclose(square, np.ones((2, 2)), atol=1e-6)
    with pytest.raises(ValueError, match="grid 3x3 = 9 patches does not match 6 patch tokens"):
        patch_similarity(np.ones(3), tokens, 3)
    with pytest.raises(ValueError, match="query has D=4"):
        patch_similarity(np.ones(4), tokens, (2, 3))
