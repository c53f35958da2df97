"""ssl_core: the library behind SSL Explorer.

Data, view pipelines, losses and masking for self-supervised vision (SimCLR / InfoNCE, DINO, MAE).
It never imports streamlit or plotly: everything the app shows is computed here and testable
without a browser.
"""

__version__ = "0.1.0"
