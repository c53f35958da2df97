"""Retrieval: the images an encoder finds most similar to a query.

Inputs: a query image (bundled photo, Fashion-MNIST training item or upload;
``app.widgets.image_picker``), a gallery (Fashion-MNIST test items, crops of the bundled photos,
or an image folder; ``app.encoders``), one or two encoders and k. The top-k come from
``ssl_core.eval.retrieve`` (cosine similarity of the features); for ViT encoders,
``ssl_core.eval.patch_similarity`` colours each patch of a chosen match by how similar it is
to the query's embedding.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import encoders, figures, presenter
from app.glossary import glossary
from app.resources import fashion_item
from app.state import Param, clamp_state, restore, share, stop_page
from app.text import literal, public
from app.widgets import image_picker, picker_params
from lesson.figures.pictures import upscale_nearest
from lesson.figures.tables import records_to_csv
from ssl_core.checkpoints import CheckpointError
from ssl_core.data import DataError
from ssl_core.eval import patch_similarity, retrieve
from ssl_core.models.hf import ModelNotAvailableError

MAX_GALLERY = 5000
MAX_K = 24
TILE = 96  # display side of a result, px
HEAT_SIDE = 224  # display side of the heat-map figure's image, px
ERRORS = (CheckpointError, ModelNotAvailableError, DataError, ValueError)

OPTIONS = encoders.encoder_options()
PARAMS = (
    *(dataclasses.replace(p, default="fashion") if p.key == "ret_source" else p
      for p in picker_params("ret")),
    encoders.encoder_param("ret_enc", OPTIONS, ("ckpt:dino", "ckpt:simclr", "raw")),
    Param("ret_compare", False),
    encoders.encoder_param("ret_enc2", OPTIONS, ("raw",)),
    *encoders.dataset_params("ret", default_n=2000, max_n=MAX_GALLERY),
    Param("ret_k", 8, lo=1, hi=MAX_K),
    Param("ret_match", 1, lo=1, hi=MAX_K),
)


def heat_figure(image: np.ndarray, heat: np.ndarray, *, title: str) -> go.Figure:
    """The match (uint8) with the (h, w) patch similarities laid over it."""
    big = upscale_nearest(image, min_side=HEAT_SIDE)
    if big.ndim == 2:
        big = np.repeat(big[..., None], 3, axis=-1)  # go.Image wants RGB
    fig = figures.image_figure(big, height=320)
    h, w = heat.shape
    fig.add_trace(go.Heatmap(
        z=heat, x0=(big.shape[1] / w - 1) / 2, dx=big.shape[1] / w,
        y0=(big.shape[0] / h - 1) / 2, dy=big.shape[0] / h, zmin=float(heat.min()),
        zmax=float(heat.max()), colorscale="Inferno", opacity=0.6,
        colorbar=dict(title="cos", thickness=10),
        hovertemplate="patch row %{y:.0f}, column %{x:.0f}<br>cosine %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, margin=dict(t=40))
    return fig


restore(PARAMS)
st.title("Retrieval")
figure_slot = presenter.main_figure()  # the neighbours found by each encoder
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "Give an encoder a query image and it returns the gallery images whose features point the "
    "same way (highest **cosine similarity**). No labels are used: whether the neighbours share "
    "the query's class says what the features learned to care about."
)

# --- inputs ------------------------------------------------------------------------------------
query_col, gallery_col, enc_col = presenter.controls().columns(3, gap="large")
with query_col:
    st.markdown("**Query**")
    query = image_picker(key="ret")
with gallery_col:
    st.markdown("**Gallery**")
    spec = encoders.dataset_picker(key="ret", max_n=MAX_GALLERY)
    k = st.slider("Neighbours shown (k)", 1, MAX_K, key="ret_k")
with enc_col:
    first = encoders.encoder_picker(key="ret_enc", options=OPTIONS)
    chosen = [first]
    if st.toggle("Compare with a second encoder", key="ret_compare"):
        chosen.append(encoders.encoder_picker(key="ret_enc2", options=OPTIONS,
                                              label="Second encoder", explain_missing=False))

try:
    gallery = encoders.points(spec)
except (DataError, ValueError) as error:
    stop_page(PARAMS, f"Cannot use this gallery: {public(error)}")
k = min(k, len(gallery.labels))
st.caption(f"Gallery: **{literal(gallery.name, max_chars=200)}**.")

st.image(upscale_nearest(query, min_side=TILE), caption="Query", width=TILE)

# --- results per encoder -----------------------------------------------------------------------
rows: list[dict] = []
heat_jobs: list[tuple[encoders.EncoderOption, np.ndarray, np.ndarray]] = []
for column, option in zip(figure_slot.columns(len(chosen), gap="large"), chosen, strict=True):
    with column:
        st.subheader(option.label)
        try:
            gallery_feats = encoders.features(option, spec)
            query_feats = encoders.embed(option, gallery, [query])  # (1, D)
            indices, scores = retrieve(query_feats, gallery_feats, k=k)
        except ERRORS as error:
            st.error(f"{option.label}: {public(error)}", icon=":material/error:")
            continue
        shown = indices[0]
        st.image([upscale_nearest(gallery.images[j], min_side=TILE) for j in shown],
                 caption=[f"#{r + 1} · {s:.3f} · {gallery.class_name(j)}"
                          for r, (j, s) in enumerate(zip(shown, scores[0], strict=True))],
                 width=TILE)
        if gallery.labelled and st.session_state.get("ret_source") == "fashion" \
                and spec.kind == "fashion":
            _, query_class = fashion_item(int(st.session_state["ret_item"]))
            same = sum(gallery.class_name(j) == query_class for j in shown)
            st.metric(f"Neighbours of the query's class ({query_class})", f"{same} of {k}")
        rows += [{"encoder": option.key, "rank": r + 1, "item": int(j), "cosine": float(s),
                  "class": gallery.class_name(j)}
                 for r, (j, s) in enumerate(zip(shown, scores[0], strict=True))]
        heat_jobs.append((option, query_feats[0], shown))

if rows:
    figures.csv_button("Neighbours (CSV)", records_to_csv(rows), key="ret_csv",
                       filename=f"retrieval_{spec.kind}.csv")

# --- where a match answers the query (ViT encoders) --------------------------------------------
st.subheader("Which patches of a match answer the query")
clamp_state("ret_match", 1, k)
match = st.number_input("Match to explain (rank)", 1, k, step=1, key="ret_match")
vit_jobs = []
for option, query_vector, shown in heat_jobs:
    try:
        if encoders.has_patch_tokens(option):
            vit_jobs.append((option, query_vector, int(shown[int(match) - 1])))
    except ERRORS:
        continue
if not vit_jobs:
    st.info("Patch heat maps need a ViT encoder (the bundled dino_vit or mae, a random-init ViT, "
            "or DINOv2 / ViT-MAE from the local cache): pick one above.", icon=":material/info:")
for column, (option, query_vector, item) in zip(st.columns(max(1, len(vit_jobs)), gap="large"),
                                                 vit_jobs, strict=False):
    with column:
        try:
            tokens, grid = encoders.patch_tokens(option, gallery, gallery.images[item : item + 1])
            heat = patch_similarity(query_vector, tokens[0], grid)  # (h, w) in [-1, 1]
        except ERRORS as error:
            st.error(f"{option.label}: {public(error)}", icon=":material/error:")
            continue
        figures.show(
            heat_figure(gallery.images[item], heat,
                        title=f"{option.title}: match #{int(match)} ({gallery.class_name(item)})"),
            key=f"ret_fig_heat_{option.key}", filename=f"retrieval_patches_{option.key}",
            caption=f"Cosine similarity of each of the {grid[0]} x {grid[1]} patch tokens of "
                    f"the match to the query's embedding, from {float(heat.min()):.2f} (dark) to "
                    f"{float(heat.max()):.2f} (bright): the bright patches are the parts of the "
                    "match that look most like the query as a whole.",
        )

glossary("retrieval")
st.caption("The URL holds every setting above (except an upload): copy it to share this view.")
share(PARAMS)
