"""MAE: hide patches, rebuild them, and compare with plain interpolation.

Inputs: an image (bundled photo, Fashion-MNIST item or upload), the mask ratio, the mask kind
(random, block, grid) and a seed. The mask comes from ``ssl_core.masking.make_mask``; the
no-learning baseline is ``masking.interpolate_masked``; the bundled MAE (when its checkpoint
exists) answers through ``MAE.reconstruct``; ``ssl_core.viz`` measures the errors.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from app import figures
from app.resources import bundled_checkpoint, device, load_bundled_method
from app.state import Param, restore, share
from app.widgets import image_picker, picker_params, seed_params, seed_picker
from lesson.figures.mae import ErrorCurve, error_curve, interpolation_error_curve
from lesson.figures.pictures import upscale_nearest
from lesson.figures.tables import records_to_csv
from ssl_core.checkpoints import CheckpointError, checkpoint_stamp
from ssl_core.images import image_to_batch, square_crop, to_uint8_image
from ssl_core.losses.mae import masked_patch_errors
from ssl_core.masking import MASK_KINDS, interpolate_masked, make_mask, mask_to_image

TILE = 192  # display side of an image panel, px
CURVE_RATIOS = tuple(round(0.05 + 0.1 * i, 2) for i in range(10))  # 0.05, 0.15, ..., 0.95
CURVE_SEEDS = (0, 1, 2)  # masks per ratio on the curve (one for the deterministic grid)
# Without a model: the input an MAE of that kind would see (size, channels, patch size).
GEOMETRY = {"fashion": (28, 1, 4), "photo": (64, 3, 8)}
CHECKPOINT = {"fashion": "mae", "photo": "mae_rgb"}  # bundled checkpoint per image kind
KIND_LABELS = {"random": "Random", "block": "One block", "grid": "Regular grid"}

PARAMS = (
    *picker_params("mae"),
    *seed_params("mae"),
    Param("mae_ratio", 0.75, lo=0.05, hi=0.95),
    Param("mae_kind", "random", options=MASK_KINDS),
)


def geometry(model: torch.nn.Module | None, kind: str) -> tuple[int, int, int]:
    """(side, channels, patch size) of the page's input: the model's own, else the default."""
    if model is not None and isinstance(getattr(model, "grid", None), tuple):
        return model.grid[0] * model.patch_size, model.backbone.in_chans, model.patch_size
    return GEOMETRY[kind]


@st.cache_data(show_spinner="Measuring interpolation at every ratio…", max_entries=32)
def baseline_curve(image: np.ndarray, patch: int, kind: str) -> ErrorCurve:
    return interpolation_error_curve(
        image_to_batch(image), CURVE_RATIOS, patch_size=patch, mask_kind=kind,
        seeds=CURVE_SEEDS if kind != "grid" else CURVE_SEEDS[:1],
    )


@st.cache_data(show_spinner="Measuring the MAE at every ratio…", max_entries=32)
def model_curve(image: np.ndarray, patch: int, kind: str, checkpoint: str,
                _model: torch.nn.Module) -> ErrorCurve:
    """The bundled model's curve; ``checkpoint`` (path and mtime) names ``_model`` for the cache."""
    return error_curve(
        image_to_batch(image).to(device()), CURVE_RATIOS, patch_size=patch, mask_kind=kind,
        seeds=CURVE_SEEDS if kind != "grid" else CURVE_SEEDS[:1],
        fill=lambda x, mask: _model.reconstruct(x, mask=mask).reconstruction,
    )


def tile(batch: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) in [0, 1] -> an enlarged uint8 panel."""
    return upscale_nearest(to_uint8_image(batch[0].cpu()), min_side=TILE)


def masked_only(errors: torch.Tensor, mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(1, L) errors -> (h, w) with the visible patches blank (NaN)."""
    return np.where(mask, errors[0].cpu().numpy(), np.nan).reshape(grid)


restore(PARAMS)
st.title("Masked autoencoder (MAE)")
st.markdown(
    "An MAE hides most of an image's patches, encodes the few that stay visible, and trains a "
    "decoder to rebuild the hidden pixels; its loss is the **MSE on the masked patches only**. "
    "The benchmark it must beat is interpolation: filling each hole smoothly from its visible "
    "neighbours, with nothing learned."
)

# --- inputs ------------------------------------------------------------------------------------
pick_col, param_col = st.columns([1, 2], gap="large")
with pick_col:
    picked = image_picker(key="mae")
with param_col:
    ratio = st.slider("Mask ratio (share of patches hidden)", 0.05, 0.95, step=0.05,
                      key="mae_ratio")
    mask_kind = st.radio("Mask", MASK_KINDS, key="mae_kind", horizontal=True,
                         format_func=KIND_LABELS.get)
    seed = seed_picker(key="mae", label="Mask seed")
    if mask_kind == "grid":
        st.caption("The grid mask is regular: it ignores the seed and takes the pattern whose "
                   "ratio is nearest the slider's.")

