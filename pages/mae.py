"""MAE: hide patches, rebuild them, and compare with plain interpolation.

Inputs: an image (bundled photo, Fashion-MNIST item or upload), the mask ratio, the mask kind
(random, block, grid) and a seed. The mask comes from ``ssl_core.masking.make_mask``; the fills
(interpolation, and the bundled MAE when its checkpoint exists), their errors and the curves
against the ratio from ``lesson.figures.mae``. The measured evidence (the encoder's speed-up at
the ratio, the 1,000-image study, what the colour MAE saw, and which image the page opens on)
is ``app.mae``'s.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import figures, presenter
from app import mae as evidence
from app.glossary import glossary
from app.resources import bundled_checkpoint, load_bundled_method
from app.state import Param, restore, share, stop_page
from app.text import public
from app.widgets import image_picker, picker_params, seed_params, seed_picker
from lesson.figures.mae import (
    BiharmonicFill,
    ErrorCurve,
    baseline_error_curve,
    biharmonic_error_curve,
    biharmonic_fill,
    fill,
    input_geometry,
    masked_only,
    model_error_curve,
    patch_records,
)
from lesson.figures.pictures import upscale_nearest
from lesson.figures.tables import records_to_csv
from ssl_core.checkpoints import CheckpointError, checkpoint_stamp
from ssl_core.images import square_crop, to_uint8_image
from ssl_core.masking import MASK_KINDS, make_mask

TILE = 192  # display side of an image panel, px
CHECKPOINT = {"fashion": "mae", "photo": "mae_rgb"}  # bundled checkpoint per image kind
KIND_LABELS = {"random": "Random", "block": "One block", "grid": "Regular grid"}

PARAMS = (
    *picker_params("mae", source=evidence.default_source()),  # photos only where measured to pay
    *seed_params("mae"),
    Param("mae_ratio", 0.75, lo=0.05, hi=0.95),
    Param("mae_kind", "random", options=MASK_KINDS),
)


@st.cache_data(show_spinner="Measuring interpolation at every ratio…", max_entries=32)
def baseline_curve(image: np.ndarray, patch: int, kind: str) -> ErrorCurve:
    return baseline_error_curve(image, patch, kind)


@st.cache_data(show_spinner=False, max_entries=64)
def inpainted(image: np.ndarray, mask: np.ndarray, patch: int) -> BiharmonicFill:
    """The biharmonic fill of one image under one mask: a sparse solve per image, shared by
    every session that shows the same image and mask (a class moves through the same ratios)."""
    return biharmonic_fill(image, mask, patch)


@st.cache_data(show_spinner="Measuring biharmonic inpainting at every ratio…", max_entries=32)
def biharmonic_curve(image: np.ndarray, patch: int, kind: str) -> ErrorCurve:
    return biharmonic_error_curve(image, patch, kind)


@st.cache_data(show_spinner="Measuring the MAE at every ratio…", max_entries=32)
def model_curve(image: np.ndarray, patch: int, kind: str, name: str, stamp: str) -> ErrorCurve:
    """The bundled model's curve; ``stamp`` (its weights' mtime) keys the cache."""
    return model_error_curve(load_bundled_method(name), image, patch, kind)


def tile(batch) -> np.ndarray:
    """(1, C, H, W) in [0, 1] -> an enlarged uint8 panel."""
    return upscale_nearest(to_uint8_image(batch[0].cpu()), min_side=TILE)


restore(PARAMS)
st.title("Masked autoencoder (MAE)")
figure_slot = presenter.main_figure()  # the image, masked and filled
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "An MAE hides most of an image's patches, encodes the few that stay visible, and trains a "
    "decoder to rebuild the hidden pixels; its loss is the **MSE on the masked patches only**. "
    "The benchmarks it must beat learn nothing: **interpolation** fills each hole smoothly "
    "from its visible neighbours (a harmonic fill), and scikit-image's **biharmonic "
    "inpainting** also carries the gradients at a hole's edge into it, the stronger classical "
    "fill."
)

# --- inputs ------------------------------------------------------------------------------------
pick_col, param_col = presenter.controls().columns([1, 2], gap="large")
with pick_col:
    picked = image_picker(key="mae")

# --- the model, if its checkpoint is bundled ----------------------------------------------------
image_kind = "fashion" if st.session_state.get("mae_source") == "fashion" else "photo"
name = CHECKPOINT[image_kind]
try:
    model = load_bundled_method(name)
    problem = None
except CheckpointError as error:
    model, problem = None, public(error)
if model is None:
    st.info(
        f"Interpolation baseline only: the MAE panels (reconstruction, reconstruction with the "
        f"visible patches pasted back, its error map and curve) appear when the bundled "
        f"checkpoint exists at assets/checkpoints/{name}/ "
        f"({'Fashion-MNIST, 28 x 28 gray' if image_kind == 'fashion' else 'photos, 64 x 64'})."
        + (f" The checkpoint could not be read: {problem}" if problem else ""),
        icon=":material/info:",
    )
if image_kind == "photo":
    evidence.photo_note()
side, channels, patch = input_geometry(model, image_kind)
image = square_crop(picked, side, channels=channels)  # uint8 (side, side[, 3])
grid = (side // patch, side // patch)

# --- the mask and all it drives: one fragment -----------------------------------------------------
# The mask's ratio, kind and seed drive everything below; moving one reruns only this fragment
# (its widgets sit in the inputs' right-hand column), not the image picker or the model above.


@st.fragment
def masked_view() -> None:
    """The mask widgets, the masked image and its fills, the error maps and curves."""
    with param_col:
        ratio = st.slider("Mask ratio (share of patches hidden)", 0.05, 0.95, step=0.05,
                          key="mae_ratio")
        mask_kind = st.radio("Mask", MASK_KINDS, key="mae_kind", horizontal=True,
                             format_func=KIND_LABELS.get)
        seed = seed_picker(key="mae", label="Mask seed")
        if mask_kind == "grid":
            st.caption("The grid mask is regular: it ignores the seed and takes the pattern "
                       "whose ratio is nearest the slider's.")

    try:
        mask = make_mask(mask_kind, *grid, ratio, seed=seed)  # (L,) bool, True = masked
    except ValueError as error:
        stop_page(PARAMS, f"This mask cannot be used: {error}. Move the mask ratio or pick "
                          "another mask.")

    # --- one image, masked and filled -------------------------------------------------------------
    filled = fill(image, mask, patch, model)
    panels = [(tile(filled.image), "Original"),
              (tile(filled.masked_input),
               f"Masked input: {int(mask.sum())} of {mask.size} patches hidden"),
              (tile(filled.baseline), "Interpolation baseline")]
    if model is not None:
        panels += [(tile(filled.reconstruction), "MAE reconstruction"),
                   (tile(filled.reconstruction_pasted), "MAE, visible patches pasted back")]

    panel_box = figure_slot.container()
    panel_box.subheader(f"{side} x {side} input, {patch} px patches ({grid[0]} x {grid[1]} = "
                        f"{mask.size} patches), mask ratio {ratio:g}")
    # biharmonic inpainting is the slow fill: its panel (fourth) is drawn after the others
    columns = panel_box.columns(len(panels) + 1)
    width = "stretch" if presenter.on() else TILE  # six panels across a projector's 1280 px
    for column, (panel, caption) in zip(columns[:3] + columns[4:], panels, strict=True):
        column.image(panel, caption=caption, width=width)
    biharmonic = inpainted(image, mask, patch)
    columns[3].image(tile(biharmonic.image), caption="Biharmonic inpainting (scikit-image)",
                     width=width)

    metric_cols = st.columns(3)
    metric_cols[0].metric("Masked-patch MSE, interpolation",
                          f"{float(filled.baseline_mse[0]):.4f}",
                          help="Mean squared pixel error (pixels in [0, 1]) over the hidden "
                               "patches.")
    if model is not None:
        metric_cols[1].metric("Masked-patch MSE, MAE", f"{float(filled.model_mse[0]):.4f}",
                              delta=f"{float(filled.model_mse[0] - biharmonic.mse[0]):+.4f}"
                                    " vs biharmonic",
                              delta_color="inverse",
                              help="The delta compares with biharmonic inpainting, the stronger "
                                   "baseline; interpolation's error is beside it.")
    metric_cols[2].metric("Masked-patch MSE, biharmonic inpainting",
                          f"{float(biharmonic.mse[0]):.4f}",
                          help="skimage.restoration.inpaint_biharmonic of the hidden patches "
                               "from the visible pixels: nothing learned.")
    evidence.speedup(ratio)

    # --- where the error sits ---------------------------------------------------------------------
    maps = [("Interpolation", masked_only(filled.baseline_errors, mask, grid))]
    if model is not None:
        maps.append(("MAE", masked_only(filled.model_errors, mask, grid)))
    zmax = max(float(np.nanmax(m)) for _, m in maps) or 1.0
    for column, (label, errors) in zip(st.columns(2, gap="large"), maps, strict=False):
        with column:
            heat = figures.figure(
                [go.Heatmap(z=errors, zmin=0, zmax=zmax, colorscale="Reds",
                            colorbar=dict(title="MSE", thickness=12),
                            hovertemplate="patch row %{y}, column %{x}<br>MSE %{z:.4f}"
                                          "<extra></extra>")],
                height=340, title=f"Per-patch error: {label}",
                xaxis=dict(title="patch column", constrain="domain"),
                yaxis=dict(title="patch row", autorange="reversed", scaleanchor="x",
                           constrain="domain"),
            )
            figures.show(heat, key=f"mae_fig_heat_{label.lower()}", filename=f"mae_error_{label}",
                         caption="MSE of each hidden patch (visible patches are blank: they are "
                                 "copied, not predicted). Same colour scale in both maps.")

    records = patch_records(filled, mask, grid, biharmonic)
    figures.csv_button("Per-patch errors (CSV)", records_to_csv(records), key="mae_csv",
                       filename=f"mae_errors_{mask_kind}_r{ratio:g}_seed{seed}.csv")

    # --- error against the mask ratio -------------------------------------------------------------
    st.subheader("Error against mask ratio")
    curves = [("interpolation", baseline_curve(image, patch, mask_kind), figures.MUTED),
              ("biharmonic", biharmonic_curve(image, patch, mask_kind), figures.GLOBAL)]
    if model is not None:
        path = bundled_checkpoint(name)
        stamp = checkpoint_stamp(path) if path else name
        curves.append(("MAE", model_curve(image, patch, mask_kind, name, stamp), figures.POSITIVE))
    curve = figures.figure(
        [go.Scatter(x=c.ratios, y=c.mean, name=label, mode="lines+markers", line=dict(color=colour),
                    error_y=dict(array=c.sem, thickness=1))
         for label, c, colour in curves],
        height=360,
        shapes=[figures.vline(ratio, colour="black", width=1.5)],
        xaxis=dict(title="mask ratio", range=[0, 1]),
        yaxis=dict(title="masked-patch MSE", rangemode="tozero"),
        legend=dict(x=0.01, xanchor="left", y=0.98, yanchor="top"),
    )
    figures.show(
        curve, key="mae_fig_curve", filename=f"mae_error_vs_ratio_{mask_kind}",
        caption=(
            f"Mean masked-patch MSE on this image over {len(curves[0][1].seeds)} mask(s) per "
            f"ratio ({KIND_LABELS[mask_kind].lower()} masks; bars: standard error); the black "
            "line is your ratio. At low ratios every hole has visible neighbours and both "
            "classical fills do well; as the holes grow they can only blur, which is why MAE "
            "hides 75 %: the task must need more than filling in from the neighbours."
        ),
    )
    figures.csv_button(
        "Error curve (CSV)",
        records_to_csv([{"mask_ratio": float(r), **{f"{label}_mse": float(c.mean[i])
                                                    for label, c, _ in curves}}
                        for i, r in enumerate(curves[0][1].ratios)]),
        key="mae_csv_curve", filename=f"mae_error_vs_ratio_{mask_kind}.csv",
    )
    evidence.ratio_study(ratio)
    share(PARAMS)


masked_view()
glossary("mae")
st.caption("The URL holds every setting above (except an upload): copy it to share this view.")
share(PARAMS)
