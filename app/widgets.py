"""Reusable inputs. Each one draws its widgets (all keyed) and returns a plain value.

- :func:`image_picker` -> a uint8 image ``(H, W)`` or ``(H, W, 3)``: a bundled photo, a
  Fashion-MNIST item or an upload (a bad upload shows an error and keeps the previous image);
- :func:`seed_picker` -> an int seed with a "re-roll" button;
- :func:`preset_buttons` -> the name of the preset clicked in this run, or None.

Pages include :func:`picker_params` / :func:`seed_params` in their shareable parameters so that
the URL restores the picked image and the seed (an upload cannot travel in a URL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import streamlit as st

from app import resources
from app.state import Param, apply_values
from app.text import literal
from ssl_core.data import IMAGE_EXTENSIONS, DataError, decode_image
from ssl_core.images import fit_within

SOURCES = ("photo", "fashion", "upload")
_SOURCE_LABELS = {"photo": "Bundled photo", "fashion": "Fashion-MNIST item", "upload": "Upload"}
MAX_SIDE = 512  # uploads are shrunk to this longer side: the bundled photos' size
MAX_UPLOAD_MB = 20  # as server.maxUploadSize in .streamlit/config.toml
MAX_UPLOAD_PIXELS = 40_000_000  # decode_image refuses larger headers (decompression bombs)
FASHION_ITEMS = 20_000  # the bundled training subset


def picker_params(key: str, *, source: str = "photo") -> tuple[Param, ...]:
    """The shareable state of ``image_picker(key=key)``: source (``source`` by default), photo
    name and item index."""
    return (
        Param(f"{key}_source", source, options=SOURCES),
        Param(f"{key}_photo", resources.DEFAULT_PHOTO, options=tuple(resources.photo_names())),
        Param(f"{key}_item", 0, lo=0, hi=FASHION_ITEMS - 1),
    )


def decode_upload(data: bytes, *, max_side: int = MAX_SIDE) -> np.ndarray:
    """Uploaded bytes -> uint8 ``(H, W)`` or ``(H, W, 3)`` with the longer side <= ``max_side``.

    Raises ``ssl_core.data.DataError`` with a message fit for the user when the bytes are empty,
    corrupt, not an image, or too many pixels to decode safely.
    """
    # shrunk while decoding, before any array exists: a 6300 x 6300 RGBA PNG went through a
    # full-size float32 copy (2 GB for 45 s) when it was decoded first and shrunk after
    image = decode_image(data, max_pixels=MAX_UPLOAD_PIXELS, max_side=max_side)
    return fit_within(image, max_side)


def image_picker(*, key: str) -> np.ndarray:
    """Pick an image; returns uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)``.

    Widgets: ``{key}_source`` (radio), then ``{key}_photo`` (selectbox), ``{key}_item`` (number
    input; the class is shown) or ``{key}_upload`` (file uploader). An upload that cannot be
    decoded shows ``st.error`` with the reason and the previous image is kept (the default photo
    if there was none), so the page goes on working.
    """
    source = st.radio(
        "Image", SOURCES, key=f"{key}_source", horizontal=True, format_func=_SOURCE_LABELS.get
    )
    if source == "photo":
        image = resources.photo(st.selectbox("Photo", resources.photo_names(), key=f"{key}_photo"))
    elif source == "fashion":
        index = st.number_input(
            "Fashion-MNIST item (0-19,999)",
            min_value=0,
            max_value=FASHION_ITEMS - 1,
            step=1,
            key=f"{key}_item",
        )
        image, class_name = resources.fashion_item(int(index))
        st.caption(f"Item {int(index)}: **{class_name}** (28 x 28, grayscale)")
    else:
        image = _uploaded_image(key)
    st.session_state[f"{key}_last_image"] = image
    return image


def _uploaded_image(key: str) -> np.ndarray:
    upload = st.file_uploader(
        f"Upload an image (up to {MAX_UPLOAD_MB} MB; shrunk to {MAX_SIDE} px)",
        type=[ext.lstrip(".") for ext in IMAGE_EXTENSIONS],
        key=f"{key}_upload",
        max_upload_size=MAX_UPLOAD_MB,
    )
    fallback = st.session_state.get(f"{key}_last_image")
    if fallback is None:
        fallback = resources.photo(resources.DEFAULT_PHOTO)
    if upload is None:
        st.caption("No upload yet: showing the previous image.")
        return fallback
    cached = st.session_state.get(f"{key}_decoded")
    if cached is not None and cached[0] == upload.file_id:
        return cached[1]
    try:
        image = decode_upload(upload.getvalue())
    except DataError as error:
        st.error(f"Could not use **{literal(upload.name)}**: {literal(error, max_chars=400)}. "
                 "Showing the previous image instead.")
        return fallback
    st.session_state[f"{key}_decoded"] = (upload.file_id, image)
    return image


def seed_params(key: str, default: int = 0) -> tuple[Param, ...]:
    """The shareable state of ``seed_picker(key=key)``."""
    return (Param(f"{key}_seed", default, lo=0, hi=2**31 - 1),)


def _reroll(key: str) -> None:
    st.session_state[key] = (int(st.session_state.get(key, 0)) + 1) % 2**31


def seed_picker(*, key: str, label: str = "Seed") -> int:
    """A seed number input (``{key}_seed``) and a re-roll button (``{key}_reroll``) that adds 1."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        seed = st.number_input(
            label, min_value=0, max_value=2**31 - 1, step=1, key=f"{key}_seed", width=160
        )
        st.button(
            "Re-roll", key=f"{key}_reroll", on_click=_reroll, args=(f"{key}_seed",),
            icon=":material/casino:", help="Draw new random views (seed + 1)",
        )
    return int(seed)


def preset_buttons(
    presets: Mapping[str, Mapping[str, Any]], *, key: str, label: str = "Presets"
) -> str | None:
    """One button per preset (``{key}_0``, ``{key}_1``, ...); a click sets its widget values.

    The values are written in the button's callback, before the widgets are drawn. Returns the
    name of the preset clicked in this run, or None.
    """
    st.caption(label)
    clicked = None
    with st.container(horizontal=True):
        for i, (name, values) in enumerate(presets.items()):
            if st.button(name, key=f"{key}_{i}", on_click=apply_values, args=(dict(values),)):
                clicked = name
    return clicked
