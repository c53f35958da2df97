"""Presenter mode: the pages as a class sees them on a projector (1280 x 720, read from the back).

A toggle in the sidebar (``?presenter=true`` in the URL, kept by every page's ``share``) turns
it on for the session. Then:

- :func:`sidebar_toggle` injects :data:`CSS`: body text and captions at 20 px in a dark grey,
  less padding above the title, no download buttons (a class does not download);
- a page's main figure comes first: :func:`main_figure` is a slot created where the page calls
  it (right after the title) and filled later, once the widgets that drive it exist; in normal
  mode it is created where it is first used, so the page looks as before;
- the page's controls fold into a collapsed "Settings" expander (:func:`controls`) and long text
  into "About this page" (:func:`folded`); in normal mode both are plain containers;
- charts get :func:`chart_layout` (fonts of 18 px, ticks of 16 px, a bounded height) through
  ``app.figures.show`` / ``presentable``, and a long caption folds under its chart.

The browser test ``tests/browser/test_presenter.py`` reads each page's main figure's bounding
box at 1280 x 720 (the container keyed :data:`MAIN_FIGURE_KEY`).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from app.state import Param, seed_state

PRESENTER = Param("presenter", False)
_SAVED = "_presenter_on"  # the toggle's last value, should Streamlit drop the widget's state
MAIN_FIGURE_KEY = "main_figure"  # the main figure's container: CSS class st-key-main_figure
BODY_PX = 20  # body text and captions
CHART_FONT_PX = 18  # chart text: titles, legends, axis titles
TICK_PX = 16  # chart tick labels
MAX_CHART_HEIGHT = 300  # px: a chart, the title and a tour step fit a 720 px screen
LONG_CAPTION = 90  # characters: a longer caption under a chart folds away

CSS = f"""
<style>
[data-testid="stMainBlockContainer"] {{ padding-top: 3.2rem; padding-bottom: 2rem; }}
[data-testid="stMainBlockContainer"] h1 {{ font-size: 2.1rem; padding: 0 0 0.2rem 0; }}
[data-testid="stMainBlockContainer"] h2, [data-testid="stMainBlockContainer"] h3 {{
  font-size: 1.6rem; padding: 0.1rem 0; }}
[data-testid="stAppViewContainer"] [data-testid="stMarkdownContainer"] p,
[data-testid="stAppViewContainer"] [data-testid="stMarkdownContainer"] li,
[data-testid="stAppViewContainer"] [data-testid="stWidgetLabel"] p,
[data-testid="stAppViewContainer"] [data-testid="stExpander"] summary p {{
  font-size: {BODY_PX}px; }}
