"""InfoNCE figure data: the similarity heat map, an anchor's softmax bars, the temperature sweep.

The numbers come from :mod:`ssl_core.losses.infonce` (``info_nce_diagnostics``, ``tau_sweep``);
these functions pool, order and label them for a plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ssl_core.losses.infonce import LESSON_TAUS, InfoNCEDiagnostics

__all__ = [
    "CandidateWeights",
    "candidate_weights",
    "embedding_labels",
    "pool_matrix",
    "sweep_seed_count",
    "sweep_temperatures",
]


def pool_matrix(matrix: np.ndarray, *, max_side: int) -> tuple[np.ndarray, int]:
    """Average ``k x k`` blocks so that a heat map has at most ``max_side`` cells a side.

    ``k`` is the smallest integer with ``ceil(side / k) <= max_side`` (1 when the matrix fits:
    it is returned unchanged). Edge blocks that are cut short average what they hold. Returns
    ``(pooled (ceil(R / k), ceil(C / k)), k)``. A browser draws a 256 x 256 heat map quickly; a
    1024 x 1024 one (N = 512) is 16 times the data for no visible gain.
    """
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D; got shape {matrix.shape}")
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1; got {max_side}")
    rows, cols = matrix.shape
    k = math.ceil(max(rows, cols) / max_side)
    if k <= 1:
        return matrix, 1
    out_r, out_c = math.ceil(rows / k), math.ceil(cols / k)
    padded = np.zeros((out_r * k, out_c * k), dtype=np.float64)
    counts = np.zeros_like(padded)
    padded[:rows, :cols] = matrix
    counts[:rows, :cols] = 1.0
    sums = padded.reshape(out_r, k, out_c, k).sum(axis=(1, 3))  # (out_r, out_c)
    sizes = counts.reshape(out_r, k, out_c, k).sum(axis=(1, 3))  # (out_r, out_c)
    return (sums / sizes).astype(matrix.dtype, copy=False), k


def embedding_labels(n: int) -> list[str]:
    """Names of the 2N rows of an InfoNCE matrix: ``v1·0 .. v1·{N-1}, v2·0 .. v2·{N-1}``."""
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    return [f"v1·{i}" for i in range(n)] + [f"v2·{i}" for i in range(n)]


@dataclass(frozen=True)
class CandidateWeights:
    """One anchor's softmax over its 2N - 1 candidates, heaviest first.

    Arrays hold the ``top_k`` heaviest candidates; ``rest_weight`` is what the others share.
    ``negative_share`` answers "of the weight that goes to negatives, how much does each one
    get?": it is the softmax of ``similarity / tau`` over the 2N - 2 negatives alone (NaN at the
    positive), computed in float64 so that it stays meaningful when the positive takes nearly
    all the weight and the negatives' own weights underflow.
    """

    anchor: int
    tau: float
    candidate: np.ndarray  # (k,) int: column of each shown candidate
    weight: np.ndarray  # (k,) float: its softmax weight
    similarity: np.ndarray  # (k,) float: its cosine with the anchor
    is_positive: np.ndarray  # (k,) bool
    negative_share: np.ndarray  # (k,) float: share of the negative weight; NaN at the positive
    positive_weight: float  # weight on the positive, whether shown or not
    positive_rank_by_weight: int  # 0 = the positive is the heaviest candidate
    rest_weight: float  # total weight of the 2N - 1 - k candidates not shown
    hardest_negative_share: float  # heaviest negative / all negative weight


def candidate_weights(diag: InfoNCEDiagnostics, *, top_k: int = 64) -> CandidateWeights:
    """The bars of the anchor panel: ``diag.anchor``'s candidates, heaviest first.

    ``diag`` must come from ``info_nce_diagnostics(..., anchor=a)``. The anchor itself is not a
    candidate (its weight is exactly 0) and is left out. Candidates are ordered by cosine, which
    orders them by weight (the weight is proportional to ``exp(cosine / tau)``) even where tiny
    weights have underflowed to 0; ties keep column order.
    """
    if diag.anchor is None or diag.anchor_weights is None or diag.anchor_positive is None:
        raise ValueError(
            "diag has no anchor: call info_nce_diagnostics(z1, z2, tau, anchor=a) first"
        )
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1; got {top_k}")
    anchor, positive = diag.anchor, diag.anchor_positive
    weights = diag.anchor_weights.detach().cpu().double().numpy()  # (2N,)
    similarity = diag.similarity[anchor].detach().cpu().double().numpy()  # (2N,)
    columns = np.delete(np.arange(weights.shape[0]), anchor)  # (2N - 1,) candidates
    order = columns[np.argsort(-similarity[columns], kind="stable")]  # (2N - 1,)
    shown = order[:top_k]

    negatives = columns[columns != positive]  # (2N - 2,)
    logits = similarity[negatives] / diag.tau  # (2N - 2,)
    share = np.exp(logits - logits.max())
    share /= share.sum()
    negative_share = np.full(weights.shape[0], np.nan)  # (2N,)
    negative_share[negatives] = share
    return CandidateWeights(
        anchor=anchor,
        tau=diag.tau,
        candidate=shown,
        weight=weights[shown],
        similarity=similarity[shown],
        is_positive=shown == positive,
        negative_share=negative_share[shown],
        positive_weight=float(weights[positive]),
        positive_rank_by_weight=int(np.flatnonzero(order == positive)[0]),
        rest_weight=float(weights[order[top_k:]].sum()),
        hardest_negative_share=float(diag.hardest_negative_share[anchor]),
    )


def sweep_temperatures(
    points: int = 13, *, low: float = 0.02, high: float = 2.0
) -> tuple[float, ...]:
    """Log-spaced temperatures from ``low`` to ``high`` merged with ``LESSON_TAUS``, sorted."""
    if points < 2 or not 0 < low < high:
        raise ValueError(f"need points >= 2 and 0 < low < high; got {points}, {low}, {high}")
    grid = np.geomspace(low, high, points)
    merged = sorted({round(float(t), 6) for t in grid} | set(LESSON_TAUS))
    return tuple(merged)


def sweep_seed_count(n: int, *, budget: int = 256, most: int = 20) -> int:
    """How many random batches a temperature sweep at batch size ``n`` averages over.

    One batch of N pairs already averages 2N anchor losses, so large batches need fewer seeds:
    ``clamp(budget // n, 1, most)`` keeps the work (and the standard error) roughly constant:
    16 seeds at N = 16, 1 at N >= 256.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    return max(1, min(most, budget // n))
