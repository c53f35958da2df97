"""The Streamlit shell of SSL Explorer: router, cached resources, shared widgets."""
