"""The InfoNCE page's batches, cached, and its figures.

A :class:`Batch` names the embeddings a view shows: toy pairs (``mode="synthetic"``: N, D, the
view noise, a seed) or real pairs through the bundled SimCLR (``mode="real"``: N, a seed, which
embeddings, and the checkpoint's stamp). Every figure's data is one ``st.cache_data`` function
of a batch (:func:`summary`, :func:`similarity`, :func:`batch_sweep`): moving τ or the anchor
recomputes the loss only, never the embeddings. The figures are plotly builders in the app's
style (:mod:`app.figures`); the τ sweep is one builder for both modes. The measured results
(``infonce_tau``, ``simclr_batch``) are drawn by :func:`show_measured_tau_table` and
:func:`show_batch_size_result`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from torch import Tensor

from app import figures
from app.measured import measured, verdict
from app.resources import fashion_mnist, load_bundled_method
from lesson.experiments.infonce_tau import InfonceTauResult
from lesson.experiments.simclr_batch import SimclrBatchResult
from lesson.figures.infonce import (
    LESSON_TAUS,
    CandidateWeights,
    batch_summary,
    lesson_random_pairs,
    pair_tiles,
    similarity_csv,
    similarity_map,
    synthetic_sweep,
    tau_curve,
    tau_table,
)
from lesson.figures.pairs import PairModel, RealPairs, real_pairs
from lesson.figures.tables import records_to_csv
from lesson.verdicts import tau_verdict
from ssl_core.checkpoints import checkpoint_info, checkpoint_stamp, find_checkpoint
from ssl_core.losses.infonce_sweep import TauSweep, synthetic_pairs

__all__ = ["Batch", "anchor_figure", "batch_sweep", "heat_figure", "pair_model", "real_stamp",
           "real_tiles", "show_batch_size_result", "show_measured_tau_table", "similarity",
           "similarity_table", "summary", "sweep_figure", "the_lesson_claim", "toy_sweep"]


@dataclass(frozen=True)
class Batch:
    """Which embeddings: toy (``d``, ``noise``) or real (``kind`` of the bundled SimCLR whose
    weights ``stamp`` names). ``noise = inf`` gives random pairs."""

    mode: str
    n: int
    seed: int
    d: int = 0
    noise: float = 0.0
    kind: str = "projection"
    stamp: str = ""


def pair_model() -> PairModel:
    """The bundled SimCLR with its view pipeline and sizes (cached model; CheckpointError or
    ValueError when the checkpoint cannot be used)."""
    path = find_checkpoint("simclr")
    if path is None:
        raise ValueError("the bundled SimCLR checkpoint is not present")
    method = load_bundled_method("simclr")
    return PairModel.of(method, checkpoint_info(path).config)


def real_stamp() -> str:
    """The bundled SimCLR's weights stamp (names its real batches in the caches)."""
    path = find_checkpoint("simclr")
    return checkpoint_stamp(path) if path is not None else ""


@st.cache_data(show_spinner="Embedding the pairs with the SimCLR model…", max_entries=8)
def _real_pairs(n: int, seed: int, stamp: str) -> RealPairs:
    model = pair_model()
    return real_pairs(model.method, fashion_mnist().images, n=n, seed=seed,
                      config=model.view_config)


def embeddings(batch: Batch) -> tuple[Tensor, Tensor]:
    """``(z1, z2)`` of the batch: toy pairs, or the real pairs' ``batch.kind`` embeddings."""
    if batch.mode == "real":
        return _real_pairs(batch.n, batch.seed, batch.stamp).embeddings(batch.kind)
    return synthetic_pairs(batch.n, batch.d, noise=batch.noise, seed=batch.seed)


@st.cache_data(show_spinner=False, max_entries=64)
def summary(batch: Batch, tau: float, anchor: int) -> tuple[dict[str, float], CandidateWeights]:
    """The batch's scalars and the anchor's weights (ValueError on a bad tau)."""
    return batch_summary(*embeddings(batch), tau, anchor)


@st.cache_data(show_spinner=False, max_entries=16)
def similarity(batch: Batch) -> tuple[np.ndarray, int]:
    """The batch's cosine matrix, pooled for the heat map."""
    return similarity_map(*embeddings(batch))


