"""The encoders, point sets and features the representation pages share (embeddings, retrieval,
probe), one module per concept:

- :mod:`~app.encoders.options`: which encoders are offered (bundled checkpoints, their
  random-init twins, raw pixels, DINOv2 / ViT-MAE from the local cache), the picker widget, and
  the cached encoder behind each choice;
- :mod:`~app.encoders.points`: the point-set picker and its cached sets (:mod:`lesson.points`);
- :mod:`~app.encoders.embedding`: features, embeddings and patch tokens, cached;
- :mod:`~app.encoders.projection`: UMAP / t-SNE in the projection worker.
"""

from app.encoders.embedding import (
    embed,
    features,
    has_patch_tokens,
    input_geometry,
    model_inputs,
    patch_tokens,
)
from app.encoders.options import (
    EncoderOption,
    default_encoder,
    encoder_options,
    encoder_param,
    encoder_picker,
    load_encoder,
    missing_checkpoints_message,
    unavailable_message,
)
from app.encoders.points import (
    DATASETS,
    DatasetSpec,
    PointSet,
    dataset_params,
    dataset_picker,
    points,
)
from app.encoders.projection import (
    TSNE_MAX_POINTS,
    QueueFull,
    project_features,
    projection_pool,
    start_umap_warm_up,
    umap_ready,
    wait_for_umap,
)

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "EncoderOption",
    "PointSet",
    "QueueFull",
    "TSNE_MAX_POINTS",
    "dataset_params",
    "dataset_picker",
    "default_encoder",
    "embed",
    "encoder_options",
    "encoder_param",
    "encoder_picker",
    "features",
    "has_patch_tokens",
    "input_geometry",
    "load_encoder",
    "missing_checkpoints_message",
    "model_inputs",
    "patch_tokens",
    "points",
    "project_features",
    "projection_pool",
    "start_umap_warm_up",
    "umap_ready",
    "unavailable_message",
    "wait_for_umap",
]
