"""Home: the three families of self-supervised vision, a tour of the pages, and what is bundled.

The list of bundled checkpoints is read from ``assets/checkpoints`` (each folder's config.json
and metrics.jsonl) and the list of measured results from ``assets/results``, so nothing here is
a hard-coded number.
"""

from __future__ import annotations

import streamlit as st

from app import presenter, tour
from app.glossary import glossary
from lesson.bundle import bundled_checkpoint_rows, measured_result_rows

FAMILY_DIAGRAM = """
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
    mask [label="hide most patches"]; enc [label="encoder sees\\nvisible patches"];
    dec [label="decoder fills\\nthe missing pixels"]; }
  img -> v1; img -> v2; v1 -> nce; v2 -> nce;
  img -> st; img -> te; st -> ce; te -> ce;
  img -> mask -> enc -> dec;
}
"""

# The tour: (section, [(page file in pages/, what it shows)]); routes as in app/main.py.
TOUR: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Start here", (
        ("home", "This page: the three families, the tour, and what is bundled."),
        ("augmentations", "The views each method trains on: SimCLR's positive pairs, DINO's "
                          "global and local crops, MAE's single crop, with the parameters "
                          "sampled for every view."),
    )),
    ("One family at a time", (
        ("infonce", "Contrastive: move the temperature and watch where InfoNCE puts its "
                    "weight, on toy embeddings or on real pairs through the bundled SimCLR; "
                    "the lesson's claims next to measurements."),
        ("dino_collapse", "Teacher-student: switch off centring or sharpening and watch DINO "
                          "collapse, from measured training runs."),
        ("mae", "Masked reconstruction: hide patches, see what interpolation and the MAE "
                "rebuild, and how the error grows with the mask ratio."),
        ("live_learning", "Watch it learn: a small SimCLR trains for a minute while its map of "
                          "test images and its kNN accuracy move; or an MAE learns to fill "
                          "masked patches, against biharmonic inpainting."),
    )),
    ("What the encoders learned", (
        ("embeddings", "The features of the bundled encoders projected to 2-D (UMAP, PCA, "
                       "t-SNE), coloured by class."),
        ("retrieval", "Nearest neighbours of a query image in each encoder's feature space."),
        ("attention", "Where a ViT looks: self-attention maps of the DINO encoder."),
        ("linear_probe", "How good the features are: kNN and linear-probe accuracy, and how "
                         "many labels each encoder needs."),
    )),
    ("Choosing a method", (
        ("picker", "Describe your data and compute; get a pretraining method and the command "
                   "that trains it."),
    )),
)


st.title("SSL Explorer")
diagram_slot = presenter.main_figure()
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "Self-supervised learning trains an image encoder **without labels**: the data supervises "
    "itself. Three families dominate vision, and each one makes the encoder solve a different "
    "puzzle."
)
with diagram_slot:
    st.graphviz_chart(FAMILY_DIAGRAM)

col1, col2, col3 = presenter.folded("The three families in words").columns(3)
col1.subheader("Contrastive")
col1.markdown(
    "Two random augmentations of one image should map to nearby embeddings, and other images "
    "far away (SimCLR's InfoNCE). The temperature τ decides how hard the loss focuses on the "
    "closest negatives; the batch size decides how many negatives there are."
)
col2.subheader("Teacher-student")
col2.markdown(
    "A student matches the output distribution of a teacher that is an exponential moving "
    "average of itself (DINO). No negatives: **centring** stops one dimension from winning and "
    "**sharpening** stops the output from going flat. Switch either off and the model collapses."
)
col3.subheader("Masked reconstruction")
col3.markdown(
    "Hide most of the image and reconstruct it (MAE). Images are redundant, so only a high "
    "mask ratio makes the task hard enough to need understanding rather than interpolation."
)

st.subheader("The lesson, step by step")
st.markdown(
    "A guided tour in the lesson's order: each step opens its page with the settings that make "
    "the point, says what to notice, and has Next / Back buttons above the title. Switch on "
    "**Presenter mode** in the sidebar first when you project it."
)
tour.step_button(0, label="Start the tour", key="home_tour_start")
for index, step in enumerate(tour.STEPS):
    button_col, notice_col = st.columns([1, 3], vertical_alignment="center")
    with button_col:
        tour.step_button(index, key=f"home_tour_{index}")
    notice_col.caption(step.notice)

st.subheader("A tour of the pages")
for section, pages in TOUR:
    st.markdown(f"**{section}**")
    for page, blurb in pages:
        st.page_link(f"../pages/{page}.py")
        st.caption(blurb)

st.subheader("What is bundled")
checkpoints = bundled_checkpoint_rows()
if checkpoints:
    st.markdown("Pretrained checkpoints in `assets/checkpoints/` (read from their config.json "
                "and metrics.jsonl):")
    st.dataframe(checkpoints, hide_index=True)
else:
    st.info("No checkpoints are bundled (assets/checkpoints/ is empty): the pages that need a "
            "trained encoder say so and show what they can without one. Train one with "
            "`python3 -m ssl_core.pretrain`.", icon=":material/info:")
measured = measured_result_rows()
if measured:
    st.markdown("Measured results in `assets/results/`, each with the command that made it:")
    st.dataframe(measured, hide_index=True)
else:
    st.info("No measured results yet (assets/results/ is empty): each is made by "
            "`python3 -m lesson.experiments.<name>`.", icon=":material/info:")
st.caption(
    "Every page keeps its settings in the URL: copy the address to share exactly what you see. "
    "The library behind the pages is `ssl_core` (data, view pipelines, losses, masking, models, "
    "pretraining and evaluation); see the README for its command-line tools."
)
glossary("home")
