"""ssl_core: the library behind SSL Explorer.

Data, view pipelines, losses and masking for self-supervised vision (SimCLR / InfoNCE, DINO, MAE).
No user interface and no plotting: every number is computed here and testable without a
browser. What is in it, and the layers above it, are in docs/DESIGN.md.
"""

__version__ = "0.1.0"
