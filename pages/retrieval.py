"""Retrieval (being built: a helper replaces this file)."""

import streamlit as st

st.title("Retrieval")
st.info("This page is being built.")
