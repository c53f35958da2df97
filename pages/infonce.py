"""InfoNCE: how the temperature and the batch shape the contrastive loss.

Two modes. Synthetic: batch size N, dimension D, how well the two views agree, the temperature,
an anchor; the numbers come from ``ssl_core.losses.infonce`` (``info_nce_diagnostics``,
``tau_sweep``). Real (when the bundled SimCLR checkpoint exists): N Fashion-MNIST images, two
SimCLR views each, embedded by the bundled model (``lesson.figures.pairs.real_pairs``, cached per
batch size and seed, so moving τ only recomputes the loss), plus the measured batch 32 vs 512 result
(``simclr_batch``) and the measured loss at the lesson's four τ (``infonce_tau``).
``ssl_core.viz`` shapes the numbers for the figures.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from app import figures
from app.resources import bundled_checkpoint, fashion_mnist, load_bundled_method
from app.state import Param, clamp_state, restore, share
from app.widgets import preset_buttons, seed_params, seed_picker
from lesson.figures.infonce import (
    CandidateWeights,
    candidate_weights,
    embedding_labels,
    pool_matrix,
    sweep_seed_count,
    sweep_temperatures,
)
from lesson.figures.pairs import (
    RealPairs,
    checkpoint_view_config,
    loss_against_tau,
    real_pairs,
    trace_pair,
)
from lesson.figures.pictures import encode_png, image_grid, upscale_nearest
from lesson.figures.tables import matrix_to_csv, records_to_csv
from lesson.figures.views import describe_view
from lesson.results import ResultMissingError, load_result
from ssl_core.augment import ViewConfig
from ssl_core.checkpoints import CONFIG_FILE, CheckpointError, read_json
from ssl_core.images import to_uint8_image
from ssl_core.losses.infonce import (
    LESSON_TAUS,
    TauSweep,
    info_nce_diagnostics,
    random_pair_bounds,
    synthetic_pairs,
    tau_sweep,
)

MODES = ("synthetic", "real")
HEATMAP_SIDE = 256  # cells a side; larger matrices are block-averaged
TOP_K = 48  # bars in the anchor panel
LESSON = dict(n=16, d=32, tau=0.1, batches=200)  # the lesson's random-pairs claim
REAL_MAX_N = 512  # real mode: pairs in a batch (1024 views through the encoder)
FEATURES = ("projection", "backbone")
FEATURE_LABELS = {"projection": "Projections z (what InfoNCE trains)",
                  "backbone": "Backbone features h (what is probed)"}
FEATURE_SHORT = {"projection": "projections z", "backbone": "backbone features h"}
BATCH_CLAIM = "Bigger batches make better SimCLR features: batch 512 beats batch 32."
PAIRS_SHOWN = 6  # pairs drawn in the views grid
PAIR_TILE = 84  # display side of a view, px (a pair is twice as wide)

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
    Param("nce_rn", 256, lo=2, hi=REAL_MAX_N),
    Param("nce_feat", "projection", options=FEATURES),
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


# --- real mode: pairs through the bundled SimCLR ------------------------------------------------
# ``model_key`` (checkpoint path and mtime) names ``_model`` and ``_config`` in the cache keys.


@st.cache_data(show_spinner="Embedding the pairs with the SimCLR model…", max_entries=8)
def real_batch(n: int, seed: int, model_key: str, *, _model: torch.nn.Module,
               _config: ViewConfig) -> RealPairs:
    """N training images, two views each, and their embeddings (h and z)."""
    return real_pairs(_model, fashion_mnist().images, n=n, seed=seed, config=_config)


@st.cache_data(show_spinner=False, max_entries=64)
def real_summary(n: int, seed: int, kind: str, model_key: str, tau: float, anchor: int, *,
                 _model: torch.nn.Module,
                 _config: ViewConfig) -> tuple[dict[str, float], CandidateWeights]:
    """As :func:`batch_summary`, on the real batch's ``kind`` embeddings."""
    pairs = real_batch(n, seed, model_key, _model=_model, _config=_config)
    diag = info_nce_diagnostics(*pairs.embeddings(kind), tau, anchor=anchor)
    scalars = dict(loss=diag.loss, reference=diag.reference_loss, top1=diag.top1_accuracy,
                   alignment=diag.alignment, uniformity=diag.uniformity)
    return scalars, candidate_weights(diag, top_k=TOP_K)


