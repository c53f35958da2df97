"""Attention maps: where a DINO ViT's CLS token looks, per head and on average.

Inputs: an encoder (a bundled DINO ViT checkpoint, or DINOv2 when the local Hugging Face cache holds
it), an image (bundled photo, Fashion-MNIST item or upload; converted to what the model takes),
the share of attention mass the DINO threshold keeps, and display options. The maps come from
``ssl_core.eval.attention`` (``attention_maps``, ``mass_threshold_mask``, ``foreground_share``),
the overlays from ``lesson.figures.pictures``; beside them, the measured
``attention_foreground`` result (tables from ``lesson.figures.attention``).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import figures, presenter, resources
from app.glossary import glossary
from app.measured import measured
from app.state import Param, restore, share, stop_page
from app.text import literal, public
from app.widgets import image_picker, picker_params
from lesson.experiments.attention_foreground import (
    THRESHOLD,
    AttentionForegroundResult,
    dino_vit_checkpoints,
)
from lesson.figures import attention as lesson_attention
from lesson.figures.pictures import overlay, upscale_nearest
from lesson.figures.tables import records_to_csv
from ssl_core.checkpoints import CheckpointError, checkpoint_stamp
from ssl_core.eval.attention import (
    AttentionMaps,
    attention_maps,
    foreground_share,
    mass_threshold_mask,
)
from ssl_core.images import image_to_batch, input_geometry, model_input
from ssl_core.models.hf import ModelNotAvailableError

TILE = 168  # display side of an image panel, px
HF_PREFIX = "hf:"
HEADS_PER_ROW = 6


def load_choice(choice: str):
    """The encoder behind a selectbox choice (cached, eval, shared: never modified), or None
    when a bundled checkpoint is gone."""
    if choice.startswith(HF_PREFIX):
        return resources.hf_encoder(choice.removeprefix(HF_PREFIX))
    return resources.load_bundled_encoder(choice)


def describe(choice: str) -> str:
    if choice.startswith(HF_PREFIX):
        return f"{choice.removeprefix(HF_PREFIX)} (DINOv2, local cache)"
    return f"{choice} (bundled DINO checkpoint)"


@st.cache_data(show_spinner="Computing attention…", max_entries=64)
def compute_maps(image: np.ndarray, choice: str, stamp: str, _encoder) -> AttentionMaps:
    """``choice`` and ``stamp`` (checkpoint mtime) name ``_encoder`` for the cache."""
    return attention_maps(_encoder, image_to_batch(image))


def stamp_of(choice: str) -> str:
    path = resources.bundled_checkpoint(choice) if not choice.startswith(HF_PREFIX) else None
    return checkpoint_stamp(path) if path else choice


def panel(image: np.ndarray) -> np.ndarray:
    return upscale_nearest(image, min_side=TILE)


def measured_result() -> None:
    """The ``attention_foreground`` result: attention share on the garment vs its area."""
    st.subheader("Measured: attention on the garment")
    result = measured(AttentionForegroundResult)
    if result is None:
        return
    st.dataframe(lesson_attention.result_rows(result), hide_index=True, key="att_result_table")
    st.caption(lesson_attention.result_caption(result))
    st.markdown(f"**Verdict (generated from the numbers):** {result.verdict}")
    per_class = figures.figure(
        [go.Bar(name=label, x=classes, y=lift,
                hovertemplate="%{x}: lift %{y:.2f}<extra></extra>")
         for label, classes, lift in lesson_attention.per_class_lift(result)],
        height=300, barmode="group", shapes=[figures.hline(1.0, colour="black")],
        yaxis=dict(title="lift (attention / area)", rangemode="tozero"),
    )
    figures.show(per_class, key="att_fig_classes", filename="attention_foreground_classes",
                 caption="Lift per class: above the black line, the CLS token attends to "
                         "the garment more than its area explains.")
    figures.csv_button("Measured result (CSV)",
                       records_to_csv(lesson_attention.result_records(result)),
                       key="att_result_csv", filename="attention_foreground.csv")


def heat_figure(maps: AttentionMaps, title: str, values: np.ndarray) -> go.Figure:
    return figures.figure(
        [go.Heatmap(z=values, colorscale="Inferno", zmin=0, colorbar=dict(thickness=12),
                    hovertemplate="patch row %{y}, column %{x}<br>attention %{z:.4f}"
                                  "<extra></extra>")],
        height=320, title=title,
        xaxis=dict(title="patch column", constrain="domain"),
        yaxis=dict(title="patch row", autorange="reversed", scaleanchor="x", constrain="domain"),
    )


# --- encoders available -------------------------------------------------------------------------
choices = dino_vit_checkpoints() + [
    HF_PREFIX + name for name in resources.local_hf_models() if "dinov2" in name]
PARAMS: tuple[Param, ...] = (
    *picker_params("att"),
    Param("att_keep", 0.6, lo=0.05, hi=1.0),
    Param("att_alpha", 0.6, lo=0.0, hi=1.0),
    Param("att_smooth", False),
)
if choices:
    PARAMS = (Param("att_encoder", choices[0], options=tuple(choices)), *PARAMS)

# A shared link may name an encoder this machine lacks (DINOv2 not in the local cache): say so
# before restore() drops the unknown value, then show what is available.
linked_encoder = st.query_params.get("att_encoder")


@st.fragment
def maps_view(choice: str, picked, param_col, figure_slot) -> None:
    """The threshold, opacity and smoothing widgets (in ``param_col``) and all they drive. The
    maps are computed once per encoder and image (cached); moving a slider reruns only this
    fragment, which redraws the overlays, not the page's head or the measured result."""
    with param_col:
        keep = st.slider("Threshold: share of the attention mass to keep", 0.05, 1.0,
                         step=0.05, key="att_keep",
                         help="DINO's threshold: the fewest highest patches that together hold "
                              "this share of the map's attention (the paper's figures use 0.6).")
        alpha = st.slider("Colour opacity", 0.0, 1.0, step=0.05, key="att_alpha")
        smooth = st.toggle("Smooth maps (bilinear) instead of patch blocks", key="att_smooth")

    try:
        encoder = load_choice(choice)
        problem = None if encoder is not None else f"{describe(choice)} is no longer there."
    except (CheckpointError, ModelNotAvailableError, ValueError, OSError) as error:
        encoder, problem = None, public(error)
    if encoder is None:
        stop_page(PARAMS, f"Could not load {describe(choice)}: {problem}")

    try:
        image = model_input(picked, encoder)  # uint8 (side, side[, 3]); ValueError: no size
        height, width, channels = input_geometry(encoder)
        maps = compute_maps(image, choice, stamp_of(choice), encoder)
    except ValueError as error:
        stop_page(PARAMS, f"No attention maps for this encoder and image: {public(error)}")

    gh, gw = maps.grid
    panel_box = figure_slot.container()  # the page's main figure: input, mean, kept
    panel_box.caption(
        f"The model takes {height} x {width} {'grayscale' if channels == 1 else 'RGB'} images "
        f"({maps.patch_size} px patches, a {gh} x {gw} grid). "
        + lesson_attention.conversion(picked, height, channels)
        + " The maps below are computed on that input."
    )

    mode = "bilinear" if smooth else "nearest"
    mask = mass_threshold_mask(maps.mean, keep)  # (gh, gw) bool
    kept_mass = float(maps.mean[mask].sum() / maps.mean.sum())
    panels = [(image, "Model input"),
              (overlay(image, maps.mean, alpha=alpha, mode=mode), "Mean of the heads"),
              (overlay(image, maps.mean, alpha=alpha, mask=mask, mode=mode),
               f"Kept: {int(mask.sum())} of {mask.size} patches hold {100 * kept_mass:.0f} %")]
    for column, (picture, caption) in zip(panel_box.columns(3), panels, strict=True):
        column.image(panel(picture), caption=caption,
                     width="stretch" if presenter.on() else TILE)  # a third of a projector

    st.markdown(f"**Each head** ({len(maps.heads)} heads; thresholded at {keep:g} each)")
    head_masks = mass_threshold_mask(maps.heads, keep)  # (H, gh, gw)
    for start in range(0, len(maps.heads), HEADS_PER_ROW):
        columns = st.columns(HEADS_PER_ROW)
        for h in range(start, min(start + HEADS_PER_ROW, len(maps.heads))):
            columns[h - start].image(
                panel(overlay(image, maps.heads[h], alpha=alpha, mask=head_masks[h], mode=mode)),
                caption=f"Head {h}: CLS→self {100 * maps.cls_self[h]:.1f} %",
                width="stretch",
            )

    metric_cols = st.columns(3)
    metric_cols[0].metric("Patches kept", f"{int(mask.sum())} / {mask.size}",
                          help="Fewest highest patches of the mean map holding the chosen share.")
    metric_cols[1].metric("CLS attention to itself", f"{100 * float(maps.cls_self.mean()):.1f} %",
                          help="Mean over heads of the weight the CLS token puts on itself "
                               "(not on any patch).")
    if st.session_state.get("att_source") == "fashion":
        gray = image if image.ndim == 2 else image.mean(axis=2)
        fg = gray / 255.0 > THRESHOLD  # (side, side)
        share_fg = float(foreground_share(maps.mean, fg))
        metric_cols[2].metric(
            "Attention on the garment", f"{100 * share_fg:.1f} %",
            delta=f"{100 * (share_fg - float(fg.mean())):+.1f} pts vs its {100 * fg.mean():.0f} "
                  "% of the area",
            help=f"Foreground: pixels brighter than {THRESHOLD:g} (of 1). The measured result "
                 "beside averages this over the test set.",
        )

    figures.show(
        heat_figure(maps, "Mean CLS attention per patch", maps.mean),
        key="att_fig_mean", filename=f"attention_{choice.replace('/', '_')}",
        caption=f"The CLS token's attention to each of the {gh * gw} patches (last layer, mean "
                "of the heads); the numbers behind the overlays.",
    )
    records = lesson_attention.patch_records(maps, mask)
    figures.csv_button("Attention per patch (CSV)", records_to_csv(records), key="att_csv",
                       filename=f"attention_{choice.replace('/', '_')}.csv")
    share(PARAMS)


