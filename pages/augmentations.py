"""Augmentations: the views SimCLR, DINO and MAE make of one image, and what was sampled for each.

Inputs: an image (bundled photo, Fashion-MNIST item or upload), the view parameters, a seed.
One library call per pipeline (``ssl_core.augment.trace_views``) returns the views and their
sampled parameters; the page lays them out.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import figures, presenter
from app.glossary import glossary
from app.state import Param, restore, share
from app.text import public
from app.widgets import image_picker, picker_params, preset_buttons, seed_params, seed_picker
from lesson.figures.pictures import encode_png, image_grid, upscale_nearest
from lesson.figures.tables import records_to_csv
from lesson.figures.views import crop_box, describe_view, view_record
from ssl_core.augment import MultiCropConfig, View, ViewConfig, mae_train, trace_views
from ssl_core.images import to_uint8_image

TILE = 128  # display width of a view, px

PARAMS = (
    *picker_params("aug"),
    *seed_params("aug"),
    Param("aug_pairs", 4, lo=1, hi=8),
    Param("aug_size", 96, lo=16, hi=224),
    Param("aug_scale", (0.2, 1.0), lo=0.01, hi=1.0),
    Param("aug_ratio", (0.75, 1.33), lo=0.25, hi=4.0),
    Param("aug_hflip", 0.5, lo=0.0, hi=1.0),
    Param("aug_jitter_p", 0.8, lo=0.0, hi=1.0),
    Param("aug_brightness", 0.4, lo=0.0, hi=1.0),
    Param("aug_contrast", 0.4, lo=0.0, hi=1.0),
    Param("aug_saturation", 0.4, lo=0.0, hi=1.0),
    Param("aug_hue", 0.1, lo=0.0, hi=0.5),
    Param("aug_gray_p", 0.2, lo=0.0, hi=1.0),
    Param("aug_blur_p", 0.0, lo=0.0, hi=1.0),
    Param("aug_blur_sigma", (0.1, 2.0), lo=0.1, hi=5.0),
    Param("aug_solarize_p", 0.0, lo=0.0, hi=1.0),
    Param("aug_n_local", 6, lo=0, hi=10),
    Param("aug_local_size", 40, lo=8, hi=224),
    Param("aug_global_scale", (0.4, 1.0), lo=0.01, hi=1.0),
    Param("aug_local_scale", (0.05, 0.4), lo=0.01, hi=1.0),
    Param("aug_mae_scale", (0.2, 1.0), lo=0.01, hi=1.0),
)

_COLOUR_OFF = {"aug_jitter_p": 0.0, "aug_gray_p": 0.0, "aug_blur_p": 0.0, "aug_solarize_p": 0.0}
PRESETS = {
    "SimCLR (lesson)": {  # ViewConfig's defaults with the lesson's always-on colour jitter
        "aug_scale": (0.2, 1.0), "aug_ratio": (0.75, 1.33), "aug_hflip": 0.5,
        "aug_jitter_p": 1.0, "aug_brightness": 0.4, "aug_contrast": 0.4,
        "aug_saturation": 0.4, "aug_hue": 0.1, "aug_gray_p": 0.2, "aug_blur_p": 0.0,
        "aug_solarize_p": 0.0,
    },
    "SimCLR (ImageNet)": {  # Chen et al. 2020, appendix A: colour strength s = 1
        "aug_scale": (0.08, 1.0), "aug_ratio": (0.75, 1.33), "aug_hflip": 0.5,
        "aug_jitter_p": 0.8, "aug_brightness": 0.8, "aug_contrast": 0.8,
        "aug_saturation": 0.8, "aug_hue": 0.2, "aug_gray_p": 0.2, "aug_blur_p": 0.5,
        "aug_solarize_p": 0.0,
    },
    "BYOL view 2": {  # Grill et al. 2020, table 6
        "aug_scale": (0.08, 1.0), "aug_ratio": (0.75, 1.33), "aug_hflip": 0.5,
        "aug_jitter_p": 0.8, "aug_brightness": 0.4, "aug_contrast": 0.4,
        "aug_saturation": 0.2, "aug_hue": 0.1, "aug_gray_p": 0.2, "aug_blur_p": 0.1,
        "aug_solarize_p": 0.2,
    },
    "Crop + flip only": {"aug_scale": (0.2, 1.0), "aug_hflip": 0.5, **_COLOUR_OFF},
    "No augmentation": {"aug_scale": (1.0, 1.0), "aug_ratio": (1.0, 1.0), "aug_hflip": 0.0,
                        **_COLOUR_OFF},
}


@st.cache_data(show_spinner=False, max_entries=16)
def traced(image: np.ndarray, spec: object, seed: int, n_views: int | None,
           _pipeline: object = None) -> list[View]:
    """``trace_views`` of ``spec`` (a config), or of ``_pipeline`` when given (``spec`` then
    only names it for the cache)."""
    return trace_views(image, spec if _pipeline is None else _pipeline, seed=seed,
                       n_views=n_views)


def tiles(views: list[View]) -> list[np.ndarray]:
    return [upscale_nearest(to_uint8_image(v.image), min_side=TILE) for v in views]


def boxes(views: list[View], labels: list[str], colours: list[str]) -> list[figures.Box]:
    return [figures.Box(*crop_box(v.params), label=label, colour=colour)
            for v, label, colour in zip(views, labels, colours, strict=True)]


restore(PARAMS)
st.title("Augmentations")
pairs_slot = presenter.main_figure()  # the positive pairs
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "Self-supervised methods learn what stays the same across **views** of an image. The view "
    "pipeline decides what the encoder must ignore: crop position and scale, mirror image, "
    "colour, blur."
)

# --- inputs ------------------------------------------------------------------------------------
pick_col, param_col = presenter.controls().columns([1, 2], gap="large")
with pick_col:
    image = image_picker(key="aug")
    seed = seed_picker(key="aug")
    n_pairs = st.slider("Two-view pairs", 1, 8, key="aug_pairs")
with param_col:
    preset_buttons(PRESETS, key="aug_preset", label="Presets (set the sliders below)")
    crop_col, colour_col, other_col = st.columns(3)
    with crop_col:
        size = st.slider("Output side (px)", 16, 224, step=4, key="aug_size")
        scale = st.slider("Crop area (fraction)", 0.01, 1.0, step=0.01, key="aug_scale")
        ratio = st.slider("Crop aspect ratio", 0.25, 4.0, step=0.01, key="aug_ratio")
        hflip = st.slider("Flip probability", 0.0, 1.0, step=0.05, key="aug_hflip")
    with colour_col:
        jitter_p = st.slider("Colour jitter probability", 0.0, 1.0, step=0.05, key="aug_jitter_p")
        brightness = st.slider("Brightness", 0.0, 1.0, step=0.05, key="aug_brightness")
        contrast = st.slider("Contrast", 0.0, 1.0, step=0.05, key="aug_contrast")
        saturation = st.slider("Saturation", 0.0, 1.0, step=0.05, key="aug_saturation")
        hue = st.slider("Hue", 0.0, 0.5, step=0.01, key="aug_hue")
    with other_col:
        gray_p = st.slider("Grayscale probability", 0.0, 1.0, step=0.05, key="aug_gray_p")
        blur_p = st.slider("Blur probability", 0.0, 1.0, step=0.05, key="aug_blur_p")
        blur_sigma = st.slider("Blur σ (px)", 0.1, 5.0, step=0.1, key="aug_blur_sigma")
        solarize_p = st.slider("Solarize probability", 0.0, 1.0, step=0.05,
                               key="aug_solarize_p")

try:
    simclr = ViewConfig(
        size=size, scale=scale, ratio=ratio, hflip_p=hflip, brightness=brightness,
        contrast=contrast, saturation=saturation, hue=hue, jitter_p=jitter_p,
        grayscale_p=gray_p, blur_p=blur_p, blur_sigma=blur_sigma, solarize_p=solarize_p,
    )
except ValueError as error:
    st.error(f"These view parameters are not valid: {public(error)}")
    st.stop()

# --- N two-view pairs --------------------------------------------------------------------------
pairs_box = pairs_slot.container()
pairs_box.subheader(f"{n_pairs} positive pair{'s' if n_pairs > 1 else ''} (SimCLR views)")
pair_views = traced(image, simclr, seed, 2 * n_pairs)
pair_tiles = tiles(pair_views)
per_row = min(n_pairs, 4)
for row_start in range(0, n_pairs, per_row):
    for pair, column in zip(range(row_start, min(row_start + per_row, n_pairs)),
                            pairs_box.columns(per_row), strict=False):
        column.image(
            pair_tiles[2 * pair : 2 * pair + 2], width=TILE,
            caption=[f"**{pair + 1}{side}**" + ("" if presenter.on()  # the class reads no numbers
                                                 else f" · {describe_view(v.params)}")
                     for side, v in zip("ab", pair_views[2 * pair : 2 * pair + 2], strict=True)],
        )
st.caption(
    f"Each pair is two independent draws of the same pipeline from one image (seed {seed}); an "
    "encoder trained with InfoNCE must map both views of a pair close together and away from "
    "the other pairs. Under each view: the crop (size, position, share of the image), flip, "
    "jitter factors in the order applied (b brightness, c contrast, s saturation, h hue), "
    "grayscale, blur and solarize."
)

# --- pipelines side by side ---------------------------------------------------------------------
st.subheader("Three pipelines side by side")
simclr_col, dino_col, mae_col = st.columns(3, gap="medium")

with simclr_col:
    st.markdown("**SimCLR: two views**")
    first_pair = pair_views[:2]
    figures.show(
        figures.image_figure(image, boxes=boxes(first_pair, ["1a", "1b"],
                                                [figures.ACCENT, figures.POSITIVE])),
        key="aug_fig_simclr", filename="simclr_crops",
        caption="Pair 1's crops on the source image. They often overlap a little or not at all: "
                "the encoder must match a part to another part.",
    )
    st.image(pair_tiles[:2], width=TILE, caption=[describe_view(v.params) for v in first_pair])

# The multi-crop and MAE knobs drive only their own column: each column is a fragment, so moving
# one of its sliders reruns that column alone. ``latest`` holds the views each part drew last, for
# the parameters' CSV (built when its button is clicked).
latest: dict[str, list[View]] = {"simclr": pair_views}


@st.fragment
def dino_part() -> None:
    """DINO's multi-crop: its four knobs, the crops on the image and the crops themselves."""
    st.markdown("**DINO: multi-crop**")
    knob_a, knob_b = st.columns(2)
    n_local = knob_a.slider("Local crops K", 0, 10, key="aug_n_local")
    local_size = knob_b.slider("Local side (px)", 8, 224, step=4, key="aug_local_size")
    global_scale = knob_a.slider("Global area", 0.01, 1.0, step=0.01, key="aug_global_scale")
    local_scale = knob_b.slider("Local area", 0.01, 1.0, step=0.01, key="aug_local_scale")
    try:
        dino = MultiCropConfig(
            global_size=size, local_size=local_size, global_scale=global_scale,
            local_scale=local_scale, n_local=n_local, ratio=ratio, hflip_p=hflip,
            brightness=brightness, contrast=contrast, saturation=saturation, hue=hue,
            jitter_p=jitter_p, grayscale_p=gray_p, blur_sigma=blur_sigma,
        )
    except ValueError as error:
        st.error(f"These multi-crop parameters are not valid: {public(error)}")
        dino = None
        latest.pop("dino", None)
    if dino is not None:
        dino_views = traced(image, dino, seed, None)
        latest["dino"] = dino_views
        kinds = [v.params["kind"] for v in dino_views]
        labels = [f"G{i + 1}" for i in range(kinds.count("global"))]
        labels += [f"L{i + 1}" for i in range(kinds.count("local"))]
        figures.show(
            figures.image_figure(image, boxes=boxes(
                dino_views, labels,
                [figures.GLOBAL if k == "global" else figures.LOCAL for k in kinds])),
            key="aug_fig_dino", filename="dino_multicrop",
            caption="2 global crops (G, large) and K local crops (L, small). The teacher sees "
                    "only the globals; the student sees all, so it must predict the whole from "
                    "a part.",
        )
        dino_tiles = tiles(dino_views)
        st.image(dino_tiles[:2], width=TILE,
                 caption=[f"**{lab}** · {describe_view(v.params)}"
                          for lab, v in zip(labels[:2], dino_views[:2], strict=True)])
        if n_local:
            st.image(dino_tiles[2:], width=max(24, round(TILE * local_size / size)),
                     caption=[f"**{lab}**" for lab in labels[2:]])
        st.caption("Global crop 1 is always blurred, crop 2 rarely and sometimes solarized "
                   "(DINO's schedule); colour settings are shared with SimCLR.")
    share(PARAMS)  # a fragment rerun: keep the URL in step with the knobs


