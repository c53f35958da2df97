"""Linear probe (being built: a helper replaces this file)."""

import streamlit as st

st.title("Linear probe")
st.info("This page is being built.")
