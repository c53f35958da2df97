"""SSL Explorer's entry point: `streamlit run app/main.py`. A router and nothing else."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the repo
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.shell import (  # noqa: E402
    configure_torch,
    freeze_imported_heap,
    render_sidebar,
    tune_allocator_once,
)
from app.tour import tour_bar  # noqa: E402

st.set_page_config(page_title="SSL Explorer", page_icon=":material/visibility:", layout="wide")
tune_allocator_once()
configure_torch()
if os.environ.get("SSL_EXPLORER_WARM_UMAP", "1") != "0":
    # UMAP's numba compile takes ~16 s once per process: start the projection worker, which
    # compiles it, when the app starts, so the Embeddings page's first UMAP does not wait for it
    # (app/workers.py: UMAP runs there, off the server's GIL).
    from app.encoders import start_umap_warm_up  # noqa: E402

    start_umap_warm_up()

PAGES = [
    st.Page(ROOT / "pages" / "home.py", title="Home", icon=":material/home:", default=True),
    st.Page(ROOT / "pages" / "augmentations.py", title="Augmentations",
            icon=":material/crop:"),
    st.Page(ROOT / "pages" / "infonce.py", title="InfoNCE and temperature",
            icon=":material/thermostat:"),
    st.Page(ROOT / "pages" / "dino_collapse.py", title="DINO collapse",
            icon=":material/school:"),
    st.Page(ROOT / "pages" / "mae.py", title="Masked autoencoder", icon=":material/grid_on:"),
    st.Page(ROOT / "pages" / "live_learning.py", title="Watch it learn",
            icon=":material/play_circle:"),
    st.Page(ROOT / "pages" / "embeddings.py", title="Embeddings (UMAP)",
            icon=":material/scatter_plot:"),
    st.Page(ROOT / "pages" / "retrieval.py", title="Retrieval", icon=":material/image_search:"),
    st.Page(ROOT / "pages" / "attention.py", title="Attention maps",
            icon=":material/center_focus_strong:"),
    st.Page(ROOT / "pages" / "linear_probe.py", title="Linear probe",
            icon=":material/stacked_line_chart:"),
    st.Page(ROOT / "pages" / "picker.py", title="Method picker", icon=":material/rule:"),
]

navigation = st.navigation(PAGES)
render_sidebar()
tour_bar(navigation.url_path)  # on a page opened from the lesson tour (?tour=N): prev / next
navigation.run()
freeze_imported_heap()  # after the run, so the page's imports are frozen too
