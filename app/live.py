"""The "Watch it learn" page's figures: the live SimCLR map and curves, the live MAE strip.

The numbers come from :mod:`lesson.live.simclr` and :mod:`lesson.live.mae` frames; a frame's
points keep the map set's order, so a point is one image from frame to frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from app import figures
from ssl_core.data import FASHION_MNIST_CLASSES

__all__ = ["map_figure", "mse_figure", "simclr_curves", "strip_mosaic"]


def map_figure(points: Sequence[Sequence[float]], labels: Sequence[int], *, title: str
               ) -> go.Figure:
    """The 2-D map: one marker per map image, coloured by class, on fixed axes (the points are
    scaled to unit RMS radius, so the axes need not follow them)."""
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)  # (N, 2)
    y = np.asarray(labels)
    traces = [go.Scattergl(x=xy[y == c, 0], y=xy[y == c, 1], mode="markers", name=name,
                           marker=dict(size=5, color=qualitative.Plotly[c % 10], opacity=0.8))
              for c, name in enumerate(FASHION_MNIST_CLASSES) if (y == c).any()]
    return figures.figure(traces, height=430, title=title,
                          legend=dict(orientation="v", x=1.01, y=1),
                          xaxis=dict(range=[-3, 3], visible=False),
                          yaxis=dict(range=[-3, 3], visible=False, scaleanchor="x"))


def simclr_curves(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """kNN accuracy and silhouette (left axis) and the InfoNCE loss (right axis) by step."""
    steps = [r["step"] for r in rows]
    trained = [r for r in rows if r.get("loss") is not None]
    return figures.figure(
        [go.Scatter(x=steps, y=[r["knn"] for r in rows], name="kNN accuracy", mode="lines+markers",
                    line=dict(color=figures.ACCENT, width=3)),
         go.Scatter(x=steps, y=[r["silhouette"] for r in rows], name="silhouette (map)",
                    mode="lines+markers", line=dict(color=figures.GLOBAL, width=2)),
         go.Scatter(x=[r["step"] for r in trained], y=[r["loss"] for r in trained],
                    name="InfoNCE loss", mode="lines", yaxis="y2",
                    line=dict(color=figures.POSITIVE, width=1.5, dash="dot"))],
        height=430, xaxis=dict(title="step"), yaxis=dict(title="kNN accuracy / silhouette"),
        yaxis2=dict(title="loss", overlaying="y", side="right", showgrid=False),
    )


def mse_figure(rows: Sequence[Mapping[str, Any]], baseline: float) -> go.Figure:
    """The strip's masked-patch MSE by step, against biharmonic inpainting's (dashed)."""
    return figures.figure(
        [go.Scatter(x=[r["step"] for r in rows], y=[r["strip_mse"] for r in rows],
                    name="MAE (this run)", mode="lines+markers",
                    line=dict(color=figures.ACCENT, width=3))],
        height=300, xaxis=dict(title="step"),
        yaxis=dict(title="masked-patch MSE", rangemode="tozero"),
        shapes=[figures.hline(baseline, dash="dash", colour=figures.POSITIVE)],
        annotations=[dict(x=0, xref="paper", y=baseline, text=f"biharmonic inpainting "
                          f"{baseline:.4f}", showarrow=False, xanchor="left", yanchor="bottom")],
    )


def strip_mosaic(rows: Sequence[Sequence[Sequence[Sequence[int]]]], *, scale: int = 3,
                 gap: int = 2) -> np.ndarray:
    """Rows of ``(N, H, W)`` uint8 images as one uint8 picture: a row per list, images side by
    side with ``gap`` white pixels between them, enlarged ``scale`` times (nearest)."""
    blocks = [np.asarray(row, dtype=np.uint8) for row in rows]  # each (N, H, W)
    n, h, w = blocks[0].shape
    out = np.full((len(blocks) * (h + gap) - gap, n * (w + gap) - gap), 255, dtype=np.uint8)
    for i, block in enumerate(blocks):
        for j, image in enumerate(block):
            out[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = image
    return out.repeat(scale, axis=0).repeat(scale, axis=1)
