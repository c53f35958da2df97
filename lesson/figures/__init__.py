"""Figure data: the arrays, tables and short texts the pages plot, one module per subject.

Pure functions (numpy / torch in, numpy / str / bytes out); nothing here draws, imports
streamlit or plotly, or computes a loss of its own: the numbers come from :mod:`ssl_core`.
"""
