"""Embeddings: what an encoder's feature space looks like, in 2-D.

Inputs: an encoder (bundled checkpoints, their random-init twins, raw pixels, DINOv2 / ViT-MAE
from the local cache; ``app.encoders``), a point set (Fashion-MNIST test items, crops of the
bundled photos, or an image folder), the number of points, and a projection (UMAP with
n_neighbors / min_dist, PCA, t-SNE; ``ssl_core.eval.projection.project``). The leave-one-out kNN
accuracy beside each map is ``ssl_core.eval.loo_knn_accuracy``. A second encoder can be
shown side by side; clicking or lassoing points shows their images.
"""

from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from app import encoders, figures, presenter, workers
from app.glossary import glossary
from app.state import Param, restore, share, stop_page
from app.text import literal, public
from app.widgets import preset_buttons
from lesson.figures.pictures import upscale_nearest
from lesson.figures.tables import records_to_csv
from ssl_core.checkpoints import CheckpointError
from ssl_core.data import DataError
from ssl_core.eval import loo_knn_accuracy
from ssl_core.eval.projection import METHODS
from ssl_core.models.hf import ModelNotAvailableError

MAX_POINTS = 5000
# The settings a map can take: the values umap-learn's documentation compares ("Basic UMAP
# Parameters": n_neighbors 2 ... 200, min_dist 0.0 ... 0.99), plus its defaults (15, 0.1) and
# a few sizes. A class asking for the same few maps shares them through the cache, where any
# value of a fine slider was a new fit for nearly every student.
SIZES = (50, 100, 250, 500, 1000, 2000, 3000, 5000)
NEIGHBOURS = (2, 5, 10, 15, 20, 50, 100)
MIN_DISTS = (0.0, 0.05, 0.1, 0.25, 0.5, 0.8, 0.99)
KNN_K = 20
THUMBS = 24  # selected images shown at most
THUMB = 84  # display side of a thumbnail, px
METHOD_LABELS = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
PRESETS = {
    "UMAP default": {"emb_method": "umap", "emb_neighbors": 15, "emb_min_dist": 0.1},
    "Local detail": {"emb_method": "umap", "emb_neighbors": 5, "emb_min_dist": 0.0},
    "Global layout": {"emb_method": "umap", "emb_neighbors": 50, "emb_min_dist": 0.5},
    "PCA (linear)": {"emb_method": "pca"},
}
ERRORS = (CheckpointError, ModelNotAvailableError, DataError, ValueError, workers.WorkerError,
          encoders.QueueFull)

OPTIONS = encoders.encoder_options()
PARAMS = (
    encoders.encoder_param("emb_enc", OPTIONS, ("ckpt:simclr", "ckpt:dino", "raw")),
    Param("emb_compare", False),
    encoders.encoder_param("emb_enc2", OPTIONS, ("random:simclr", "raw")),
    *encoders.dataset_params("emb", default_n=2000, max_n=MAX_POINTS, sizes=SIZES),
    Param("emb_method", "umap", options=METHODS),
    Param("emb_neighbors", 15, choices=NEIGHBOURS),
    Param("emb_min_dist", 0.1, choices=MIN_DISTS),
    Param("emb_perplexity", 30.0, lo=5.0, hi=100.0),
)


@st.cache_data(show_spinner="Projecting…", max_entries=64)
def projection(feats: np.ndarray, method: str, n_neighbors: int, min_dist: float,
               perplexity: float) -> tuple[np.ndarray, float]:
    """(coordinates (N, 2), seconds it took)."""
    start = time.perf_counter()
    coords = encoders.project_features(feats, method, n_neighbors=n_neighbors,
                                       min_dist=min_dist, perplexity=perplexity, seed=0)
    return coords, time.perf_counter() - start


@st.cache_data(show_spinner=False, max_entries=64)
def knn(feats: np.ndarray, labels: np.ndarray) -> float:
    return loo_knn_accuracy(feats, labels, k=min(KNN_K, len(labels) - 1))


def colours(n: int) -> list[str]:
    palette = qualitative.Plotly if n <= 10 else qualitative.Alphabet
    return [palette[i % len(palette)] for i in range(n)]


def scatter(coords: np.ndarray, point_set: encoders.PointSet,
            groups: list[np.ndarray], names: list[str], *, title: str) -> go.Figure:
    traces = [
        go.Scattergl(x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=name,
                     marker=dict(size=5, color=colour, opacity=0.8), customdata=idx,
                     hovertemplate=f"{name}<br>item %{{customdata}}<extra></extra>")
        for idx, name, colour in zip(groups, names, colours(len(groups)), strict=True)
    ]
    return figures.figure(traces, height=520, title=title, dragmode="lasso",
                          xaxis=dict(showticklabels=False, title=None),
                          yaxis=dict(showticklabels=False, title=None),
                          legend=dict(orientation="v", x=1.01, xanchor="left", y=1))


restore(PARAMS)
encoders.start_umap_warm_up()
st.title("Embeddings")
figure_slot = presenter.main_figure()  # the map(s)
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "An encoder maps each image to a vector. If pretraining worked, images of the same kind land "
    "near each other **without any label having been used**. Here the vectors are squeezed to "
    "2-D and coloured by class; the kNN accuracy says how often an image's nearest neighbours "
    "(in the full feature space, not the 2-D map) share its class."
)

