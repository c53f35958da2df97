"""Home: the three families of self-supervised vision, and what this explorer lets you try."""

from __future__ import annotations

import streamlit as st

st.title("SSL Explorer")
st.markdown(
    "Self-supervised learning trains an image encoder **without labels**: the data supervises "
    "itself. Three families dominate vision, and each one makes the encoder solve a different "
    "puzzle."
)

st.graphviz_chart(
    """
    digraph ssl {
      rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#eef3fc", fontname=Helvetica];
      img [label="unlabelled image", fillcolor="#ffffff"];
      subgraph cluster_c { label="contrastive (SimCLR)"; color="#3b6fd8";
        v1 [label="view 1"]; v2 [label="view 2"];
        nce [label="InfoNCE:\\npull the pair together,\\npush other images away"]; }
      subgraph cluster_d { label="teacher-student (DINO)"; color="#2a9d8f";
        st [label="student\\n(all crops)"];
        te [label="EMA teacher\\n(global crops)\\ncentre + sharpen"];
        ce [label="match the teacher's\\ndistribution"]; }
      subgraph cluster_m { label="masked reconstruction (MAE)"; color="#e76f51";
        mask [label="hide 75 % of patches"]; enc [label="encoder sees\\nvisible patches"];
        dec [label="decoder fills\\nthe missing pixels"]; }
      img -> v1; img -> v2; v1 -> nce; v2 -> nce;
      img -> st; img -> te; st -> ce; te -> ce;
      img -> mask -> enc -> dec;
    }
    """
)

col1, col2, col3 = st.columns(3)
col1.subheader("Contrastive")
col1.markdown(
    "Two random augmentations of one image should map to nearby embeddings, and other images "
    "far away. The temperature τ decides how hard the loss focuses on the closest negatives; "
    "batch size decides how many negatives there are."
)
col2.subheader("Teacher-student")
col2.markdown(
    "A student matches the output distribution of a teacher that is an exponential moving "
    "average of itself. No negatives: **centring** stops one dimension from winning and "
    "**sharpening** stops the output from going flat. Switch either off and the model collapses."
)
col3.subheader("Masked reconstruction")
col3.markdown(
    "Hide most of the image and reconstruct it. Images are redundant, so only a high mask ratio "
    "(75 %) makes the task hard enough to need understanding rather than interpolation."
)
st.subheader("A tour of the pages")
TOUR = (
    ("augmentations", ":material/crop:",
     "See the views each method trains on: SimCLR's positive pairs, DINO's global and local "
     "crops, MAE's single crop, and the parameters sampled for every view."),
    ("infonce", ":material/thermostat:",
     "Move the temperature and watch where InfoNCE puts its weight; check the lesson's "
     "claim about random pairs against a live measurement."),
    ("mae", ":material/grid_on:",
     "Hide patches (random, one block or a regular grid), see what interpolation and the MAE "
     "rebuild, and how the error grows with the mask ratio."),
)
for page, icon, blurb in TOUR:
    st.page_link(f"../pages/{page}.py", icon=icon)
    st.caption(blurb)
st.info(
    "Every page keeps its settings in the URL: copy the address to share exactly what you see. "
    "The library behind the pages is `ssl_core` (data, view pipelines, losses, masking, models, "
    "pretraining and evaluation); see the README for its command-line tools."
)
