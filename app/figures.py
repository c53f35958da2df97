"""One look for every figure: plotly builders, a chart call with PNG export, CSV downloads.

- :func:`figure` -> a plotly figure in the app's style, built in one pass; :func:`vline`,
  :func:`hline`, :func:`segment` -> shapes for it;
- :func:`image_figure` -> a plotly figure of an image, optionally with labelled boxes on it;
- :func:`show` draws a figure with the modebar's "download as PNG" set to a file name and 2x
  scale, and a caption under it saying what it shows (in presenter mode with larger text and
  a long caption folded: ``app.presenter``);
- :func:`csv_button` offers the data behind a figure as CSV (built only when clicked if given
  a callable);
- :func:`selected_points` reads which points a click, box or lasso selected in a scatter.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from app import presenter

ACCENT = "#3b6fd8"  # as .streamlit/config.toml's primaryColor
POSITIVE = "#e76f51"
GLOBAL = "#2a9d8f"
LOCAL = "#e9c46a"
MUTED = "#9aa5b1"
FONT = dict(family="Source Sans Pro, Helvetica, Arial, sans-serif", size=13)


@dataclass(frozen=True)
class Box:
    """A rectangle to draw on an image: pixel edges ``(x0, y0, x1, y1)``, a label and a colour."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: str
    colour: str = ACCENT


def figure(data: Sequence[go.BaseTraceType] = (), *, height: int, legend: dict | None = None,
           **layout: object) -> go.Figure:
    """A figure with the app's margins, font and legend, built in one pass.

    Plotly validates every property it is given; handing it the whole layout at once (shapes
    as the plain dicts :func:`vline` / :func:`hline` / :func:`segment` return) keeps a rerun
    fast, where ``fig.add_vline`` and repeated ``update_layout`` calls cost milliseconds each.
    """
    title = layout.pop("title", None)
    top_legend = legend is None and layout.get("showlegend") is not False and len(data) > 1
    base = dict(
        margin=dict(l=10, r=10, t=10, b=10),
        font=FONT,
        height=height,
        legend=legend or dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    )
    if title:
        # The title at the very top of the figure, and a legend row above the plot below it:
        # with both in a 40 px margin the default legend was drawn over the title.
        base["margin"]["t"] = 80 if top_legend else 40
        base["title"] = dict(text=title, x=0, xanchor="left", xref="paper", y=1, yref="container",
                             yanchor="top", pad=dict(t=8))
    return go.Figure(data=list(data), layout=base | layout)


def vline(x: float, *, colour: str = MUTED, dash: str | None = None, width: float = 1) -> dict:
    """A vertical line at data ``x`` across the whole plot height (a layout shape)."""
    return dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                line=dict(color=colour, dash=dash, width=width))


def hline(y: float, *, colour: str = MUTED, dash: str | None = None, width: float = 1) -> dict:
    """A horizontal line at data ``y`` across the whole plot width (a layout shape)."""
    return dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=y, y1=y,
                line=dict(color=colour, dash=dash, width=width))


def segment(x0: float, y0: float, x1: float, y1: float, *, colour: str = "black",
            width: float = 1) -> dict:
    """A line between two points in data coordinates (a layout shape)."""
    return dict(type="line", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=colour, width=width))


def image_figure(
    image: np.ndarray, *, boxes: Sequence[Box] = (), height: int = 360
) -> go.Figure:
    """A uint8 ``(H, W)`` / ``(H, W, 3)`` image with ``boxes`` outlined and labelled on it.

    The image travels as one compressed picture (JPEG for large colour images, PNG otherwise),
    not as a table of numbers, so a 512 px photo costs tens of kilobytes.
    """
    large_colour = image.ndim == 3 and image.shape[0] * image.shape[1] > 128 * 128
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG" if large_colour else "PNG", quality=90)
    mime = "image/jpeg" if large_colour else "image/png"
    trace = go.Image(source=f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode()}",
                     hoverinfo="x+y")
    # Pixel i covers [i - 0.5, i + 0.5] in imshow's coordinates.
    shapes = [dict(type="rect", x0=b.x0 - 0.5, y0=b.y0 - 0.5, x1=b.x1 - 0.5, y1=b.y1 - 0.5,
                   line=dict(color=b.colour, width=2)) for b in boxes]
    labels = [dict(x=b.x0 - 0.5, y=b.y0 - 0.5, text=b.label, showarrow=False, xanchor="left",
                   yanchor="bottom", font=dict(color="white", size=11), bgcolor=b.colour,
                   borderpad=1) for b in boxes]
    return figure(
        [trace], height=height, shapes=shapes, annotations=labels,
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", constrain="domain"),
    )


def show(fig: go.Figure, *, key: str, filename: str, caption: str) -> None:
    """Draw ``fig`` (PNG export named ``filename``.png at 2x) with ``caption`` under it."""
    st.plotly_chart(
        presenter.chart_layout(fig),
        key=key,
        config={
            "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
        },
    )
    presenter.caption(caption)


def csv_button(
    label: str, data: str | Callable[[], str], *, key: str, filename: str
) -> None:
    """A download button for CSV text; pass a callable to build large data only when clicked."""
    st.download_button(
        label, data, file_name=filename, mime="text/csv", key=key, on_click="ignore",
        icon=":material/download:",
    )


def selected_points(event: Any, groups: Sequence[np.ndarray]) -> list[int]:
    """Indices of the points selected in a scatter drawn one trace per group.

    ``event``: what ``st.plotly_chart(..., on_select="rerun")`` returned; ``groups[c]``: the
    point-set indices of trace ``c``, in trace order. Points of other traces are ignored.
    """
    try:
        chosen = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    out: list[int] = []
    for point in chosen or []:
        curve, index = point.get("curve_number"), point.get("point_index")
        if curve is None or index is None or not 0 <= curve < len(groups):
            continue
        if 0 <= index < len(groups[curve]):
            out.append(int(groups[curve][index]))
    return list(dict.fromkeys(out))  # de-duplicated, first-selected first