# --- inputs ------------------------------------------------------------------------------------
data_col, enc_col, proj_col = presenter.controls().columns(3, gap="large")
with data_col:
    spec = encoders.dataset_picker(key="emb", max_n=MAX_POINTS, sizes=SIZES)
with enc_col:
    first = encoders.encoder_picker(key="emb_enc", options=OPTIONS)
    compare = st.toggle("Compare with a second encoder", key="emb_compare")
    chosen = [first]
    if compare:
        chosen.append(encoders.encoder_picker(key="emb_enc2", options=OPTIONS,
                                              label="Second encoder", explain_missing=False))
with proj_col:
    preset_buttons(PRESETS, key="emb_preset")
    method = st.radio("Projection", METHODS, key="emb_method", horizontal=True,
                      format_func=METHOD_LABELS.get)
    if method == "umap":
        n_neighbors = st.select_slider("n_neighbors (local detail <-> global layout)",
                                       NEIGHBOURS, key="emb_neighbors")
        min_dist = st.select_slider("min_dist (tight clumps <-> even spread)", MIN_DISTS,
                                    key="emb_min_dist", format_func=lambda d: f"{d:g}")
    elif method == "tsne":
        st.slider("perplexity (roughly the neighbours respected)", 5.0, 100.0, step=1.0,
                  key="emb_perplexity")
        st.caption(f"t-SNE takes tens of seconds for 2,000 points on a CPU (cached afterwards); "
                   f"it maps at most {encoders.TSNE_MAX_POINTS:,} points here.")
    else:
        st.caption("PCA is linear: the two directions of largest variance.")
n_neighbors = int(st.session_state["emb_neighbors"])
min_dist = float(st.session_state["emb_min_dist"])
perplexity = float(st.session_state["emb_perplexity"])

try:
    point_set = encoders.points(spec)
except (DataError, ValueError) as error:
    stop_page(PARAMS, f"Cannot use these images: {public(error)}")

n = len(point_set.labels)
groups, names = [], []
for label in sorted(set(point_set.labels.tolist())):
    groups.append(np.flatnonzero(point_set.labels == label))
    names.append(point_set.classes[label] if 0 <= label < len(point_set.classes)
                 else "unlabelled")
st.caption(f"**{literal(point_set.name, max_chars=200)}**, {len(groups)} class(es).")

if method == "umap" and not encoders.umap_ready():
    with st.spinner("Compiling UMAP's kernels (once per server process)…"):
        encoders.wait_for_umap()

# --- one map per encoder ---------------------------------------------------------------------
selected: list[int] = []
records: dict[str, np.ndarray] = {}
for i, (column, option) in enumerate(zip(figure_slot.columns(len(chosen), gap="large"), chosen,
                                         strict=True)):
    with column:
        st.markdown(f"**{option.label}**")
        try:
            feats = encoders.features(option, spec)
            coords, seconds = projection(feats, method, n_neighbors, min_dist, perplexity)
            accuracy = knn(feats, point_set.labels) if point_set.labelled and n > 2 else None
        except ERRORS as error:
            st.error(f"{option.label}: {public(error)}", icon=":material/error:")
            continue
        if accuracy is not None:
            st.metric(f"kNN accuracy (k={min(KNN_K, n - 1)}, leave-one-out)", f"{accuracy:.1%}",
                      help="Each point is classified by a weighted vote of its nearest other "
                           "points (cosine similarity of the full features).")
        else:
            st.caption("No kNN accuracy: these images have no classes.")
        fig = scatter(coords, point_set, groups, names,
                      title=f"{METHOD_LABELS[method]} · {option.title}")
        event = st.plotly_chart(
            presenter.chart_layout(fig), key=f"emb_fig_{i}", on_select="rerun",
            selection_mode=("points", "box", "lasso"),
            config={"displaylogo": False, "toImageButtonOptions": {
                "format": "png", "filename": f"embeddings_{method}_{i}", "scale": 2}},
        )
        presenter.caption(f"{n:,} points, {feats.shape[1]}-D features -> 2-D by "
                          f"{METHOD_LABELS[method]} in {seconds:.2f} s (reruns come from the "
                          "cache). Click, box or lasso points to see their images.")
        selected += figures.selected_points(event, groups)
        records[option.key] = coords

if records:
    figures.csv_button(
        "Coordinates (CSV)",
        lambda: records_to_csv([
            {"item": j, "class": point_set.class_name(j),
             **{f"{key}_{axis}": float(c[j, a]) for key, c in records.items()
                for a, axis in enumerate("xy")}}
            for j in range(n)]),
        key="emb_csv", filename=f"embeddings_{spec.kind}_{method}.csv",
    )

# --- the images behind the selected points ---------------------------------------------------
st.subheader("Selected images")
selected = list(dict.fromkeys(selected))
if selected:
    shown = selected[:THUMBS]
    st.image([upscale_nearest(point_set.images[j], min_side=THUMB) for j in shown],
             caption=[f"{j}: {point_set.class_name(j)}" for j in shown], width=THUMB)
    if len(selected) > THUMBS:
        st.caption(f"Showing {THUMBS} of {len(selected)} selected points.")
else:
    st.caption("Click a point, or drag a box or lasso around several, to see their images here.")

glossary("embeddings")
st.caption("The URL holds every setting above: copy it to share this view.")
share(PARAMS)
