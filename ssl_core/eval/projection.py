"""2-D (or 3-D) projections of encoder features: UMAP, PCA and t-SNE.

:func:`project` maps features ``(N, D)`` to ``(N, n_components)`` with one of three methods:

- ``"umap"`` (umap-learn; McInnes et al. 2018): keeps local neighbourhoods and, more than t-SNE,
  some global layout. ``n_neighbors`` trades local detail (small) for global structure (large);
  ``min_dist`` sets how tightly points pack (0.0 tight clumps, 0.5 even spread).
- ``"pca"`` (scikit-learn): linear, fast, faithful to large-scale variance; clusters that differ
  in many small directions overlap.
- ``"tsne"`` (scikit-learn, ``init="pca"``): strong local clusters; distances between clusters
  and cluster sizes mean little. ``perplexity`` is roughly the number of neighbours it respects.

Geometry. The kNN and retrieval protocols compare features by cosine similarity, so with
``metric="cosine"`` (the default) the rows are L2-normalised first; on the unit sphere euclidean
distance is a monotone function of cosine (``|a - b|^2 = 2 - 2 cos(a, b)``), so every method then
runs with euclidean distances and respects the cosine geometry. ``metric="euclidean"`` uses the
features as they are.

Speed. For UMAP and t-SNE, features wider than ``pca_dims`` (default 50) are first reduced with
PCA to ``pca_dims`` dimensions (a standard step: it keeps the large-scale euclidean distances and
makes the neighbour search cheaper); pass ``pca_dims=None`` to skip it. Below 10,000 points the
UMAP neighbour graph is computed exactly here, in a few matrix products, and handed to umap-learn
(which would otherwise call a distance function once per pair of points from Python, and above
that compile its NN-descent kernels on first use); above that umap-learn's approximate
NN-descent runs as usual. UMAP defaults to ``n_epochs=200`` (umap-learn picks 500 below 10,000
points): the layout's trustworthiness is the same and the CPU time less than half. The timings
behind these choices are in docs/PERFORMANCE.md ("UMAP projections").

Cold start. umap-learn compiles numba kernels when it is first imported and first run in a
process (seconds, not milliseconds; numba keeps an on-disk cache in umap-learn's ``__pycache__``
or ``NUMBA_CACHE_DIR``). A long-lived program should call :func:`warm_up_umap` once at start so
that no user waits for the compiler. umap-learn and numba are imported only when ``"umap"`` is
asked for, so importing this module is cheap.

Determinism. Every method is seeded by ``seed``: the same inputs and arguments give the same
output. UMAP with a ``random_state`` runs single-threaded, which is what makes it reproducible.
"""

from __future__ import annotations

import warnings

import numpy as np
from torch import Tensor

__all__ = ["METHODS", "METRICS", "project", "warm_up_umap"]

METHODS = ("umap", "pca", "tsne")
METRICS = ("cosine", "euclidean")


def _as_array(features: np.ndarray | Tensor) -> np.ndarray:
    """Finite float32 ``(N, D)`` numpy array."""
    if isinstance(features, Tensor):
        features = features.detach().float().cpu().numpy()
    x = np.array(features, dtype=np.float32)  # a copy: the steps below normalise in place
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (N, D); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf; check the encoder's outputs")
    return x


def _pre_reduce(x: np.ndarray, pca_dims: int | None, seed: int) -> np.ndarray:
    """PCA to ``pca_dims`` dimensions when ``x`` is wider than that (and has enough rows)."""
    if pca_dims is None or x.shape[1] <= pca_dims or x.shape[0] <= pca_dims:
        return x
    from sklearn.decomposition import PCA

    return PCA(n_components=pca_dims, random_state=seed).fit_transform(x)  # (N, pca_dims)


# Below this many points umap-learn itself computes exact neighbours, but through a Python-level
# callback per pair (seconds for 2,000 points); _exact_knn does the same in a few matrix products
# (10,000 x 10,000 distances in blocks of 1,024 rows: ~80 MB at a time).
_EXACT_KNN_MAX_N = 10_000


def _exact_knn(x: np.ndarray, k: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, None]:
    """Exact euclidean ``k``-nearest neighbours of every row, itself first, in umap's layout.

    ``x: (N, D)`` -> ``(indices (N, k) int32, distances (N, k) float32, None)``, each row sorted
    by distance; umap-learn's ``precomputed_knn`` argument takes this triple.
    """
    x64 = x.astype(np.float64)  # float64 so that the distance of a point to itself is 0
    sq = (x64**2).sum(axis=1)  # (N,)
    rows = np.arange(x.shape[0])
    indices, distances = [], []
    for start in range(0, x.shape[0], chunk):
        block = (
            sq[start : start + chunk, None] + sq[None, :] - 2.0 * x64[start : start + chunk] @ x64.T
        )
        block = np.maximum(block, 0.0)  # (b, N) squared distances, rounding clipped at 0
        block[np.arange(block.shape[0]), rows[start : start + chunk]] = -1.0  # self comes first
        idx = np.argpartition(block, k - 1, axis=1)[:, :k]  # (b, k) unordered
        d = np.take_along_axis(block, idx, axis=1)
        order = np.argsort(d, axis=1, kind="stable")
        indices.append(np.take_along_axis(idx, order, axis=1))
        distances.append(np.sqrt(np.maximum(np.take_along_axis(d, order, axis=1), 0.0)))
    return (
        np.concatenate(indices).astype(np.int32),
        np.concatenate(distances).astype(np.float32),
        None,
    )