def similarity_table(batch: Batch) -> str:
    """The full matrix as CSV; built only when the download button is clicked."""
    return similarity_csv(*embeddings(batch))


@st.cache_data(show_spinner="Sweeping the temperature…", max_entries=16)
def toy_sweep(n: int, d: int, noise: float) -> TauSweep:
    """Aligned toy pairs (``noise``) vs random pairs of N x D, averaged over seeds."""
    return synthetic_sweep(n, d, noise)


@st.cache_data(show_spinner=False, max_entries=16)
def batch_sweep(batch: Batch) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(taus, losses) of this one batch: its embeddings computed once, the loss at each tau."""
    return tau_curve(*embeddings(batch))


@st.cache_data(show_spinner=False)
def the_lesson_claim() -> TauSweep:
    """Random pairs at the lesson's N = 16, D = 32, tau = 0.1."""
    return lesson_random_pairs()


@st.cache_data(show_spinner=False, max_entries=8)
def real_tiles(n: int, seed: int, stamp: str, *, shown: int, tile: int):
    """The first ``shown`` real pairs as tiles, captions and the sampled parameters."""
    data = fashion_mnist()
    return pair_tiles(_real_pairs(n, seed, stamp), data.images, data.labels, data.classes,
                      shown=shown, tile=tile)


# --- figures ----------------------------------------------------------------------------------


def heat_figure(pooled: np.ndarray, block: int, n: int) -> go.Figure:
    """The (pooled) cosine matrix, the two views' halves split by black lines."""
    return figures.figure(
        [go.Heatmap(
            z=pooled, zmin=-1, zmax=1, colorscale="RdBu_r",
            x0=(block - 1) / 2, dx=block, y0=(block - 1) / 2, dy=block,
            colorbar=dict(title="cosine", thickness=12),
            hovertemplate="row %{y:.0f} · column %{x:.0f}<br>cosine %{z:.3f}<extra></extra>",
        )],
        height=430,
        shapes=[figures.segment(n - 0.5, -0.5, n - 0.5, 2 * n - 0.5),
                figures.segment(-0.5, n - 0.5, 2 * n - 0.5, n - 0.5)],
        xaxis=dict(title="candidate (column)", constrain="domain"),
        yaxis=dict(title="anchor (row)", autorange="reversed", scaleanchor="x",
                   constrain="domain"),
    )


def anchor_figure(bars: CandidateWeights, names: Sequence[str], *, negatives_only: bool,
                  logy: bool, n: int) -> go.Figure:
    """Where the anchor's softmax weight goes, heaviest candidates first (red: the positive)."""
    shown = ~bars.is_positive if negatives_only else np.ones_like(bars.is_positive)
    return figures.figure(
        [go.Bar(
            x=[names[c] for c in bars.candidate[shown]],
            y=bars.negative_share[shown] if negatives_only else bars.weight[shown],
            marker_color=[figures.POSITIVE if p else figures.ACCENT
                          for p in bars.is_positive[shown]],
            customdata=bars.similarity[shown],
            hovertemplate="%{x}<br>%{y:.4f}<br>cosine %{customdata:.3f}<extra></extra>",
        )],
        height=380,
        yaxis=dict(title="share of negative weight" if negatives_only else "softmax weight",
                   type="log" if logy else "linear"),
        xaxis=dict(title="candidates, most similar first (red: the positive)",
                   showticklabels=n <= 16),
    )


