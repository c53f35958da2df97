"""InfoNCE: how the temperature and the batch shape the contrastive loss.

Two modes. Synthetic: batch size N, dimension D, how well the two views agree, the temperature,
an anchor. Real (when the bundled SimCLR checkpoint exists): N Fashion-MNIST images, two SimCLR
views each, embedded by the bundled model, plus the measured batch 32 vs 512 result
(``simclr_batch``) and the measured loss at the lesson's four τ (``infonce_tau``). The batches
and their figures are ``app.infonce``'s; the numbers ``lesson.figures.infonce``'s.
"""

from __future__ import annotations

import math

import streamlit as st

from app import figures, presenter
from app import infonce as nce
from app.glossary import glossary
from app.predict import exercise
from app.state import Param, clamp_state, restore, share, stop_page
from app.text import public
from app.widgets import preset_buttons, seed_params, seed_picker
from lesson.figures.infonce import LESSON, describe_view_config, embedding_labels
from lesson.figures.pictures import encode_png, image_grid
from lesson.figures.tables import records_to_csv
from ssl_core.checkpoints import CheckpointError
from ssl_core.losses.infonce_sweep import random_pair_bounds

MODES = ("synthetic", "real")
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


restore(PARAMS)
st.title("InfoNCE and temperature")
figure_slot = presenter.main_figure()  # the similarity matrix and the anchor's weights
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "InfoNCE scores each of the 2N embeddings in a batch (two views of N images) by how much "
    "softmax weight it puts on its **positive**, the other view of its image, against the "
    "2N − 2 **negatives**. The temperature τ divides every similarity before the softmax."
)

# --- mode: synthetic, or real pairs through the bundled SimCLR ---------------------------------
stamp = nce.real_stamp()
if not stamp:
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
if mode == "real":
    try:
        model = nce.pair_model()
    except (CheckpointError, ValueError) as error:
        st.error(f"The bundled SimCLR checkpoint could not be used: {public(error)}. Showing "
                 "synthetic embeddings instead.", icon=":material/error:")
        mode = "synthetic"

exercise("temperature", key="nce_predict")

# --- everything below the mode: one fragment ---------------------------------------------------
# The batch's sliders (N, D, noise, seed, the presets) rerun this fragment only, not the page's
# head; the temperature and the anchor rerun the smaller fragment nested in it (tau_driven).