@st.cache_data(show_spinner=False, max_entries=16)
def real_similarity_map(n: int, seed: int, kind: str, model_key: str, *,
                        _model: torch.nn.Module, _config: ViewConfig) -> tuple[np.ndarray, int]:
    pairs = real_batch(n, seed, model_key, _model=_model, _config=_config)
    diag = info_nce_diagnostics(*pairs.embeddings(kind), 1.0)
    return pool_matrix(diag.similarity.numpy(), max_side=HEATMAP_SIDE)


def real_similarity_csv(n: int, seed: int, kind: str, model_key: str, *,
                        _model: torch.nn.Module, _config: ViewConfig) -> str:
    pairs = real_batch(n, seed, model_key, _model=_model, _config=_config)
    diag = info_nce_diagnostics(*pairs.embeddings(kind), 1.0)
    return matrix_to_csv(diag.similarity.numpy(), embedding_labels(n))


@st.cache_data(show_spinner=False, max_entries=16)
def real_sweep(n: int, seed: int, kind: str, model_key: str, *, _model: torch.nn.Module,
               _config: ViewConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(taus, losses) of the real batch along the sweep's temperatures."""
    pairs = real_batch(n, seed, model_key, _model=_model, _config=_config)
    taus = sweep_temperatures()
    return taus, loss_against_tau(*pairs.embeddings(kind), taus)


@st.cache_data(show_spinner=False, max_entries=8)
def pair_tiles(n: int, seed: int, model_key: str, *, _model: torch.nn.Module,
               _config: ViewConfig) -> tuple[list[np.ndarray], list[str], list[dict[str, Any]]]:
    """The first PAIRS_SHOWN pairs: one enlarged uint8 tile per pair (view 1 | view 2), a
    caption each, and one record per view with what was sampled for it."""
    pairs = real_batch(n, seed, model_key, _model=_model, _config=_config)
    data = fashion_mnist()
    tiles, captions, records = [], [], []
    for j in range(min(PAIRS_SHOWN, n)):
        index = int(pairs.indices[j])
        name = data.classes[int(data.labels[index])]
        views = trace_pair(data.images, pairs, j)
        tiles.append(image_grid([upscale_nearest(to_uint8_image(v.image), min_side=PAIR_TILE)
                                 for v in views], ncols=2, pad=2))
        captions.append(f"pair {j}: image {index}, {name}")
        records += [{"pair": j, "view": v, "image": index, "class": name,
                     "sampled": describe_view(view.params)}
                    for v, view in enumerate(views, start=1)]
    return tiles, captions, records


def describe_config(cfg: ViewConfig) -> str:
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


def _measured(name: str) -> dict[str, Any] | None:
    """A measured result, or None after telling the user why it is not there."""
    try:
        return load_result(name)
    except ResultMissingError as error:
        st.info(f"Not measured yet: {error}.", icon=":material/info:")
    except ValueError as error:
        st.error(f"The measured result could not be read: {error}", icon=":material/error:")
    return None


def measured_tau_table() -> None:
    """The ``infonce_tau`` result: the bundled model's loss at the lesson's four τ, N = 512."""
    st.subheader("Measured: the lesson's four temperatures")
    result = _measured("infonce_tau")
    if result is None:
        return
    try:
        taus = result["taus"]
        rows = [{"τ": t, "aligned toy pairs": a, "random toy pairs": r}
                for t, a, r in zip(taus, result["synthetic"]["aligned"],
                                   result["synthetic"]["random"], strict=True)]
        synthetic = result["synthetic"]
        caption = (f"Toy pairs: N = {synthetic['n']}, D = {synthetic['d']}, noise "
                   f"{synthetic['noise']:g}, mean of {synthetic['seeds']} batches.")
        real = result.get("real")
        if real is not None:
            for row, z in zip(rows, real["loss"], strict=True):
                row["SimCLR z (real pairs)"] = z
            for row, h in zip(rows, real.get("backbone_loss") or [], strict=False):
                row["SimCLR h (real pairs)"] = h
            caption += (f" Real pairs: the bundled SimCLR on N = {real['n_pairs']} pairs of the "
                        f"{real.get('split', 'train')} images, mean of {len(real['seeds'])} "
                        f"batches; log(2N−1) = {real['reference_loss']:.2f}.")
    except (KeyError, TypeError, ValueError) as error:
        st.error(f"The infonce_tau result has an unexpected shape ({error!r}); re-run "
                 "`python3 -m lesson.experiments.infonce_tau`.", icon=":material/error:")
        return
    st.dataframe(rows, hide_index=True, column_config={
        k: st.column_config.NumberColumn(format="%.3f") for k in rows[0] if k != "τ"})
    st.caption(caption + " Made by `python3 -m lesson.experiments.infonce_tau`.")


def batch_size_result() -> None:
    """The ``simclr_batch`` result: the lesson's claim about batch size next to our runs."""
    st.subheader("Batch 32 vs 512: does a bigger batch help?")
    claim_col, measured_col = st.columns(2, gap="large")
    with measured_col:
        result = _measured("simclr_batch")
    claim = (result or {}).get("claim")
    claim = claim.rstrip(". ") + "." if isinstance(claim, str) else BATCH_CLAIM
    claim_col.markdown(
        f"**The lesson's claim.** {claim} "
        "The reason given: a bigger batch gives each anchor more negatives (2N − 2), so InfoNCE "
        "is a tighter bound; SimCLR's linear accuracy rises with the batch size, most clearly "
        "for short training (Chen et al. 2020, fig. 9)."
    )
    if result is None:
        return
    try:
        runs = sorted(result["runs"], key=lambda run: run["batch_size"])
        traces = [go.Scatter(x=[p["images_seen"] for p in run["curve"]],
                             y=[p["knn_k200"] for p in run["curve"]], mode="lines+markers",
                             name=f"batch {run['batch_size']}")
                  for run in runs]
        finals = [(run, run["curve"][-1]) for run in runs]
        images_seen = int(result["images_seen"])
    except (KeyError, TypeError, ValueError, IndexError) as error:
        st.error(f"The simclr_batch result has an unexpected shape ({error!r}); re-run its "
                 "experiment.", icon=":material/error:")
        return
    with measured_col:
        st.markdown(f"**Our measurement.** SimCLR on the bundled Fashion-MNIST, the same "
                    f"{images_seen:,} images seen at each batch size.")
        for column, (run, last) in zip(st.columns(len(finals)), finals, strict=True):
            column.metric(f"kNN accuracy, batch {run['batch_size']}",
                          f"{last['knn_k200']:.1%}",
                          help=f"k = 200 (k = 20: {last['knn_k20']:.1%}); {run['steps']} steps "
                               f"at lr {run['lr']:g}"
                               + (f", {run['wall_time_s']:.0f} s" if "wall_time_s" in run
                                  else ""))
        if result.get("finding"):
            st.markdown(f"**Finding:** {result['finding']}")
    curve = figures.figure(traces, height=340,
                           xaxis=dict(title="images seen"),
                           yaxis=dict(title="kNN accuracy (k = 200)", tickformat=".0%"))
    figures.show(curve, key="nce_fig_batch", filename="simclr_batch",
                 caption="kNN accuracy of the backbone features along training, one line per "
                         "batch size, at equal numbers of images seen. "
                         + (f"{result['protocol']} " if isinstance(result.get("protocol"), str)
                            else "")
                         + "Made by `python3 -m lesson.experiments.simclr_batch`.")
    figures.csv_button(
        "Batch runs (CSV)",
        records_to_csv([{"batch_size": run["batch_size"], **point} for run in runs
                        for point in run["curve"]]),
        key="nce_csv_batch", filename="simclr_batch.csv")


restore(PARAMS)
st.title("InfoNCE and temperature")
st.markdown(
    "InfoNCE scores each of the 2N embeddings in a batch (two views of N images) by how much "
    "softmax weight it puts on its **positive**, the other view of its image, against the "
    "2N − 2 **negatives**. The temperature τ divides every similarity before the softmax."
)

# --- mode: synthetic, or real pairs through the bundled SimCLR ---------------------------------
checkpoint = bundled_checkpoint("simclr")
if checkpoint is None:
    st.session_state["nce_mode"] = "synthetic"
    st.info(
        "Synthetic embeddings only: the bundled SimCLR checkpoint is not present "
        "(assets/checkpoints/simclr/), so the real mode, which embeds augmented image pairs "
        "with that model, is not offered. Train one with `python3 -m ssl_core.pretrain --method "
        "simclr` and bundle it there.",
        icon=":material/info:",
    )
    mode = "synthetic"
else:
    mode = st.radio("Embeddings", MODES, key="nce_mode", horizontal=True,
                    format_func={"synthetic": "Synthetic",
                                 "real": "Real pairs through the SimCLR encoder"}.get)
model = None
if mode == "real":
    try:
        model = load_bundled_method("simclr")
        view_config = checkpoint_view_config(read_json(checkpoint / CONFIG_FILE))
    except (CheckpointError, ValueError) as error:
        st.error(f"The bundled SimCLR checkpoint could not be used: {error}. Showing synthetic "
                 "embeddings instead.", icon=":material/error:")
        mode, model = "synthetic", None
    else:
        model_key = f"{checkpoint}:{(checkpoint / 'model.safetensors').stat().st_mtime_ns}"

# --- inputs ------------------------------------------------------------------------------------
if mode == "real":
    st.markdown(
        "**Real pairs**: N images of the bundled Fashion-MNIST training subset (the images the "
        "model was trained on), two random views of each from the SimCLR pipeline the checkpoint "
        "was trained with, embedded by the bundled SimCLR model. InfoNCE is computed on the "
        "**projections z** (the projection head's output, what the loss saw in training); switch "
        "to the backbone features h, the ones that are probed and embedded afterwards, to see "
        "that they are not what the loss shaped."
    )
    col_n, col_feat, col_tau = st.columns(3)
    n = col_n.slider("Pairs in the batch N", 2, REAL_MAX_N, key="nce_rn")
    with col_n:
        seed = seed_picker(key="nce", label="Batch seed")
    kind = col_feat.radio("Embeddings scored", FEATURES, key="nce_feat",
                          format_func=FEATURE_LABELS.get)
    tau = col_tau.slider("Temperature τ", 0.0, 2.0, step=0.01, key="nce_tau")
    col_tau.caption(f"The checkpoint was trained at τ = {model.config.temperature:g}.")
    try:
        tiles, captions, records = pair_tiles(n, seed, model_key, _model=model,
                                              _config=view_config)
    except ValueError as error:
        st.error(f"The real pairs could not be made: {error}", icon=":material/error:")
        share(PARAMS)
        st.stop()
    with st.expander(f"The views: {PAIRS_SHOWN} of the {n} pairs and the SimCLR pipeline",
                     expanded=True):
        st.image(tiles, caption=captions, width=140)
        st.caption("Each pair: view 1 and view 2 of one training image, as the model sees them "
                   "(28 x 28). The pipeline: " + describe_config(view_config))
        st.dataframe(records, hide_index=True, height=180)
        st.download_button(
            "Pair views (PNG)", lambda: encode_png(image_grid(tiles, ncols=PAIRS_SHOWN)),
            file_name=f"real_pairs_N{n}_seed{seed}.png", mime="image/png", key="nce_png_pairs",
            on_click="ignore", icon=":material/download:",
        )
    d = model.config.proj_out_dim if kind == "projection" else model.backbone.embed_dim
    summarise = partial(real_summary, n, seed, kind, model_key, _model=model,
                        _config=view_config)
    similarity = partial(real_similarity_map, n, seed, kind, model_key, _model=model,
                         _config=view_config)
    matrix_csv = partial(real_similarity_csv, n, seed, kind, model_key, _model=model,
                         _config=view_config)
    tag = f"real_{kind}_N{n}_seed{seed}"
    embedded = f"the {FEATURE_SHORT[kind]} (D = {d}) of the 2N = {2 * n} views"
else:
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
    summarise = partial(batch_summary, n, d, batch_noise, seed)
    similarity = partial(similarity_map, n, d, batch_noise, seed)
    matrix_csv = partial(similarity_csv, n, d, batch_noise, seed)
    tag = f"N{n}_D{d}"
    embedded = f"all 2N = {2 * n} embeddings"

# --- the batch ---------------------------------------------------------------------------------
clamp_state("nce_anchor", 0, 2 * n - 1)
anchor = st.slider("Anchor (row of the matrix; v1·i for i < N, v2·i after)", 0, 2 * n - 1,
                   key="nce_anchor")
try:
    scalars, bars = summarise(tau, anchor)
    st.session_state["nce_last_valid_tau"] = tau
except ValueError as error:
    shown_tau = st.session_state.get("nce_last_valid_tau", 0.1)
    st.error(f"τ = {tau:g} cannot be used: {error}. The figures show τ = {shown_tau:g}, the last "
             "valid value; move the slider above 0.", icon=":material/error:")
    tau = shown_tau
    scalars, bars = summarise(tau, anchor)

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
    pooled, block = similarity()
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
        heat, key="nce_fig_heat", filename=f"similarity_{tag}",
        caption=(
            f"Cosine similarity of {embedded}: view 1 of images 0..N−1, then "
            "view 2 (black lines). Positives are the two stripes N off the diagonal; the diagonal "
            "(each embedding with itself) is left out of the loss."
            + (f" Each cell averages a {block} x {block} block." if block > 1 else "")
        ),
    )
    figures.csv_button("Similarity matrix (CSV)", matrix_csv, key="nce_csv_heat",
                       filename=f"similarity_{tag}_seed{seed}.csv")
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