# --- the model, if its checkpoint is bundled ----------------------------------------------------
image_kind = "fashion" if st.session_state.get("mae_source") == "fashion" else "photo"
name = CHECKPOINT[image_kind]
try:
    model = load_bundled_method(name)
    problem = None
except CheckpointError as error:
    model, problem = None, str(error)
if model is None:
    st.info(
        f"Interpolation baseline only: the MAE panels (reconstruction, reconstruction with the "
        f"visible patches pasted back, its error map and curve) appear when the bundled "
        f"checkpoint exists at assets/checkpoints/{name}/ "
        f"({'Fashion-MNIST, 28 x 28 gray' if image_kind == 'fashion' else 'photos, 64 x 64'})."
        + (f" The checkpoint could not be read: {problem}" if problem else ""),
        icon=":material/info:",
    )
side, channels, patch = geometry(model, image_kind)
image = square_crop(picked, side, channels=channels)  # uint8 (side, side[, 3])
grid = (side // patch, side // patch)
x = image_to_batch(image)  # (1, C, side, side)

try:
    mask = make_mask(mask_kind, *grid, ratio, seed=seed)  # (L,) bool, True = masked
except ValueError as error:
    st.error(f"This mask cannot be used: {error}. Move the mask ratio or pick another mask.",
             icon=":material/error:")
    share(PARAMS)
    st.stop()

# --- one image, masked and filled ---------------------------------------------------------------
visible = ~torch.from_numpy(mask_to_image(mask, patch, grid))  # (side, side) bool
masked_input = x * visible  # (1, C, side, side), hidden patches black
baseline = interpolate_masked(x, mask, patch)  # (1, C, side, side)
base_errors, base_mse = masked_patch_errors(baseline, x, mask, patch_size=patch)
panels = [(tile(x), "Original"),
          (tile(masked_input), f"Masked input: {int(mask.sum())} of {mask.size} patches hidden"),
          (tile(baseline), "Interpolation baseline")]
if model is not None:
    recon = model.reconstruct(x.to(device()), mask=mask)
    model_errors, model_mse = masked_patch_errors(recon.reconstruction, x.to(device()), mask,
                                                  patch_size=patch)
    panels += [(tile(recon.reconstruction), "MAE reconstruction"),
               (tile(recon.reconstruction_pasted), "MAE, visible patches pasted back")]

st.subheader(f"{side} x {side} input, {patch} px patches ({grid[0]} x {grid[1]} = "
             f"{mask.size} patches), mask ratio {ratio:g}")
for column, (panel, caption) in zip(st.columns(len(panels)), panels, strict=True):
    column.image(panel, caption=caption, width=TILE)

metric_cols = st.columns(3)
metric_cols[0].metric("Masked-patch MSE, interpolation", f"{float(base_mse[0]):.4f}",
                      help="Mean squared pixel error (pixels in [0, 1]) over the hidden patches.")
if model is not None:
    metric_cols[1].metric("Masked-patch MSE, MAE", f"{float(model_mse[0]):.4f}",
                          delta=f"{float(model_mse[0] - base_mse[0]):+.4f} vs interpolation",
                          delta_color="inverse")

# --- where the error sits -------------------------------------------------------------------------
maps = [("Interpolation", masked_only(base_errors, mask, grid))]
if model is not None:
    maps.append(("MAE", masked_only(model_errors, mask, grid)))
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

records = [{"patch": i, "row": i // grid[1], "column": i % grid[1], "masked": bool(mask[i]),
            "interpolation_mse": float(base_errors[0, i])}
           | ({"mae_mse": float(model_errors[0, i])} if model is not None else {})
           for i in range(mask.size)]
figures.csv_button("Per-patch errors (CSV)", records_to_csv(records), key="mae_csv",
                   filename=f"mae_errors_{mask_kind}_r{ratio:g}_seed{seed}.csv")

# --- error against the mask ratio ---------------------------------------------------------------
st.subheader("Error against mask ratio")
curves = [("interpolation", baseline_curve(image, patch, mask_kind), figures.MUTED)]
if model is not None:
    path = bundled_checkpoint(name)
    stamp = checkpoint_stamp(path) if path else name
    curves.append(("MAE", model_curve(image, patch, mask_kind, stamp, model), figures.POSITIVE))
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
        f"Mean masked-patch MSE on this image over {len(curves[0][1].seeds)} mask(s) per ratio "
        f"({KIND_LABELS[mask_kind].lower()} masks; bars: standard error); the black line is your "
        "ratio. At low ratios every hole has visible neighbours and interpolation does well; "
        "as the holes grow it can only blur, which is why MAE hides 75 %: the task must need "
        "more than interpolation."
    ),
)
figures.csv_button(
    "Error curve (CSV)",
    records_to_csv([{"mask_ratio": float(r), **{f"{label}_mse": float(c.mean[i])
                                                for label, c, _ in curves}}
                    for i, r in enumerate(curves[0][1].ratios)]),
    key="mae_csv_curve", filename=f"mae_error_vs_ratio_{mask_kind}.csv",
)
st.caption("The URL holds every setting above (except an upload): copy it to share this view.")
share(PARAMS)
