"""UMAP and t-SNE off the server's GIL: the projection worker, its warm-up, and the projection.

UMAP and t-SNE run in a worker process (:func:`project_features`, ``app.workers``): their numba
and Cython loops would otherwise hold the server's GIL, which every other session's rerun needs,
for the whole fit. UMAP's numba kernels take seconds to compile in a fresh process; the worker
compiles them as it starts (:func:`start_umap_warm_up`, called by the router at start and by the
embeddings page), and :func:`wait_for_umap` lets a page wait for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
import streamlit as st

from app import workers

__all__ = ["MAX_QUEUED", "TSNE_MAX_POINTS", "ProjectionQueue", "QueueFull", "project_features",
           "projection_pool", "projection_queue", "start_umap_warm_up", "umap_ready",
           "wait_for_umap"]

MAX_QUEUED = 6  # projections waiting for or running in the worker, all sessions together
TSNE_MAX_POINTS = 2000  # t-SNE of more takes minutes on a shared CPU
_POLL_S = 0.25


class QueueFull(RuntimeError):
    """The projection worker has :data:`MAX_QUEUED` requests already."""


class ProjectionQueue:
    """The projection worker's requests, bounded: at most ``limit`` at once (all sessions), at
    most one per session (a session's new request cancels its older one if it has not started),
    and a request whose page is gone (:func:`app.training.run_abandoned`) is cancelled while it
    waits. Identical requests are shared through the page's ``st.cache_data``."""

    def __init__(self, limit: int = MAX_QUEUED) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._pending: dict[str, Future] = {}

    def __len__(self) -> int:
        with self._lock:
            return sum(not f.done() for f in self._pending.values())

    def run(self, session: str, submit: Callable[[], Future],
            abandoned: Callable[[], bool] = lambda: False) -> Any:
        """``submit()`` (a worker future) for ``session``, waited for; raises
        :class:`QueueFull` when the worker has ``limit`` requests, CancelledError when the page
        went away first."""
        with self._lock:
            previous = self._pending.pop(session, None)
            if previous is not None:
                previous.cancel()  # only a request still queued can be cancelled
            busy = sum(not f.done() for f in self._pending.values())
            if busy >= self.limit:
                raise QueueFull(f"The map worker is busy with {busy} other requests from the "
                                "class; try again in a few seconds, or use PCA (instant).")
            future = self._pending[session] = submit()
        try:
            while True:
                try:
                    return future.result(timeout=_POLL_S)
                except FutureTimeout:
                    if abandoned() and future.cancel():
                        raise CancelledError() from None
        finally:
            with self._lock:
                if self._pending.get(session) is future:
                    del self._pending[session]


@st.cache_resource(show_spinner=False)
def projection_queue() -> ProjectionQueue:
    """The process's bounded queue in front of :func:`projection_pool`."""
    return ProjectionQueue()


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
    worker (their numba and Cython loops would hold the server's GIL for the whole fit) through
    :func:`projection_queue`, PCA here. t-SNE takes at most :data:`TSNE_MAX_POINTS` points.
    Errors (a ValueError for bad arguments or too many points, :class:`QueueFull`) are raised
    here."""
    from app.training import run_abandoned, session_id
    from ssl_core.eval.projection import project

    if method == "pca":
        return project(feats, method, **kwargs)
    if method == "tsne" and len(feats) > TSNE_MAX_POINTS:
        raise ValueError(f"t-SNE is limited to {TSNE_MAX_POINTS:,} points on this server (more "
                         "takes minutes on a shared CPU); pick fewer images, or UMAP or PCA")
    pool = projection_pool()
    start = time.monotonic()
    try:
        return projection_queue().run(session_id(), lambda: pool.submit(
            project, feats, method, **kwargs), run_abandoned)
    except CancelledError:  # the page went away (a rerun, a closed tab): nothing to show
        st.stop()
        raise
    except workers.BrokenProcessPool as error:
        pool.shutdown()
        raise workers.WorkerError(f"the worker process stopped after {time.monotonic() - start:.0f}"
                                  " s before it answered (killed or out of memory); try "
                                  "again") from error
