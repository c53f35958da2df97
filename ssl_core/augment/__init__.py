"""View pipelines for self-supervised vision: SimCLR/BYOL two views, DINO multi-crop, MAE
crop+flip.

Every pipeline is a torchvision ``transforms.v2`` transform that takes one image and returns one
float32 view ``(C, size, size)`` in [0, 1] (or normalised when a config gives ``mean``/``std``).
Images may be uint8 torch tensors ``(C, H, W)`` / ``(H, W)``, uint8 numpy arrays ``(H, W)`` /
``(H, W, C)`` or PIL images, with C = 1 (Fashion-MNIST) or C = 3 (photos). Colour operations that
need three channels (saturation, hue, random grayscale) leave a 1-channel image unchanged, so one
pipeline serves both.

* :mod:`~ssl_core.augment.config`: :class:`ViewConfig`, :class:`MultiCropConfig` (validated);
* :mod:`~ssl_core.augment.pipelines`: the transforms made from them, and ``TwoViewDataset``;
* :mod:`~ssl_core.augment.trace`: seeded views and the parameters that made each one.

:mod:`~ssl_core.augment.batched` draws the same distributions for a whole batch at once (training).
"""

from ssl_core.augment.config import INTERPOLATIONS, MultiCropConfig, ViewConfig
from ssl_core.augment.pipelines import (
    MultiCrop,
    TwoViewDataset,
    build_pipeline,
    byol_views,
    mae_train,
    multi_crop,
    to_image_tensor,
    two_view_train,
)
from ssl_core.augment.trace import PipelineLike, View, sample_views, trace_views

__all__ = [
    "INTERPOLATIONS",
    "MultiCrop",
    "MultiCropConfig",
    "PipelineLike",
    "TwoViewDataset",
    "View",
    "ViewConfig",
    "build_pipeline",
    "byol_views",
    "mae_train",
    "multi_crop",
    "sample_views",
    "to_image_tensor",
    "trace_views",
    "two_view_train",
]
