"""UMAP and t-SNE off the server's GIL: the projection worker, its warm-up, and the projection.

UMAP and t-SNE run in a worker process (:func:`project_features`, ``app.workers``): their numba
and Cython loops would otherwise hold the server's GIL, which every other session's rerun needs,
for the whole fit. UMAP's numba kernels take seconds to compile in a fresh process; the worker
compiles them as it starts (:func:`start_umap_warm_up`, called by the router at start and by the
embeddings page), and :func:`wait_for_umap` lets a page wait for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from app import workers

__all__ = ["project_features", "projection_pool", "start_umap_warm_up", "umap_ready",
           "wait_for_umap"]


@st.cache_resource(show_spinner=False)
def projection_pool() -> workers.WorkerPool:
    """The process's projection worker: UMAP and t-SNE run there, off the server's GIL
    (``app.workers``); it compiles UMAP's numba kernels as it starts."""
    from ssl_core.eval.projection import warm_up_umap

    return workers.WorkerPool(1, warm_up=warm_up_umap)


def start_umap_warm_up() -> None:
    """Start the projection worker, which compiles UMAP (once per process; later calls do
    nothing)."""
    projection_pool().warm_up_future()


def umap_ready() -> bool:
    """True once the projection worker has compiled UMAP."""
    return projection_pool().warm_up_future().done()


def wait_for_umap(timeout: float | None = None) -> bool:
    """Wait for the projection worker's warm-up; True when it is ready, False when it is still
    compiling after ``timeout`` or failed (the projection itself then says why)."""
    try:
        projection_pool().warm_up_future().result(timeout)
    except Exception:  # a timeout, or a worker that could not start: reported by the projection
        return False
    return True


def project_features(feats: np.ndarray, method: str, **kwargs: Any) -> np.ndarray:
    """``ssl_core.eval.projection.project(feats, method, **kwargs)``; UMAP and t-SNE in the
    worker (their numba and Cython loops would hold the server's GIL for the whole fit), PCA
    here. Errors (a ValueError for bad arguments) are raised here."""
    from ssl_core.eval.projection import project

    if method == "pca":
        return project(feats, method, **kwargs)
    return projection_pool().run(project, feats, method, **kwargs)
