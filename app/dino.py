"""The DINO-collapse page's figures: the four diagnostic panels against the step, the teacher's
output profile, and the measured runs of the ``dino_collapse`` result.

Each panel draws any number of runs (name -> (label, curve rows)): the live run alone, or the
four measured variants with one highlighted. The numbers come from :mod:`lesson.live.dino`
(live) and :class:`lesson.experiments.dino_collapse.DinoCollapseResult` (measured).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from app import figures, presenter
from app.measured import measured
from app.text import public
from lesson.experiments.dino_collapse import DinoCollapseResult
from lesson.figures.dino import measured_caption, measured_records, reference, variant_table
from lesson.figures.tables import records_to_csv
from lesson.live.dino import VARIANTS
from lesson.verdicts import dino_verdict
from ssl_core.losses.dino_collapse import ONE_DIM_SHARE

__all__ = ["COLOURS", "PANELS", "Runs", "draw_panels", "panel", "profile_figure",
           "show_measured_runs"]

PRESENTER_PANEL_HEIGHT = 210  # px: the 2 x 2 panels and the page's title above a 720 px fold
Runs = Mapping[str, tuple[str, Sequence[Mapping[str, float]]]]  # name -> (label, curve rows)

COLOURS = {"healthy": figures.GLOBAL, "no_centering": figures.POSITIVE,
           "no_sharpening": figures.ACCENT, "neither": figures.MUTED, "live": "black"}
PANELS = (  # (metric, y-axis title, what its reference line is)
    ("teacher_entropy", "teacher entropy (nats)", "log K: uniform"),
    ("kl_teacher_student", "KL(teacher ‖ student)", None),
    ("output_std", "std of normalised outputs", "1/√K: healthy spread"),
    ("dominant_dim_share", "dominant dimension's share", "1/K"),
)


def panel(metric: str, title: str, note: str | None, runs: Runs, *,
          highlight: str | None = None) -> go.Figure:
    """One metric against the step for every run in ``runs``."""
    traces = []
    ref = None
    for name, (label, rows) in runs.items():
        points = [r for r in rows if metric in r]
        if not points:
            continue
        ref = reference(metric, points)
        thick = highlight is None or name == highlight
        traces.append(go.Scatter(
            x=[r["step"] for r in points], y=[r[metric] for r in points], name=label,
            mode="lines", line=dict(color=COLOURS.get(name, figures.ACCENT),
                                    width=3 if thick else 1.5),
            opacity=1.0 if thick else 0.55,
        ))
    shapes, annotations = [], []
    if ref is not None and note is not None:
        shapes.append(figures.hline(ref, dash="dash"))
        annotations.append(dict(x=0, xref="paper", y=ref, text=f"{note} = {ref:.3g}",
                                showarrow=False, xanchor="left", yanchor="bottom"))
    if metric == "dominant_dim_share":
        shapes.append(figures.hline(ONE_DIM_SHARE, dash="dot"))
        annotations.append(dict(x=1, xref="paper", y=ONE_DIM_SHARE, showarrow=False,
                                text="one-dimension collapse", xanchor="right",
                                yanchor="bottom"))
    if presenter.on():  # the metric as the title: a y-axis title at 18 px outgrew the panel
        return figures.figure(traces, height=PRESENTER_PANEL_HEIGHT, showlegend=False,
                              shapes=shapes, annotations=annotations, title=title,
                              xaxis=dict(title="step"))
    return figures.figure(traces, height=260, showlegend=False, shapes=shapes,
                          annotations=annotations, xaxis=dict(title="step"),
                          yaxis=dict(title=title))


def profile_figure(histogram: Sequence[float], rows: Sequence[float], *, title: str) -> go.Figure:
    """The teacher's output: batch-mean p_t per dimension (bars) and the mean sorted p_t (line)."""
    ranks = list(range(1, len(histogram) + 1))
    return figures.figure(
        [go.Bar(x=ranks, y=list(histogram), name="mean over images",
                marker_color=figures.ACCENT),
         go.Scatter(x=ranks, y=list(rows), name="one image, sorted",
                    mode="lines", line=dict(color=figures.POSITIVE, width=2))],
        height=280, title=title,
        shapes=[figures.hline(1 / len(histogram), dash="dash")],
        xaxis=dict(title="output dimension, most used first"),
        yaxis=dict(title="teacher probability", type="log"),
    )


def draw_panels(runs: Runs, *, key: str, highlight: str | None,
                slots: Sequence[Any] | None = None, static: bool = True) -> None:
    """The four metric panels, in ``slots`` (placeholders) or a 2 x 2 grid; ``static=False``
    for the live run's redraws (no download button per redraw)."""
    if slots is None:
        top, bottom = st.columns(2), st.columns(2)
        slots = [*top, *bottom]
    for slot, (metric, title, note) in zip(slots, PANELS, strict=True):
        fig = panel(metric, title, note, runs, highlight=highlight)
        with slot:
            if static:
                figures.show(fig, key=f"{key}_{metric}", filename=f"dino_{key}_{metric}",
                             caption="" if presenter.on() else title)  # else the title
            else:
                st.plotly_chart(presenter.chart_layout(fig), key=f"{key}_{metric}",
                                config={"displaylogo": False})


def show_measured_runs(figure_slot: Any = None) -> None:
    """The ``dino_collapse`` result: the four variants' panels (one highlighted, radio
    ``dino_shown``), the teacher profile of the highlighted one, the table and its CSV.
    The panels go to ``figure_slot`` when given (the page's main figure, ``app.presenter``)."""
    result = measured(
        DinoCollapseResult,
        missing="The measured runs are not bundled: {error}. The live run above works "
                "without them.",
        unreadable="The measured runs could not be read: {error}",
        malformed="The dino_collapse result has an unexpected shape ({error}); re-run "
                  "`python3 -m lesson.experiments.dino_collapse`.")
    if result is None:
        return
    try:  # a curve row is a free-form dict: a hand-edited file may lack a column
        variants = result.variants
        runs = {name: (v.label, v.curve) for name, v in variants.items()}
        shown = st.radio("Highlight", [n for n in VARIANTS if n in variants], key="dino_shown",
                         horizontal=True, format_func=lambda n: VARIANTS[n][0])
        chosen = variants[shown]
        st.markdown(f"**{chosen.label}** — {chosen.verdict}")
        with figure_slot if figure_slot is not None else st.container():
            if presenter.on():
                st.markdown(f"**Measured runs, {chosen.label} highlighted**")
            draw_panels(runs, key="dino_fig_measured", highlight=shown)
        histogram = chosen.teacher_histogram or []
        figures.show(profile_figure(histogram, chosen.teacher_row_profile or histogram,
                                    title=f"{chosen.label}: teacher output at step {result.steps}"),
                     key="dino_fig_measured_profile", filename=f"dino_{shown}_teacher_output",
                     caption="As above, for the measured run at its last step.")
        st.dataframe(variant_table(result), hide_index=True, key="dino_table")
        st.caption(measured_caption(result, shown))
        st.markdown(f"**Verdict.** {dino_verdict(result)}")
        figures.csv_button("Measured curves (CSV)", records_to_csv(measured_records(result)),
                           key="dino_csv_measured", filename="dino_collapse_measured.csv")
    except (KeyError, IndexError, TypeError, ZeroDivisionError) as error:
        st.error(f"The dino_collapse result has an unexpected shape ({public(repr(error))}); "
                 "re-run `python3 -m lesson.experiments.dino_collapse`.", icon=":material/error:")
