"""DINO collapse (being built: a helper replaces this file)."""

import streamlit as st

st.title("DINO collapse")
st.info("This page is being built.")
