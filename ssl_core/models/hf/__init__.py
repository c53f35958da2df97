"""Foundation models through transformers: DINOv2 and ViT-MAE behind the common encoder contract.

``load_hf_encoder`` turns a local directory (``config.json`` + ``model.safetensors``) or a hub id
(``facebook/dinov2-small``, ``facebook/dinov2-base``, ``facebook/vit-mae-base``) into an
:class:`HFEncoder`, which offers what our own ViT offers:

- ``forward_features(x) -> (B, D)``: the CLS token after the final LayerNorm (DINOv2's pooler
  output; for ViT-MAE the encoder's CLS with nothing masked).
- ``patch_tokens(x) -> (B, L, D)``: the final normed patch tokens in raster order.
- ``get_last_selfattention(x) -> (B, heads, 1 + L, 1 + L)``: the last layer's attention, CLS first
  (the models are loaded with eager attention, the only kind that returns weights).
- ``embed_dim``, ``patch_size``, ``num_heads``, ``image_size``, ``grid_size``, ``num_patches``.

Inputs are our images: float in [0, 1], shape ``(B, C, H, W)``, grayscale (C = 1, Fashion-MNIST)
or RGB. The encoder repeats a single channel to three, resizes the whole image (no crop; a
non-square image is stretched) to ``image_size``, a multiple of the patch size, and normalises with
the model's mean and std (its ``preprocessor_config.json`` where saved, else ImageNet's).

``mae_reconstruct`` runs ViT-MAE's encoder and decoder at a chosen mask ratio with a seeded mask and
returns the masked input, the reconstruction and the per-patch error.

Weights are never downloaded unless asked for (``local_only=False``), and only safetensors are
loaded (a pickled ``pytorch_model.bin`` can run code when unpickled). With no weights on disk the
loader raises :class:`ModelNotAvailableError` at once, saying where it looked and how to get them;
it never waits on the network. transformers and huggingface_hub are imported on first use, so
``import ssl_core.models.hf`` stays cheap and works without the ``hf`` extra.

Modules: :mod:`~ssl_core.models.hf.cache` (finding the weights: the hub cache, local folders,
downloads when asked), :mod:`~ssl_core.models.hf.encoder` (:class:`HFEncoder` and
:func:`load_hf_encoder`), :mod:`~ssl_core.models.hf.reconstruct` (:func:`mae_reconstruct`).
"""

from ssl_core.models.hf.cache import (
    KNOWN_MODELS,
    ModelNotAvailableError,
    hf_hub_cache_dir,
    list_local_models,
    resolve_model_dir,
    weights_stamp,
)
from ssl_core.models.hf.encoder import IMAGENET_MEAN, IMAGENET_STD, HFEncoder, load_hf_encoder
from ssl_core.models.hf.reconstruct import mae_reconstruct

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KNOWN_MODELS",
    "HFEncoder",
    "ModelNotAvailableError",
    "hf_hub_cache_dir",
    "list_local_models",
    "load_hf_encoder",
    "mae_reconstruct",
    "resolve_model_dir",
    "weights_stamp",
]
