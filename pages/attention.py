"""Attention maps (being built: a helper replaces this file)."""

import streamlit as st

st.title("Attention maps")
st.info("This page is being built.")
