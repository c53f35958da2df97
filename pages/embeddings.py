"""Embeddings (being built: a helper replaces this file)."""

import streamlit as st

st.title("Embeddings")
st.info("This page is being built.")
