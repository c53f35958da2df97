"""InfoNCE figure data: the batch's numbers, the similarity heat map, an anchor's softmax bars,
the temperature sweep, real pairs as pictures, and the measured results as tables.

The numbers come from :mod:`ssl_core.losses.infonce` (``info_nce_diagnostics``, ``tau_sweep``)
and :mod:`lesson.figures.pairs`; these functions pool, order and label them for a plot. The
same functions serve toy embeddings and real pairs: a batch is ``(z1, z2)`` either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from lesson.experiments.infonce_tau import InfonceTauResult
from lesson.figures.pairs import RealPairs, loss_against_tau, trace_pair
from lesson.figures.pictures import image_grid, upscale_nearest
from lesson.figures.tables import matrix_to_csv
from lesson.figures.views import describe_view
from ssl_core.augment import ViewConfig
from ssl_core.images import to_uint8_image
from ssl_core.losses.infonce import InfoNCEDiagnostics, info_nce_diagnostics
from ssl_core.losses.infonce_sweep import DEFAULT_TAUS, TauSweep, tau_sweep

__all__ = [
    "HEATMAP_SIDE",
    "LESSON",
    "LESSON_TAUS",
    "TOP_K",
    "CandidateWeights",
    "batch_summary",
    "candidate_weights",
    "describe_view_config",
    "embedding_labels",
    "lesson_random_pairs",
    "pair_tiles",
    "pool_matrix",
    "similarity_csv",
    "similarity_map",
    "sweep_seed_count",
    "sweep_temperatures",
    "synthetic_sweep",
    "tau_curve",
    "tau_table",
]

HEATMAP_SIDE = 256  # cells a side; larger matrices are block-averaged
TOP_K = 48  # bars in the anchor panel
LESSON = dict(n=16, d=32, tau=0.1, batches=200)  # the lesson's random-pairs claim
LESSON_TAUS = DEFAULT_TAUS  # the four temperatures the lesson compares


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


# --------------------------------------------------------------------------------------------
# One batch: (z1, z2), toy or real
# --------------------------------------------------------------------------------------------


def batch_summary(z1: Tensor, z2: Tensor, tau: float, anchor: int, *, top_k: int = TOP_K
                  ) -> tuple[dict[str, float], CandidateWeights]:
    """The batch's scalars (loss, log(2N - 1), top-1, alignment, uniformity) and the anchor's
    candidate weights at ``tau`` (ValueError for a temperature the loss refuses)."""
    diag = info_nce_diagnostics(z1, z2, tau, anchor=anchor)
    scalars = dict(loss=diag.loss, reference=diag.reference_loss, top1=diag.top1_accuracy,
                   alignment=diag.alignment, uniformity=diag.uniformity)
    return scalars, candidate_weights(diag, top_k=top_k)


def similarity_map(z1: Tensor, z2: Tensor, *, max_side: int = HEATMAP_SIDE
                   ) -> tuple[np.ndarray, int]:
    """The batch's cosine matrix, block-averaged to at most ``max_side`` cells a side."""
    diag = info_nce_diagnostics(z1, z2, 1.0)
    return pool_matrix(diag.similarity.numpy(), max_side=max_side)


def similarity_csv(z1: Tensor, z2: Tensor) -> str:
    """The full cosine matrix as CSV, rows and columns named ``v1·i`` / ``v2·i``."""
    diag = info_nce_diagnostics(z1, z2, 1.0)
    return matrix_to_csv(diag.similarity.numpy(), embedding_labels(z1.shape[0]))


def synthetic_sweep(n: int, d: int, noise: float) -> TauSweep:
    """Aligned and random toy pairs of batch ``n`` x ``d`` over the sweep's temperatures."""
    return tau_sweep(sweep_temperatures(), n=n, d=d, noise=noise,
                     seeds=range(sweep_seed_count(n)))