@st.fragment
def batch_view() -> None:
    """The inputs, the batch and everything drawn from it."""
    # --- inputs -----------------------------------------------------------------------------------
    if mode == "real":
        st.markdown(
            "**Real pairs**: N images of the bundled Fashion-MNIST training subset (the images "
            "the model was trained on), two random views of each from the SimCLR pipeline the "
            "checkpoint was trained with, embedded by the bundled SimCLR model. InfoNCE is "
            "computed on the **projections z** (the projection head's output, what the loss saw "
            "in training); switch to the backbone features h, the ones that are probed and "
            "embedded afterwards, to see that they are not what the loss shaped."
        )
        settings = presenter.controls()
        col_n, col_feat, col_tau = settings.columns(3)
        n = col_n.slider("Pairs in the batch N", 2, REAL_MAX_N, key="nce_rn")
        with col_n:
            seed = seed_picker(key="nce", label="Batch seed")
        kind = col_feat.radio("Embeddings scored", FEATURES, key="nce_feat",
                              format_func=FEATURE_LABELS.get)
        tau_slot = col_tau.container()
        col_tau.caption(f"The checkpoint was trained at τ = {model.temperature:g}.")
        try:
            tiles, captions, records = nce.real_tiles(n, seed, stamp, shown=PAIRS_SHOWN,
                                                      tile=PAIR_TILE)
        except ValueError as error:
            stop_page(PARAMS, f"The real pairs could not be made: {error}")
        with st.expander(f"The views: {PAIRS_SHOWN} of the {n} pairs and the SimCLR pipeline",
                         expanded=True):
            st.image(tiles, caption=captions, width=140)
            st.caption("Each pair: view 1 and view 2 of one training image, as the model sees them "
                       "(28 x 28). The pipeline: " + describe_view_config(model.view_config))
            st.dataframe(records, hide_index=True, height=180)
            st.download_button(
                "Pair views (PNG)", lambda: encode_png(image_grid(tiles, ncols=PAIRS_SHOWN)),
                file_name=f"real_pairs_N{n}_seed{seed}.png", mime="image/png", key="nce_png_pairs",
                on_click="ignore", icon=":material/download:",
            )
        batch = nce.Batch("real", n, seed, kind=kind, stamp=stamp)
        d = model.dim(kind)
        tag = f"real_{kind}_N{n}_seed{seed}"
        embedded = f"the {FEATURE_SHORT[kind]} (D = {d}) of the 2N = {2 * n} views"
    else:
        settings = presenter.controls()
        with settings:
            preset_buttons(PRESETS, key="nce_preset")
        col_n, col_d, col_noise, col_tau = settings.columns(4)
        n = col_n.slider("Pairs in the batch N", 2, 1024, key="nce_n")
        d = col_d.slider("Embedding dimension D", 1, 512, key="nce_d")
        noise = col_noise.slider("View noise (0 = identical views)", 0.0, 3.0, step=0.05,
                                 key="nce_noise")
        random_pairs = col_noise.checkbox(
            "Random pairs", key="nce_random",
            help="The two views share nothing: independent directions.")
        tau_slot = col_tau.container()
        with col_tau:
            seed = seed_picker(key="nce", label="Batch seed")
        batch = nce.Batch("synthetic", n, seed, d=d, noise=math.inf if random_pairs else noise)
        tag = f"N{n}_D{d}"
        embedded = f"all 2N = {2 * n} embeddings"

    # --- the batch --------------------------------------------------------------------------------
    # Everything the temperature and the anchor drive is one fragment: moving either slider
    # reruns only that part (metrics, the anchor's bars, the sweep's τ marker, the bounds at your
    # settings); the batch, its heat map and the inputs above stay as they are. The fragment
    # writes into slots laid out here, so the page looks the same as a single script.
    clamp_state("nce_anchor", 0, 2 * n - 1)
    anchor_slot = st.container()
    metrics_slot = st.container()
    heat_col, bar_col = figure_slot.columns(2, gap="large")
    sweep_slot = st.container()
    claim_slot = st.container()


    @st.fragment
    def tau_driven() -> None:
        """The τ and anchor sliders and all that depends on them (a fragment: see above)."""
        tau = tau_slot.slider("Temperature τ", 0.0, 2.0, step=0.01, key="nce_tau")
        anchor = anchor_slot.slider("Anchor (row of the matrix; v1·i for i < N, v2·i after)", 0,
                                    2 * n - 1, key="nce_anchor")
        try:
            scalars, bars = nce.summary(batch, tau, anchor)
            st.session_state["nce_last_valid_tau"] = tau
        except ValueError as error:
            shown_tau = st.session_state.get("nce_last_valid_tau", 0.1)
            metrics_slot.error(f"τ = {tau:g} cannot be used: {error}. The figures show τ = "
                               f"{shown_tau:g}, the last valid value; move the slider above 0.",
                               icon=":material/error:")
            tau = shown_tau
            scalars, bars = nce.summary(batch, tau, anchor)
        show_metrics(scalars)
        with bar_col:
            show_anchor_weights(bars, anchor, tau)
        with sweep_slot:
            show_sweep(tau)
        if mode != "real":
            with claim_slot:
                show_claim(tau)
        share(PARAMS)

    def show_metrics(scalars: dict[str, float]) -> None:
        m1, m2, m3, m4, m5 = metrics_slot.columns(5)
        m1.metric("InfoNCE loss", f"{scalars['loss']:.3f}",
                  delta=f"{scalars['loss'] - scalars['reference']:+.3f} vs log(2N−1)",
                  delta_color="off")
        m2.metric("log(2N−1)", f"{scalars['reference']:.3f}",
                  help="The loss of a uniform softmax over the 2N − 1 candidates ('chance').")
        m3.metric("Top-1 accuracy", f"{scalars['top1']:.0%}",
                  help="Share of anchors whose positive is their most similar candidate.")
        m4.metric("Alignment", f"{scalars['alignment']:.3f}",
                  help="Mean squared distance between the two views of an image (0: identical).")
        m5.metric("Uniformity", f"{scalars['uniformity']:.3f}",
                  help="log E exp(−2‖x − y‖²) over pairs of images: lower means spread more evenly "
                       "over the sphere (Wang & Isola 2020).")

    def show_anchor_weights(bars, anchor: int, tau: float) -> None:
        names = embedding_labels(n)
        st.markdown(f"**Where anchor {names[anchor]}'s softmax weight goes** (τ = {tau:g})")
        view_col, log_col = st.columns([3, 1])
        negatives_only = view_col.toggle(
            "Negatives only", key="nce_negonly",
            help="Each negative's share of the weight the negatives get.")
        logy = log_col.checkbox("Log scale", key="nce_logy")
        figures.show(
            nce.anchor_figure(bars, names, negatives_only=negatives_only, logy=logy, n=n),
            key="nce_fig_bars", filename=f"anchor_weights_tau{tau:g}",
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

    def show_sweep(tau: float) -> None:
        if mode == "real":
            sweep_taus, sweep_losses = nce.batch_sweep(batch)
            st.subheader("Loss against temperature, this batch")
            figures.show(
                nce.sweep_figure(sweep_taus,
                                 [(FEATURE_LABELS[kind], sweep_losses, None, figures.ACCENT)],
                                 reference=math.log(2 * n - 1), tau=tau),
                key="nce_fig_sweep", filename=f"tau_sweep_{tag}",
                caption=(
                    f"InfoNCE of this one batch of N = {n} real pairs ({FEATURE_SHORT[kind]}) "
                    "at each temperature: the embeddings are computed once, only the loss changes "
                    "with τ. Trained projections sit far below log(2N−1) at cold τ: the positives "
                    "stand out."
                ),
            )
            figures.csv_button(
                "Sweep (CSV)",
                records_to_csv([{"tau": t, "loss": v} for t, v in zip(sweep_taus, sweep_losses,
                                                                        strict=True)]),
                key="nce_csv_sweep", filename=f"tau_sweep_{tag}_seed{seed}.csv",
            )
            return
        result = nce.toy_sweep(n, d, noise)
        st.subheader("Loss against temperature")
        figures.show(
            nce.sweep_figure(result.taus, [
                (f"aligned (noise {noise:g})", result.aligned, result.aligned_sem, figures.ACCENT),
                ("random pairs", result.random, result.random_sem, figures.POSITIVE)],
                reference=result.reference_loss, tau=tau,
                legend=dict(x=0.99, xanchor="right", y=0.88, yanchor="top")),
            key="nce_fig_sweep", filename=f"tau_sweep_N{n}_D{d}",
            caption=(
                f"Mean loss over {len(result.seeds)} batch(es) of N = {n}, D = {d} (bars: "
                "standard error). Aligned views: a colder τ lowers the loss. Random views: a "
                "colder τ raises it above log(2N−1), because dividing by τ stretches the random "
                "spread of the cosines."
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

    def show_claim(tau: float) -> None:
        st.subheader("Do random pairs give log(2N − 1)?")
        lesson = nce.the_lesson_claim()
        low, high = random_pair_bounds(LESSON["n"], LESSON["d"], LESSON["tau"])
        yours_low, yours_high = random_pair_bounds(n, d, tau)
        claim_col, measured_col, bound_col = st.columns(3)
        claim_col.metric(f"Lesson: log(2N−1) at N = {LESSON['n']}", f"{low:.2f}")
        measured_col.metric(
            f"Measured: D = {LESSON['d']}, τ = {LESSON['tau']:g}",
            f"{lesson.random[0]:.2f} ± {lesson.random_sem[0]:.2f}",
            help=f"Mean InfoNCE of {LESSON['batches']} batches of random pairs ± its standard "
                 "error.",
        )
        bound_col.metric("Upper bound log(2N−1) + 1/(2Dτ²)", f"{high:.2f}")
        st.markdown(
            f"Only a **uniform** softmax gives log(2N−1). The cosine of two random directions in D "
            f"dimensions has mean 0 but spread 1/√D; dividing by τ stretches that spread to "
            f"1/(τ√D), and the log-sum-exp over the negatives is dominated by the few that happen "
            f"to be most similar, while the positive's term stays at 0 on average. So random "
            f"pairs score *worse* than log(2N−1) unless τ√D is large. At your settings (N = {n}, "
            f"D = {d}, τ = {tau:g}) the random-pair loss lies between **{yours_low:.2f}** and "
            f"**{yours_high:.2f}**."
        )


    tau_driven()

    # --- what τ does not change: the batch's similarities, the measured results -----------------
    with heat_col:
        pooled, block = nce.similarity(batch)
        figures.show(
            nce.heat_figure(pooled, block, n), key="nce_fig_heat", filename=f"similarity_{tag}",
            caption=(
                f"Cosine similarity of {embedded}: view 1 of images 0..N−1, then "
                "view 2 (black lines). Positives are the two stripes N off the diagonal; the "
                "diagonal (each embedding with itself) is left out of the loss."
                + (f" Each cell averages a {block} x {block} block." if block > 1 else "")
            ),
        )
        figures.csv_button("Similarity matrix (CSV)", lambda: nce.similarity_table(batch),
                           key="nce_csv_heat", filename=f"similarity_{tag}_seed{seed}.csv")
    if mode == "real":
        nce.show_measured_tau_table()
        nce.show_batch_size_result(BATCH_CLAIM)
    share(PARAMS)


batch_view()
glossary("infonce")
