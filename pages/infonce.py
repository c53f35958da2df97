"""InfoNCE: how the temperature and the batch shape the contrastive loss.

Inputs: batch size N, dimension D, how well the two views agree, the temperature, an anchor.
The numbers come from ``ssl_core.losses.infonce`` (``info_nce_diagnostics``, ``tau_sweep``);
``ssl_core.viz`` shapes them for the figures.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import figures
from app.resources import load_bundled_encoder
from app.state import Param, clamp_state, restore, share
from app.widgets import preset_buttons, seed_params, seed_picker
from ssl_core.checkpoints import CheckpointError
from ssl_core.losses.infonce import (
    LESSON_TAUS,
    TauSweep,
    info_nce_diagnostics,
    synthetic_pairs,
    tau_sweep,
)
from ssl_core.viz import (
    CandidateWeights,
    candidate_weights,
    embedding_labels,
    matrix_to_csv,
    pool_matrix,
    random_pair_bounds,
    records_to_csv,
    sweep_seed_count,
    sweep_temperatures,
)

MODES = ("synthetic", "real")
HEATMAP_SIDE = 256  # cells a side; larger matrices are block-averaged
TOP_K = 48  # bars in the anchor panel
LESSON = dict(n=16, d=32, tau=0.1, batches=200)  # the lesson's random-pairs claim

PARAMS = (
    Param("nce_mode", "synthetic", options=MODES),
    Param("nce_n", 16, lo=2, hi=1024),
    Param("nce_d", 32, lo=1, hi=512),
    Param("nce_noise", 0.5, lo=0.0, hi=3.0),
    Param("nce_random", False),
    Param("nce_tau", 0.1, lo=0.0, hi=2.0),
    Param("nce_anchor", 0, lo=0, hi=2047),
    Param("nce_logy", False),
    Param("nce_negonly", False),
    *seed_params("nce"),
)
PRESETS = {
    "Lesson: random pairs": {"nce_n": 16, "nce_d": 32, "nce_random": True, "nce_tau": 0.1},
    "Aligned, cold τ": {"nce_n": 16, "nce_d": 32, "nce_noise": 0.5, "nce_random": False,
                        "nce_tau": 0.05},
    "Aligned, warm τ": {"nce_n": 16, "nce_d": 32, "nce_noise": 0.5, "nce_random": False,
                        "nce_tau": 0.5},
    "Large batch": {"nce_n": 512, "nce_d": 128, "nce_noise": 0.5, "nce_random": False,
                    "nce_tau": 0.1},
}


@st.cache_data(show_spinner=False, max_entries=16)
def similarity_map(n: int, d: int, noise: float, seed: int) -> tuple[np.ndarray, int]:
    """The batch's cosine matrix, block-averaged to at most HEATMAP_SIDE cells a side."""
    diag = info_nce_diagnostics(*synthetic_pairs(n, d, noise=noise, seed=seed), 1.0)
    return pool_matrix(diag.similarity.numpy(), max_side=HEATMAP_SIDE)


def similarity_csv(n: int, d: int, noise: float, seed: int) -> str:
    """The full matrix as CSV; built only when the download button is clicked."""
    diag = info_nce_diagnostics(*synthetic_pairs(n, d, noise=noise, seed=seed), 1.0)
    return matrix_to_csv(diag.similarity.numpy(), embedding_labels(n))


@st.cache_data(show_spinner=False, max_entries=64)
def batch_summary(n: int, d: int, noise: float, seed: int, tau: float,
                  anchor: int) -> tuple[dict[str, float], CandidateWeights]:
    """Scalars of the batch and the anchor's candidate weights (raises ValueError on a bad tau)."""
    diag = info_nce_diagnostics(*synthetic_pairs(n, d, noise=noise, seed=seed), tau,
                                anchor=anchor)
    scalars = dict(loss=diag.loss, reference=diag.reference_loss, top1=diag.top1_accuracy,
                   alignment=diag.alignment, uniformity=diag.uniformity)
    return scalars, candidate_weights(diag, top_k=TOP_K)


@st.cache_data(show_spinner="Sweeping the temperature…", max_entries=16)
def sweep(n: int, d: int, noise: float) -> TauSweep:
    return tau_sweep(sweep_temperatures(), n=n, d=d, noise=noise,
                     seeds=range(sweep_seed_count(n)))


@st.cache_data(show_spinner=False)
def lesson_random_pairs() -> TauSweep:
    return tau_sweep((LESSON["tau"],), n=LESSON["n"], d=LESSON["d"],
                     seeds=range(LESSON["batches"]))


restore(PARAMS)
st.title("InfoNCE and temperature")
st.markdown(
    "InfoNCE scores each of the 2N embeddings in a batch (two views of N images) by how much "
    "softmax weight it puts on its **positive**, the other view of its image, against the "
    "2N − 2 **negatives**. The temperature τ divides every similarity before the softmax."
)

# --- mode: synthetic now; real embeddings once the bundled SimCLR checkpoint exists --------------
try:
    encoder = load_bundled_encoder("simclr")
    encoder_problem = None