def lesson_random_pairs() -> TauSweep:
    """The lesson's claim measured: random pairs at N = 16, D = 32, tau = 0.1, 200 batches."""
    return tau_sweep((LESSON["tau"],), n=LESSON["n"], d=LESSON["d"],
                     seeds=range(LESSON["batches"]))


def tau_curve(z1: Tensor, z2: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(taus, losses) of one batch along the sweep's temperatures (embeddings computed once)."""
    taus = sweep_temperatures()
    return taus, loss_against_tau(z1, z2, taus)


# --------------------------------------------------------------------------------------------
# Real pairs as pictures
# --------------------------------------------------------------------------------------------


def pair_tiles(pairs: RealPairs, images: np.ndarray, labels: np.ndarray,
               classes: tuple[str, ...], *, shown: int, tile: int
               ) -> tuple[list[np.ndarray], list[str], list[dict[str, Any]]]:
    """The first ``shown`` pairs: one enlarged uint8 tile per pair (view 1 | view 2), a caption
    each, and one record per view with what was sampled for it."""
    tiles, captions, records = [], [], []
    for j in range(min(shown, pairs.n)):
        index = int(pairs.indices[j])
        name = classes[int(labels[index])]
        views = trace_pair(images, pairs, j)
        tiles.append(image_grid([upscale_nearest(to_uint8_image(v.image), min_side=tile)
                                 for v in views], ncols=2, pad=2))
        captions.append(f"pair {j}: image {index}, {name}")
        records += [{"pair": j, "view": v, "image": index, "class": name,
                     "sampled": describe_view(view.params)}
                    for v, view in enumerate(views, start=1)]
    return tiles, captions, records


def describe_view_config(cfg: ViewConfig) -> str:
    """One sentence for the SimCLR view pipeline of a grayscale checkpoint."""
    parts = [f"random resized crop to {cfg.size} px (area {cfg.scale[0]:g}–{cfg.scale[1]:g} of "
             f"the image, aspect {cfg.ratio[0]:.2f}–{cfg.ratio[1]:.2f})",
             f"horizontal flip p = {cfg.hflip_p:g}",
             f"colour jitter p = {cfg.jitter_p:g} (brightness ±{cfg.brightness:g}, contrast "
             f"±{cfg.contrast:g}; saturation, hue and grayscale do nothing to gray images)",
             f"blur p = {cfg.blur_p:g}" if cfg.blur_p else "no blur (off below 64 px)"]
    if cfg.solarize_p:
        parts.append(f"solarize p = {cfg.solarize_p:g}")
    return "; ".join(parts) + " (ssl_core.augment.ViewConfig, as ssl_core.train uses it)."


# --------------------------------------------------------------------------------------------
# The measured results as tables
# --------------------------------------------------------------------------------------------


def tau_table(result: InfonceTauResult) -> tuple[list[dict[str, float]], str]:
    """The ``infonce_tau`` result as rows (one per tau: toy aligned / random, real z and h)
    and a caption saying what each column measured."""
    synthetic, real = result.synthetic, result.real
    rows = [{"τ": t, "aligned toy pairs": a, "random toy pairs": r}
            for t, a, r in zip(result.taus, synthetic.aligned, synthetic.random, strict=True)]
    caption = (f"Toy pairs: N = {synthetic.n}, D = {synthetic.d}, noise "
               f"{synthetic.noise:g}, mean of {synthetic.seeds} batches.")
    if real is not None:
        for row, z in zip(rows, real.loss, strict=True):
            row["SimCLR z (real pairs)"] = z
        for row, h in zip(rows, real.backbone_loss or [], strict=False):
            row["SimCLR h (real pairs)"] = h
        reference = real.reference_loss if real.reference_loss is not None else math.log(
            2 * real.n_pairs - 1)
        caption += (f" Real pairs: the bundled SimCLR on N = {real.n_pairs} pairs of the "
                    f"{real.split or 'train'} images, mean of {len(real.seeds or [])} "
                    f"batches; log(2N−1) = {reference:.2f}.")
    return rows, caption