def sweep_figure(taus: Sequence[float], series: Sequence[tuple[str, Sequence[float],
                                                              Sequence[float] | None, str]],
                 *, reference: float, tau: float, legend: dict | None = None) -> go.Figure:
    """Loss against temperature on a log axis: one line per ``(name, values, errors, colour)``,
    log(2N - 1) dashed, the lesson's four taus dotted, the chosen tau in black."""
    return figures.figure(
        [go.Scatter(x=list(taus), y=list(values), name=name, mode="lines+markers",
                    line=dict(color=colour),
                    error_y=dict(array=list(errors), thickness=1) if errors is not None
                    else None)
         for name, values, errors, colour in series],
        height=380 if legend is not None else 360,
        legend=legend,
        shapes=[figures.hline(reference, dash="dash"),
                *(figures.vline(t, dash="dot") for t in LESSON_TAUS),
                figures.vline(tau, colour="black", width=1.5)],
        # On a log axis annotations take log10(x); shapes take x itself.
        # "your τ" inside the plot's top edge (above it, a figure without a title has a 10 px
        # margin, which clipped it), on the side of the line with room for it.
        annotations=[dict(x=math.log10(tau), y=1, yref="paper", text=f" your τ = {tau:g} ",
                          showarrow=False, yanchor="top", bgcolor="rgba(255,255,255,0.8)",
                          xanchor="right" if tau > math.sqrt(taus[0] * taus[-1]) else "left"),
                     dict(x=0, xref="paper", y=reference, text=f"log(2N−1) = {reference:.2f}",
                          showarrow=False, xanchor="left", yanchor="bottom")],
        xaxis=dict(type="log", title="temperature τ (log scale); dotted: the lesson's four values",
                   tickvals=sorted({taus[0], *LESSON_TAUS, 1.0, taus[-1]})),
        yaxis=dict(title="InfoNCE loss"),
    )


# --- the measured results -----------------------------------------------------------------------


def show_measured_tau_table() -> None:
    """The ``infonce_tau`` result: the bundled model's loss at the lesson's four τ, N = 512."""
    st.subheader("Measured: the lesson's four temperatures")
    result = measured(InfonceTauResult)
    if result is None:
        return
    rows, caption = tau_table(result)
    st.dataframe(rows, hide_index=True, column_config={
        k: st.column_config.NumberColumn(format="%.3f") for k in rows[0] if k != "τ"})
    st.caption(caption + " Made by `python3 -m lesson.experiments.infonce_tau`.")
    verdict(lambda: tau_verdict(result))


def show_batch_size_result(default_claim: str) -> None:
    """The ``simclr_batch`` result: the lesson's claim about batch size next to our runs."""
    st.subheader("Batch 32 vs 512: does a bigger batch help?")
    claim_col, measured_col = st.columns(2, gap="large")
    with measured_col:
        result = measured(SimclrBatchResult)
    claim = (result.claim.rstrip(". ") + "." if result is not None and result.claim
             else default_claim)
    claim_col.markdown(
        f"**The lesson's claim.** {claim} "
        "The reason given: a bigger batch gives each anchor more negatives (2N − 2), so InfoNCE "
        "is a tighter bound; SimCLR's linear accuracy rises with the batch size, most clearly "
        "for short training (Chen et al. 2020, fig. 9)."
    )
    if result is None:
        return
    runs = sorted(result.runs, key=lambda run: run.batch_size)
    with measured_col:
        st.markdown(f"**Our measurement.** SimCLR on the bundled Fashion-MNIST, the same "
                    f"{result.images_seen:,} images seen at each batch size.")
        for column, run in zip(st.columns(len(runs)), runs, strict=True):
            last = run.curve[-1]
            column.metric(f"kNN accuracy, batch {run.batch_size}", f"{last.knn_k200:.1%}",
                          help=f"k = 200 (k = 20: {last.knn_k20:.1%}); {run.steps} steps at lr "
                               f"{run.lr:g}" + (f", {run.wall_time_s:.0f} s"
                                               if run.wall_time_s is not None else ""))
        if result.finding:
            st.markdown(f"**Finding:** {result.finding}")
    curve = figures.figure(
        [go.Scatter(x=[p.images_seen for p in run.curve], y=[p.knn_k200 for p in run.curve],
                    mode="lines+markers", name=f"batch {run.batch_size}") for run in runs],
        height=340, xaxis=dict(title="images seen"),
        yaxis=dict(title="kNN accuracy (k = 200)", tickformat=".0%"))
    figures.show(curve, key="nce_fig_batch", filename="simclr_batch",
                 caption="kNN accuracy of the backbone features along training, one line per "
                         "batch size, at equal numbers of images seen. "
                         + (f"{result.protocol} " if result.protocol else "")
                         + "Made by `python3 -m lesson.experiments.simclr_batch`.")
    figures.csv_button(
        "Batch runs (CSV)",
        records_to_csv([{"batch_size": run.batch_size, **point.to_json()} for run in runs
                        for point in run.curve]),
        key="nce_csv_batch", filename="simclr_batch.csv")
