"""The MAE page's measured evidence: what the page opens on, what the colour MAE saw, the
encoder's speed-up at the chosen ratio and the 1,000-image error-vs-ratio study.

Each reads its result file through the typed result (``mae_photos``, ``mae_speedup``,
``mae_ratio``); the sentences come from ``lesson`` functions of the numbers.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import figures
from app.measured import measured, verdict
from app.text import public
from lesson.experiments.mae_photos import MaePhotosResult, opening_source, photo_verdict
from lesson.experiments.mae_ratio import MaeRatioResult, explain
from lesson.experiments.mae_speedup import MaeSpeedupResult, speedup_sentence
from lesson.results import ResultMissingError

__all__ = ["default_source", "photo_note", "ratio_study", "speedup"]


def default_source() -> str:
    """The image source the page opens on: a photo only where the colour MAE was measured to
    beat both classical fills (biharmonic inpainting and interpolation) on photos it never saw
    (``lesson...mae_photos.opening_source``); Fashion-MNIST when it was not, or when that is not
    measured (nothing drawn here: the page's parameters are built before its title)."""
    try:
        return opening_source(MaePhotosResult.load())
    except (ResultMissingError, ValueError, IndexError):  # unmeasured, unreadable, inconsistent
        return opening_source(None)


def photo_note(ratio: float = 0.75) -> None:
    """Under the photo picker: what the colour MAE saw, and how it did on photos it did not."""
    result = measured(MaePhotosResult, missing="What the colour MAE does on photos it never saw "
                      "is not measured yet: {error}", problems_as_info=True)
    if result is None:
        return
    try:
        st.caption(photo_verdict(result, ratio=ratio) + " Measured by `python3 -m "
                   "lesson.experiments.mae_photos`.")
    except (IndexError, ValueError) as error:
        st.info(f"The mae_photos result does not fit together ({public(error)}); re-run "
                "`python3 -m lesson.experiments.mae_photos`.", icon=":material/info:")


def speedup(ratio: float) -> None:
    """The encoder's measured speed-up at ``ratio`` (nearest measured), tiny and ViT-B-sized."""
    result = measured(MaeSpeedupResult, missing="The encoder's speed-up is not measured yet: "
                      "{error}", problems_as_info=True)
    if result is None:
        return
    if not result.encoders or not result.ratios:
        st.info("The mae_speedup result holds no timing; re-run `python3 -m "
                "lesson.experiments.mae_speedup`.", icon=":material/info:")
        return
    try:
        sentence = speedup_sentence(result, ratio)
        found = [(timing, result.at(timing.name, ratio)) for timing in result.encoders]
    except (IndexError, ValueError) as error:
        st.info(f"The mae_speedup result does not fit together ({public(error)}); re-run "
                "`python3 -m lesson.experiments.mae_speedup`.", icon=":material/info:")
        return
    st.markdown("**How much faster the encoder runs on the visible patches only** (measured)")
    for column, (timing, (_, at, factor)) in zip(st.columns(len(found)), found, strict=True):
        column.metric(timing.label.split(" (")[0], f"{factor:.1f}x",
                      help=f"Forward time on all {timing.patches} patches "
                           f"({timing.all_tokens_ms:.0f} ms for {timing.batch_size} images) "
                           f"over the time on the patches a mask of ratio {at:g} leaves "
                           "visible.")
    st.caption(sentence + " Made by `python3 -m lesson.experiments.mae_speedup`; "
               + result.protocol + ".")


def ratio_study(ratio: float) -> None:
    """The ``mae_ratio`` result: error against ratio on 1,000 test images, MAE vs
    interpolation, with the chosen ratio marked and the verdict computed from the numbers."""
    st.subheader("Measured on 1,000 images: error against mask ratio")
    result = measured(MaeRatioResult, missing="The 1,000-image study is not measured yet: "
                      "{error}", problems_as_info=True)
    if result is None:
        return
    ratios = np.asarray(result.ratios)
    curves = [("interpolation", result.interpolation, figures.MUTED),
              (f"MAE ({result.mae.checkpoint})", result.mae, figures.POSITIVE)]
    curves += [(other.checkpoint, other, figures.LOCAL) for other in result.others or []]
    fig = figures.figure(
        [go.Scatter(x=ratios, y=c.mse, name=label, mode="lines+markers",
                    line=dict(color=colour), error_y=dict(array=c.sem, thickness=1))
         for label, c, colour in curves],
        height=340, shapes=[figures.vline(ratio, colour="black", width=1.5)],
        xaxis=dict(title="mask ratio", range=[0, 1]),
        yaxis=dict(title="masked-patch MSE", rangemode="tozero"),
    )
    figures.show(fig, key="mae_fig_study", filename="mae_ratio_1000_images",
                 caption=f"{result.protocol or ''}. Made by `python3 -m "
                         "lesson.experiments.mae_ratio`; the black line is your ratio.")
    verdict(lambda: explain(result.ratios, result.mae.mse, result.interpolation.mse, name="MAE",
                            trained_ratio=result.mae.trained_mask_ratio, wins=result.mae.wins))
