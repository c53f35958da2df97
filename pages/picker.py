"""Method picker (being built: a helper replaces this file)."""

import streamlit as st

st.title("Method picker")
st.info("This page is being built.")
