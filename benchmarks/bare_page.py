"""The floor for bench_browser.py: a bare Streamlit page, five sliders and one metric.

    python3 -m streamlit run benchmarks/bare_page.py

Whatever a slider of the app costs beyond this page's answer is the app's own work; this page's
answer is what Streamlit itself needs (a rerun, a delta over the websocket, a React render).
"""

import streamlit as st

values = [st.slider(f"slider {i + 1}", 0, 100, 50, key=f"bare_{i}") for i in range(5)]
st.metric("sum of the sliders", sum(values))