# --- real mode: loss against temperature, and the measured results --------------------------------
if mode == "real":
    st.subheader("Loss against temperature, this batch")
    sweep_taus, sweep_losses = real_sweep(n, seed, kind, model_key, _model=model,
                                          _config=view_config)
    reference = math.log(2 * n - 1)
    real_curve = figures.figure(
        [go.Scatter(x=sweep_taus, y=sweep_losses, mode="lines+markers",
                    name=FEATURE_LABELS[kind], line=dict(color=figures.ACCENT))],
        height=360,
        shapes=[figures.hline(reference, dash="dash"),
                *(figures.vline(t, dash="dot") for t in LESSON_TAUS),
                figures.vline(tau, colour="black", width=1.5)],
        annotations=[dict(x=math.log10(tau), y=1, yref="paper", text=f"your τ = {tau:g}",
                          showarrow=False, xanchor="left", yanchor="bottom"),
                     dict(x=0, xref="paper", y=reference, text=f"log(2N−1) = {reference:.2f}",
                          showarrow=False, xanchor="left", yanchor="bottom")],
        xaxis=dict(type="log", title="temperature τ (log scale); dotted: the lesson's four values",
                   tickvals=sorted({sweep_taus[0], *LESSON_TAUS, 1.0, sweep_taus[-1]})),
        yaxis=dict(title="InfoNCE loss"),
    )
    figures.show(
        real_curve, key="nce_fig_sweep", filename=f"tau_sweep_{tag}",
        caption=(
            f"InfoNCE of this one batch of N = {n} real pairs ({FEATURE_SHORT[kind]}) "
            "at each temperature: the embeddings are computed once, only the loss changes with "
            "τ. Trained projections sit far below log(2N−1) at cold τ: the positives stand out."
        ),
    )
    figures.csv_button(
        "Sweep (CSV)",
        records_to_csv([{"tau": t, "loss": v} for t, v in zip(sweep_taus, sweep_losses,
                                                                strict=True)]),
        key="nce_csv_sweep", filename=f"tau_sweep_{tag}_seed{seed}.csv",
    )
    measured_tau_table()
    batch_size_result()
    share(PARAMS)
    st.stop()

# --- temperature sweep (synthetic) ------------------------------------------------------------
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