restore(PARAMS)
st.title("Attention maps")
if linked_encoder and linked_encoder not in choices:
    st.info(f"The link asks for the encoder {literal(linked_encoder)}, which is not available "
            "here"
            + (" (DINOv2 loads only from the local Hugging Face cache; nothing is downloaded)."
               if linked_encoder.startswith(HF_PREFIX) else ".")
            + (f" Showing `{choices[0]}` instead." if choices else ""),
            icon=":material/info:")
st.markdown(
    "A ViT's **CLS token** gathers the image into one vector by attending to the patches. DINO "
    "(Caron et al. 2021) noticed that, without any labels, its last-layer CLS attention picks "
    "out the object: each head looks at a part, and thresholding a map (keep the patches that "
    "hold, say, 60 % of the attention) gives a rough segmentation."
)

main_col, side_col = st.columns([3, 2], gap="large")
with side_col:
    measured_result()

with main_col:
    if not choices:
        st.info(
            "No DINO ViT to show: the bundled checkpoint assets/checkpoints/dino_vit/ is "
            "missing (the bundled `dino` is a CNN, which has no attention) and no DINOv2 is in "
            "the local Hugging Face cache. Restore the checkpoint (or train it: `python3 "
            "scripts/bundle_checkpoints.py train dino_vit`), or put facebook/dinov2-small in the "
            "cache (`hf download facebook/dinov2-small --include '*.json' '*.safetensors'`).",
            icon=":material/info:",
        )
        share(PARAMS)
        st.stop()

    figure_slot = presenter.main_figure()
    pick_col, param_col = presenter.controls().columns([1, 1], gap="large")
    with pick_col:
        choice = st.selectbox("Encoder", choices, key="att_encoder", format_func=describe)
        picked = image_picker(key="att")
    if not any(c.startswith(HF_PREFIX) for c in choices):
        st.caption("DINOv2 is offered here when the local Hugging Face cache holds "
                   "facebook/dinov2-small or -base (nothing is downloaded).")

    maps_view(choice, picked, param_col, figure_slot)
    st.caption("The URL holds every setting above (except an upload): copy it to share this "
               "view.")

glossary("attention")
share(PARAMS)
