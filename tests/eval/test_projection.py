"""Tests for ssl_core.eval.projection: UMAP / PCA / t-SNE projections of features."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from ssl_core.eval.projection import _exact_knn, project


def blobs(n_per_class: int, *, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated gaussian blobs in ``dim`` dims: ``(3 n, dim)``, labels ``(3 n,)``."""
    rng = np.random.default_rng(seed)
    centres = np.ones((3, dim), dtype=np.float32)
    centres[np.arange(3), np.arange(3)] = 4.0  # (3, D) centres on different axes
    labels = np.repeat(np.arange(3), n_per_class)
    features = centres[labels] + 0.3 * rng.standard_normal((labels.size, dim))
    return features.astype(np.float32), labels


def one_nn_leave_one_out(points: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of points whose nearest other point (euclidean) has the same label."""
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)  # (N, N)
    np.fill_diagonal(distances, np.inf)
    return float((labels[distances.argmin(axis=1)] == labels).mean())


@pytest.mark.slow
def test_umap_keeps_separable_blobs_separate_and_is_deterministic():
    features, labels = blobs(70)  # 210 points; two UMAP calls in all (numba compiles once)
    first = project(features, "umap", seed=3)
    assert first.shape == (210, 2) and first.dtype == np.float32
    assert np.isfinite(first).all()
    assert one_nn_leave_one_out(first, labels) >= 0.95
    np.testing.assert_array_equal(project(features, "umap", seed=3), first)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_pca_and_tsne_shapes_determinism_and_separation(method):
    features, labels = blobs(40, dim=80)  # wider than pca_dims=50: t-SNE pre-reduces
    first = project(features, method, seed=1)
    assert first.shape == (120, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(project(features, method, seed=1), first)
    assert one_nn_leave_one_out(first, labels) >= 0.95


def test_three_components_and_tensor_input():
    features, _ = blobs(20)
    out = project(torch.from_numpy(features), "pca", n_components=3)
    assert out.shape == (60, 3)
    assert project(features, "tsne", n_components=3, perplexity=10).shape == (60, 3)


def test_pca_euclidean_on_2d_data_keeps_all_distances():
    rng = np.random.default_rng(0)
    points = rng.standard_normal((25, 2)).astype(np.float32) * [3.0, 0.5]
    out = project(points, "pca", metric="euclidean")
    before = np.linalg.norm(points[:, None] - points[None], axis=-1)
    after = np.linalg.norm(out[:, None] - out[None], axis=-1)
    np.testing.assert_allclose(after, before, atol=1e-5)  # a rotation / reflection only


def test_cosine_metric_ignores_the_length_of_each_feature():
    features, _ = blobs(20)
    scales = np.random.default_rng(1).uniform(0.1, 10.0, size=(60, 1)).astype(np.float32)
    np.testing.assert_allclose(
        project(features * scales, "pca"), project(features, "pca"), atol=1e-5
    )
    assert not np.allclose(
        project(features * scales, "pca", metric="euclidean"),
        project(features, "pca", metric="euclidean"),
        atol=1e-3,
    )


def test_project_rejects_bad_arguments():
    features, _ = blobs(10)  # 30 points
    with pytest.raises(ValueError, match=r"method must be one of \('umap', 'pca', 'tsne'\)"):
        project(features, "isomap")
    with pytest.raises(ValueError, match=r"metric must be one of \('cosine', 'euclidean'\)"):
        project(features, "pca", metric="manhattan")
    with pytest.raises(ValueError, match="at least 3 points; got 2"):
        project(features[:2], "pca")
    with pytest.raises(ValueError, match="n_neighbors must be between 2 and N - 1 = 29"):
        project(features, "umap", n_neighbors=30)
    with pytest.raises(ValueError, match="min_dist must be in"):
        project(features, "umap", min_dist=-0.1)
    with pytest.raises(ValueError, match="perplexity must be > 0 and less than the number"):
        project(features, "tsne", perplexity=30)
    with pytest.raises(ValueError, match="t-SNE .* at most 3 components"):
        project(features, "tsne", n_components=4)
    with pytest.raises(ValueError, match=r"at most min\(N, D\) = 16 components"):
        project(features, "pca", n_components=17)
    with pytest.raises(ValueError, match="2-D array"):
        project(features[0], "pca")
    bad = features.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        project(bad, "pca")


def test_exact_knn_matches_brute_force_with_self_first():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((70, 5)).astype(np.float32)
    x[10] = x[11]  # a duplicate: each copy must still list itself first
    indices, distances, index = _exact_knn(x, 6, chunk=16)
    brute = np.linalg.norm(x[:, None].astype(np.float64) - x[None], axis=-1)  # (N, N)
    brute[np.arange(70), np.arange(70)] = -1.0
    nearest = np.sort(brute, axis=1)[:, 1:6]  # (N, 5) distances of the 5 nearest others
    np.testing.assert_array_equal(indices[:, 0], np.arange(70))
    np.testing.assert_allclose(distances[:, 1:], nearest, atol=1e-5)
    # The returned indices are at the returned distances (ties, like 10 and 11, in any order).
    np.testing.assert_allclose(np.take_along_axis(brute, indices, 1)[:, 1:], nearest, atol=1e-5)
    assert distances[:, 0].max() < 1e-3 and index is None


@pytest.mark.slow
def test_importing_project_does_not_import_umap_or_numba():
    code = ("import sys, ssl_core.eval.projection; "
            "print('umap' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["False", "False"]