except CheckpointError as error:
    encoder, encoder_problem = None, str(error)
if encoder is None:
    st.session_state["nce_mode"] = "synthetic"
    st.info(
        "Synthetic embeddings only: the bundled SimCLR checkpoint is not present "
        "(assets/checkpoints/simclr/), so the real mode, which embeds augmented image pairs "
        "with that encoder, is not offered."
        + (f" The checkpoint could not be read: {encoder_problem}" if encoder_problem else ""),
        icon=":material/info:",
    )
    mode = "synthetic"
else:
    mode = st.radio("Embeddings", MODES, key="nce_mode", horizontal=True,
                    format_func={"synthetic": "Synthetic",
                                 "real": "Real pairs through the SimCLR encoder"}.get)
if mode == "real":
    st.info("Real mode arrives with the bundled SimCLR checkpoint's page section: embeddings of "
            "augmented pairs, a batch-size slider up to 512, and the batch 32 vs 512 result.")
    share(PARAMS)
    st.stop()

# --- inputs ------------------------------------------------------------------------------------
preset_buttons(PRESETS, key="nce_preset")
col_n, col_d, col_noise, col_tau = st.columns(4)
n = col_n.slider("Pairs in the batch N", 2, 1024, key="nce_n")
d = col_d.slider("Embedding dimension D", 1, 512, key="nce_d")
noise = col_noise.slider("View noise (0 = identical views)", 0.0, 3.0, step=0.05,
                         key="nce_noise")
random_pairs = col_noise.checkbox("Random pairs", key="nce_random",
                                  help="The two views share nothing: independent directions.")
tau = col_tau.slider("Temperature τ", 0.0, 2.0, step=0.01, key="nce_tau")
with col_tau:
    seed = seed_picker(key="nce", label="Batch seed")
batch_noise = math.inf if random_pairs else noise

# --- the batch ---------------------------------------------------------------------------------
clamp_state("nce_anchor", 0, 2 * n - 1)
anchor = st.slider("Anchor (row of the matrix; v1·i for i < N, v2·i after)", 0, 2 * n - 1,
                   key="nce_anchor")
try:
    scalars, bars = batch_summary(n, d, batch_noise, seed, tau, anchor)
    st.session_state["nce_last_valid_tau"] = tau
except ValueError as error:
    shown_tau = st.session_state.get("nce_last_valid_tau", 0.1)
    st.error(f"τ = {tau:g} cannot be used: {error}. The figures show τ = {shown_tau:g}, the last "
             "valid value; move the slider above 0.", icon=":material/error:")
    tau = shown_tau
    scalars, bars = batch_summary(n, d, batch_noise, seed, tau, anchor)

m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("InfoNCE loss", f"{scalars['loss']:.3f}",
          delta=f"{scalars['loss'] - scalars['reference']:+.3f} vs log(2N−1)", delta_color="off")
m2.metric("log(2N−1)", f"{scalars['reference']:.3f}",
          help="The loss of a uniform softmax over the 2N − 1 candidates ('chance').")
m3.metric("Top-1 accuracy", f"{scalars['top1']:.0%}",
          help="Share of anchors whose positive is their most similar candidate.")
m4.metric("Alignment", f"{scalars['alignment']:.3f}",
          help="Mean squared distance between the two views of an image (0: identical).")
m5.metric("Uniformity", f"{scalars['uniformity']:.3f}",
          help="log E exp(−2‖x − y‖²) over pairs of images: lower means spread more evenly "
               "over the sphere (Wang & Isola 2020).")