def project(
    features: np.ndarray | Tensor,
    method: str = "umap",
    *,
    n_components: int = 2,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    metric: str = "cosine",
    perplexity: float = 30.0,
    pca_dims: int | None = 50,
    n_epochs: int | None = 200,
) -> np.ndarray:
    """Project ``features (N, D)`` to ``(N, n_components)`` float32 with UMAP, PCA or t-SNE.

    Args:
        features: ``(N, D)`` numpy array or tensor, N >= 3.
        method: ``"umap"``, ``"pca"`` or ``"tsne"``.
        n_components: output dimensions (2 for a scatter plot, 3 for a 3-D one; t-SNE allows at
            most 3, PCA at most ``min(N, D)``).
        n_neighbors: UMAP only; 15 is umap-learn's default, 5 to 50 is the useful range. Must be
            between 2 and N - 1 (a ValueError says so; it is not silently clamped).
        min_dist: UMAP only; in ``[0, 1]``.
        seed: random state for every method (and for the PCA pre-reduction).
        metric: ``"cosine"`` (L2-normalise rows first, see the module docstring) or
            ``"euclidean"``.
        perplexity: t-SNE only; must be < N. 30 is the usual value; 5 to 50 is the useful range.
        pca_dims: UMAP and t-SNE only: reduce wider features to this many dimensions with PCA
            first (None: never).
        n_epochs: UMAP only: optimisation epochs (None: umap-learn's own choice, 500 below
            10,000 points, 200 above).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    x = _as_array(features)  # (N, D)
    n, d = x.shape
    if n < 3:
        raise ValueError(f"a projection needs at least 3 points; got {n}")
    if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer; got {n_components!r}")
    if method == "pca" and n_components > min(n, d):
        raise ValueError(
            f"PCA can give at most min(N, D) = {min(n, d)} components; got "
            f"n_components={n_components}"
        )
    if method == "tsne" and n_components > 3:
        raise ValueError(f"t-SNE (Barnes-Hut) gives at most 3 components; got {n_components}")
    if method == "umap" and not 2 <= n_neighbors <= n - 1:
        raise ValueError(
            f"n_neighbors must be between 2 and N - 1 = {n - 1} for {n} points; got {n_neighbors}"
        )
    if method == "umap" and not 0.0 <= min_dist <= 1.0:
        raise ValueError(f"min_dist must be in [0, 1]; got {min_dist}")
    if method == "tsne" and not 0 < perplexity < n:
        raise ValueError(
            f"perplexity must be > 0 and less than the number of points ({n}); got {perplexity}"
        )

    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)  # (N, 1)
        x /= np.maximum(norms, 1e-12)  # (N, D) unit rows; all-zero rows stay zero

    if method == "pca":
        from sklearn.decomposition import PCA

        out = PCA(n_components=n_components, random_state=seed).fit_transform(x)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        out = TSNE(
            n_components=n_components,
            perplexity=perplexity,
            init="pca",
            learning_rate="auto",
            random_state=seed,
        ).fit_transform(_pre_reduce(x, pca_dims, seed))
    else:
        with warnings.catch_warnings():
            # umap-learn announces that its optional TensorFlow-based ParametricUMAP is missing.
            warnings.filterwarnings(
                "ignore", message="Tensorflow not installed", category=ImportWarning
            )
            import umap  # lazy: pulls in numba, several seconds on first import

        x = _pre_reduce(x, pca_dims, seed)  # (N, min(D, pca_dims))
        reducer = umap.UMAP(
            n_components=n_components,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            metric="euclidean",
            n_epochs=n_epochs,
            random_state=seed,
            n_jobs=1,  # random_state forces one thread; saying so avoids umap-learn's warning
            precomputed_knn=_exact_knn(x, n_neighbors) if n < _EXACT_KNN_MAX_N else (None,) * 3,
        )
        with warnings.catch_warnings():
            # Our precomputed neighbours carry no search index, so reducer.transform(new points)
            # is unavailable; project() never calls it.
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
            out = reducer.fit_transform(x)
    return np.asarray(out, dtype=np.float32)  # (N, n_components)


def warm_up_umap() -> None:
    """Import umap-learn and run :func:`project` once on 64 random points (compiles numba).

    Slow in a fresh environment (numba compiles) and faster once numba's on-disk cache is filled
    (docs/PERFORMANCE.md, "UMAP projections"); afterwards UMAP calls in this process start at
    full speed.
    """
    rng = np.random.default_rng(0)
    project(rng.standard_normal((64, 8)).astype(np.float32), "umap", n_neighbors=5)