[data-testid="stAppViewContainer"] [data-testid="stCaptionContainer"],
[data-testid="stAppViewContainer"] [data-testid="stCaptionContainer"] p {{
  font-size: {BODY_PX}px; color: #31333f; }}
[data-testid="stAppViewContainer"] [data-testid="stImageCaption"] {{
  font-size: {TICK_PX}px; color: #31333f; }}
[data-testid="stAppViewContainer"] [data-testid="stMetricValue"] p {{ font-size: 2.2rem; }}
[data-testid="stMainBlockContainer"] [data-testid="stDownloadButton"] {{ display: none; }}
</style>
"""


def on() -> bool:
    """Whether this session shows the pages in presenter mode."""
    return bool(st.session_state.get(PRESENTER.key, False))


def sidebar_toggle() -> bool:
    """The sidebar's "Presenter mode" toggle, seeded from the URL and written back to it (the
    pages' ``share`` keeps it there); in presenter mode, the page style. Returns whether on."""
    seed_state((PRESENTER,), st.query_params, st.session_state,
               {PRESENTER.key: st.session_state.get(_SAVED, PRESENTER.default)})
    # Hand the value to the browser with the toggle on every run. Streamlit sends a widget's
    # value only in a run that set it; a browser that re-mounts the toggle in between starts it
    # at its default, off, and its next rerun would switch presenter mode off and drop
    # ?presenter=true. (A URL of {} after "Reset to defaults" on the linear-probe page, with its
    # progress fragment, was seen in about one CI run in four; this is the only path to it found,
    # not a reproduced cause.)
    st.session_state[PRESENTER.key] = st.session_state[PRESENTER.key]
    value = st.sidebar.toggle(
        "Presenter mode", key=PRESENTER.key,
        help="For a projector: the main figure first, large text, settings folded away.")
    st.session_state[_SAVED] = value
    if value and st.query_params.get(PRESENTER.key) != PRESENTER.encode(True):
        st.query_params[PRESENTER.key] = PRESENTER.encode(True)
    elif not value and PRESENTER.key in st.query_params:
        del st.query_params[PRESENTER.key]
    if value:
        st.html(CSS)
    return value


class _Slot:
    """A container made now (presenter mode) or where it is used (normal mode).

    Fill it once per run: in normal mode each use makes the container there and then (a slot
    made in a full run and filled in a fragment must not hand a fragment rerun a container of
    an earlier run).
    """

    def __init__(self, *, now: bool) -> None:
        self._container = st.container(key=MAIN_FIGURE_KEY) if now else None
        self._entered: list[Any] = []

    def _get(self) -> Any:
        if self._container is None:
            return st.container(key=MAIN_FIGURE_KEY)
        return self._container

    def __getattr__(self, name: str) -> Any:  # columns, image, plotly_chart, ...
        return getattr(self._get(), name)

    def __enter__(self) -> Any:
        entered = self._get()
        self._entered.append(entered)
        return entered.__enter__()

    def __exit__(self, *exc: object) -> bool | None:
        return self._entered.pop().__exit__(*exc)


def main_figure() -> _Slot:
    """The page's main figure's slot: call it right after the title, fill it (``with slot:`` or
    ``slot.columns(...)``) where the figure is built. Presenter mode puts it here, above the
    controls and the text; normal mode where it is first filled."""
    return _Slot(now=on())


def controls(label: str = "Settings") -> Any:
    """Where a page's controls go: a collapsed expander in presenter mode, else a container."""
    return st.expander(label, expanded=False, icon=":material/tune:") if on() else st.container()


def folded(label: str = "About this page") -> Any:
    """Long text: folded into an expander in presenter mode, shown as is otherwise."""
    return st.expander(label, expanded=False) if on() else st.container()


def chart_layout(fig: go.Figure, *, max_height: int = MAX_CHART_HEIGHT) -> go.Figure:
    """``fig`` readable from the back of a room: larger text and ticks, at most ``max_height``
    tall. Unchanged outside presenter mode."""
    if not on():
        return fig
    height = fig.layout.height
    fig.update_layout(
        font=dict(size=CHART_FONT_PX),
        legend=dict(font=dict(size=TICK_PX)),
        height=min(height, max_height) if height else max_height,
    )
    legend = fig.layout.legend
    if len(fig.data) > 3 and legend.orientation == "h" and legend.yanchor == "bottom":
        # many entries in rows above the plot squeezed it to a strip: a column beside it
        fig.update_layout(legend=dict(orientation="v", x=1.01, xanchor="left", y=1,
                                      yanchor="top"))
    fig.update_xaxes(tickfont=dict(size=TICK_PX))
    fig.update_yaxes(tickfont=dict(size=TICK_PX))
    # A log axis labels the 2s and 5s between decades at 3/4 of the tick size (12 px here):
    # label the decades only, unless the figure chose its ticks.
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        if axis.type == "log" and axis.dtick is None and axis.tickvals is None:
            axis.dtick = 1
    return fig


def caption(text: str) -> None:
    """A figure's caption: folded under "What this shows" when long in presenter mode; none
    when empty."""
    if not text:
        return
    if on() and len(text) > LONG_CAPTION:
        with st.expander("What this shows", expanded=False):
            st.caption(text)
    else:
        st.caption(text)