heat_col, bar_col = st.columns(2, gap="large")
with heat_col:
    pooled, block = similarity_map(n, d, batch_noise, seed)
    heat = figures.figure(
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
    figures.show(
        heat, key="nce_fig_heat", filename=f"similarity_N{n}_D{d}",
        caption=(
            f"Cosine similarity of all 2N = {2 * n} embeddings: view 1 of images 0..N−1, then "
            "view 2 (black lines). Positives are the two stripes N off the diagonal; the diagonal "
            "(each embedding with itself) is left out of the loss."
            + (f" Each cell averages a {block} x {block} block." if block > 1 else "")
        ),
    )
    figures.csv_button("Similarity matrix (CSV)", lambda: similarity_csv(n, d, batch_noise, seed),
                       key="nce_csv_heat", filename=f"similarity_N{n}_D{d}_seed{seed}.csv")

with bar_col:
    names = embedding_labels(n)
    st.markdown(f"**Where anchor {names[anchor]}'s softmax weight goes** (τ = {tau:g})")
    view_col, log_col = st.columns([3, 1])
    negatives_only = view_col.toggle("Negatives only", key="nce_negonly",
                                     help="Each negative's share of the weight the negatives get.")
    logy = log_col.checkbox("Log scale", key="nce_logy")
    shown = ~bars.is_positive if negatives_only else np.ones_like(bars.is_positive)
    bar = figures.figure(
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
    figures.show(
        bar, key="nce_fig_bars", filename=f"anchor_weights_tau{tau:g}",
        caption=(
            f"The positive gets {bars.positive_weight:.1%} of the weight (rank "
            f"{bars.positive_rank_by_weight + 1} of {2 * n - 1}); the heaviest negative holds "
            f"{bars.hardest_negative_share:.0%} of all negative weight"
            + (f"; the {2 * n - 1 - len(bars.candidate)} candidates not drawn share "
               f"{bars.rest_weight:.1%}" if 2 * n - 1 > len(bars.candidate) else "")
            + ". Lower τ piles the negatives' weight onto the few most similar ones: the hard "
            "negatives drive the gradient (switch on 'negatives only' and move τ)."
        ),
    )
    figures.csv_button(
        "Anchor weights (CSV)",
        records_to_csv([{"candidate": names[c], "weight": float(w), "cosine": float(cos),
                         "positive": bool(p), "negative_share": float(share)}
                        for c, w, cos, p, share in
                        zip(bars.candidate, bars.weight, bars.similarity, bars.is_positive,
                            bars.negative_share, strict=True)]),
        key="nce_csv_bars", filename=f"anchor_{names[anchor]}_tau{tau:g}.csv",
    )

# --- temperature sweep ---------------------------------------------------------------------------
st.subheader("Loss against temperature")
result = sweep(n, d, noise)
curve = figures.figure(
    [go.Scatter(x=result.taus, y=values, name=name, mode="lines+markers", line=dict(color=colour),
                error_y=dict(array=errors, thickness=1))
     for name, values, errors, colour in (
         (f"aligned (noise {noise:g})", result.aligned, result.aligned_sem, figures.ACCENT),
         ("random pairs", result.random, result.random_sem, figures.POSITIVE))],
    height=380,
    legend=dict(x=0.99, xanchor="right", y=0.88, yanchor="top"),
    shapes=[figures.hline(result.reference_loss, dash="dash"),
            *(figures.vline(t, dash="dot") for t in LESSON_TAUS),
            figures.vline(tau, colour="black", width=1.5)],
    # On a log axis annotations take log10(x); shapes take x itself.
    annotations=[dict(x=math.log10(tau), y=1, yref="paper", text=f"your τ = {tau:g}",
                      showarrow=False, xanchor="left", yanchor="bottom"),
                 dict(x=0, xref="paper", y=result.reference_loss, text="log(2N−1) = "
                      f"{result.reference_loss:.2f}", showarrow=False, xanchor="left",
                      yanchor="bottom")],
    xaxis=dict(type="log", title="temperature τ (log scale); dotted: the lesson's four values",
               tickvals=sorted({*result.taus[:1], *LESSON_TAUS, 1.0, *result.taus[-1:]})),
    yaxis=dict(title="InfoNCE loss"),
)
figures.show(
    curve, key="nce_fig_sweep", filename=f"tau_sweep_N{n}_D{d}",
    caption=(
        f"Mean loss over {len(result.seeds)} batch(es) of N = {n}, D = {d} (bars: standard "
        "error). Aligned views: a colder τ lowers the loss. Random views: a colder τ raises it "
        "above log(2N−1), because dividing by τ stretches the random spread of the cosines."
    ),
)
figures.csv_button(
    "Sweep (CSV)",
    records_to_csv([{"tau": t, "aligned": a, "aligned_sem": a_sem, "random": r,
                     "random_sem": r_sem} for t, a, a_sem, r, r_sem in
                    zip(result.taus, result.aligned, result.aligned_sem, result.random,
                        result.random_sem, strict=True)]),
    key="nce_csv_sweep", filename=f"tau_sweep_N{n}_D{d}.csv",
)

# --- the lesson's claim, measured -----------------------------------------------------------------
st.subheader("Do random pairs give log(2N − 1)?")
lesson = lesson_random_pairs()
low, high = random_pair_bounds(LESSON["n"], LESSON["d"], LESSON["tau"])
yours_low, yours_high = random_pair_bounds(n, d, tau)
claim_col, measured_col, bound_col = st.columns(3)
claim_col.metric(f"Lesson: log(2N−1) at N = {LESSON['n']}", f"{low:.2f}")
measured_col.metric(
    f"Measured: D = {LESSON['d']}, τ = {LESSON['tau']:g}",
    f"{lesson.random[0]:.2f} ± {lesson.random_sem[0]:.2f}",
    help=f"Mean InfoNCE of {LESSON['batches']} batches of random pairs ± its standard error.",
)
bound_col.metric("Upper bound log(2N−1) + 1/(2Dτ²)", f"{high:.2f}")
st.markdown(
    f"Only a **uniform** softmax gives log(2N−1). The cosine of two random directions in D "
    f"dimensions has mean 0 but spread 1/√D; dividing by τ stretches that spread to 1/(τ√D), "
    f"and the log-sum-exp over the negatives is dominated by the few that happen to be most "
    f"similar, while the positive's term stays at 0 on average. So random pairs score *worse* "
    f"than log(2N−1) unless τ√D is large. At your settings (N = {n}, D = {d}, τ = {tau:g}) the "
    f"random-pair loss lies between **{yours_low:.2f}** and **{yours_high:.2f}**."
)
share(PARAMS)
