"""Pieces of the shell every page shares: the sidebar with the device and the loaded models."""

from __future__ import annotations

import streamlit as st
import torch


@st.cache_resource
def device_description() -> str:
    """CPU or the CUDA device's name, computed once per process."""
    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    return f"CPU ({torch.get_num_threads()} threads)"


def render_sidebar() -> None:
    with st.sidebar:
        st.caption(f"Device: {device_description()}")