@st.fragment
def mae_part() -> None:
    """MAE's one crop: its area knob, the crop on the image and the view."""
    st.markdown("**MAE: one crop, no colour**")
    mae_scale = st.slider("MAE crop area", 0.01, 1.0, step=0.01, key="aug_mae_scale")
    mae_views = traced(image, ("mae", size, mae_scale), seed, 1,
                       _pipeline=mae_train(size, scale=mae_scale))
    latest["mae"] = mae_views
    figures.show(
        figures.image_figure(image, boxes=boxes(mae_views, ["MAE"], [figures.POSITIVE])),
        key="aug_fig_mae", filename="mae_crop",
        caption="MAE needs only a random crop and flip: hiding 75 % of the patches is what makes "
                "its task hard, so colour augmentation would add nothing.",
    )
    st.image(tiles(mae_views), width=TILE, caption=[describe_view(mae_views[0].params)])
    share(PARAMS)


with dino_col:
    dino_part()
with mae_col:
    mae_part()

# --- downloads and sharing ------------------------------------------------------------------------


def view_records() -> str:
    """Every view drawn on the page with its sampled parameters, as CSV."""
    records = [view_record(v.params, pipeline=pipeline, index=i)
               for pipeline in ("simclr", "dino", "mae")
               for i, v in enumerate(latest.get(pipeline, ()))]
    return records_to_csv(records)


down_a, down_b, _ = st.columns([1, 1, 2])
with down_a:
    figures.csv_button("Sampled parameters (CSV)", view_records, key="aug_csv",
                       filename=f"views_seed{seed}.csv")
with down_b:
    st.download_button(
        "Pair views (PNG)", lambda: encode_png(image_grid(pair_tiles, ncols=2 * per_row)),
        file_name=f"pairs_seed{seed}.png", mime="image/png", key="aug_png",
        on_click="ignore", icon=":material/download:",
    )
glossary("augmentations")
st.caption("The URL holds every setting above (except an upload): copy it to share this view.")
share(PARAMS)
