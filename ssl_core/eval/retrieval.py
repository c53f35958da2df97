"""Retrieval by cosine similarity: top-k neighbours with scores, and patch-similarity maps.

:func:`retrieve` returns, for each query feature, the ``k`` most cosine-similar gallery items
(scores descending); :func:`cosine_topk` is its chunked core, shared with the kNN classifier, so
that only one ``(batch_size, N)`` similarity block is held at a time. :func:`patch_similarity`
colours each patch token of an image by its cosine to a query vector (ViT encoders).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ssl_core.eval.arrays import ArrayLike, as_features, check_positive_int, maths_device

__all__ = ["cosine_topk", "patch_similarity", "retrieve"]


def cosine_topk(
    query: Tensor, gallery: Tensor, *, k: int, batch_size: int, exclude_self: bool = False
) -> Iterator[tuple[Tensor, Tensor]]:
    """Top-``k`` cosine similarities of each query row among the gallery rows, chunk by chunk.

    ``query: (Q, D)``, ``gallery: (N, D)``; yields ``(scores (b, k), indices (b, k))`` for
    consecutive chunks of ``b <= batch_size`` queries, scores descending along each row. Only one
    ``(batch_size, N)`` similarity block is held at a time. With ``exclude_self`` query ``i`` is
    gallery item ``i`` and is never returned for itself.
    """
    q = F.normalize(query, dim=1)  # (Q, D) unit rows
    g = F.normalize(gallery, dim=1)  # (N, D) unit rows
    for start in range(0, q.shape[0], batch_size):
        sim = q[start : start + batch_size] @ g.T  # (b, N)
        if exclude_self:
            rows = torch.arange(sim.shape[0], device=sim.device)
            sim[rows, rows + start] = -math.inf
        yield sim.topk(k, dim=1)  # (b, k) scores, (b, k) indices


def retrieve(
    query_features: ArrayLike,
    gallery_features: ArrayLike,
    *,
    k: int = 10,
    exclude_self: bool = False,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery items by cosine similarity: ``(indices (Q, k) int64, scores (Q, k))``.

    ``query_features: (Q, D)``, ``gallery_features: (N, D)``; scores are cosine similarities in
    ``[-1, 1]``, descending along each row. A query that is itself in the gallery comes back first
    with score 1. With ``exclude_self=True`` the query set *is* the gallery (``Q == N``, query
    ``i`` = gallery item ``i``) and item ``i`` is left out of its own results.
    """
    check_positive_int(k, "k")
    check_positive_int(batch_size, "batch_size")
    dev = maths_device(device, query_features, gallery_features)
    query = as_features(query_features, "query_features", dev)  # (Q, D)
    gallery = as_features(gallery_features, "gallery_features", dev)  # (N, D)
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"query_features have D={query.shape[1]} but gallery_features have D={gallery.shape[1]}"
        )
    if exclude_self and query.shape[0] != gallery.shape[0]:
        raise ValueError(
            "exclude_self=True means the queries are the gallery items themselves, so Q must "
            f"equal N; got Q={query.shape[0]}, N={gallery.shape[0]}"
        )
    available = gallery.shape[0] - int(exclude_self)
    if k > available:
        raise ValueError(
            f"k={k} exceeds the {available} gallery items that can be returned; pass k <= "
            f"{available}"
        )
    chunks = list(
        cosine_topk(query, gallery, k=k, batch_size=batch_size, exclude_self=exclude_self)
    )
    scores = torch.cat([s for s, _ in chunks])  # (Q, k)
    indices = torch.cat([i for _, i in chunks])  # (Q, k)
    return indices.cpu().numpy().astype(np.int64), scores.cpu().numpy()


def patch_similarity(
    query: ArrayLike, match_patch_tokens: ArrayLike, grid: int | tuple[int, int]
) -> np.ndarray:
    """Cosine similarity of each patch of an image to a query, as a ``(h, w)`` heat map.

    Args:
        query: a vector ``(D,)`` (a CLS token, or one patch token the user picked) or tokens
            ``(L_q, D)``, which are averaged into one vector first (mean-token pooling).
        match_patch_tokens: the patch tokens ``(L, D)`` of the image to colour, without CLS or
            register tokens, in row-major patch order.
        grid: the patch grid ``(h, w)`` with ``h * w == L``, or ``h`` for a square grid.

    Returns float32 ``(h, w)`` with values in ``[-1, 1]``.
    """
    cpu = torch.device("cpu")
    if isinstance(query, Tensor):
        q = query.detach().float().cpu()
    else:
        q = torch.from_numpy(np.array(query, dtype=np.float32))
    if q.ndim == 2:
        q = q.mean(dim=0)  # (L_q, D) -> (D,)
    if q.ndim != 1:
        raise ValueError(f"query must be (D,) or (L_q, D); got shape {tuple(q.shape)}")
    tokens = as_features(match_patch_tokens, "match_patch_tokens", cpu)  # (L, D)
    if tokens.shape[1] != q.shape[0]:
        raise ValueError(
            f"query has D={q.shape[0]} but match_patch_tokens have D={tokens.shape[1]}"
        )
    h, w = (grid, grid) if isinstance(grid, int | np.integer) else tuple(grid)
    if h * w != tokens.shape[0]:
        raise ValueError(
            f"grid {h}x{w} = {h * w} patches does not match {tokens.shape[0]} patch tokens; "
            "drop the CLS/register tokens or pass the right grid"
        )
    sim = F.normalize(tokens, dim=1) @ F.normalize(q, dim=0)  # (L,)
    return sim.reshape(h, w).numpy().astype(np.float32)  # (h, w) row-major patches
