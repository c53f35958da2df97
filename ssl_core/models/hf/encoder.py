"""A transformers DINOv2 / ViT-MAE model behind the common encoder contract (:class:`HFEncoder`),
and :func:`load_hf_encoder`, which builds one from a local folder or the hub cache.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_core.models.hf.cache import ModelNotAvailableError, resolve_model_dir

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "HFEncoder", "load_hf_encoder", "mae_mask_ratio"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_MODEL_CLASSES = {"Dinov2Model", "ViTMAEModel", "ViTMAEForPreTraining"}

# ViT-MAE reads its mask ratio from its config inside forward; feature extraction needs 0 and the
# reconstruction a chosen ratio. They set it for the duration of one forward pass under this
# lock, so a model shared between threads is never seen half-set.
_MASK_RATIO_LOCK = threading.Lock()


def _read_preprocessing(
    directory: Path,
) -> tuple[tuple[int, int] | None, list[float] | None, list[float] | None]:
    """Input size, mean and std from a saved ``preprocessor_config.json`` (None where absent).

    The size is the centre crop where the processor crops (DINOv2: resize to 256, crop 224), else
    its resize target (ViT-MAE: 224). We read the JSON rather than build an image processor: the
    encoder does its own tensor preprocessing, and this stays stable across transformers versions.
    """
    path = directory / "preprocessor_config.json"
    if not path.is_file():
        return None, None, None
    cfg = json.loads(path.read_text())
    size_spec = cfg.get("crop_size") if cfg.get("do_center_crop") else cfg.get("size")
    size: tuple[int, int] | None = None
    if isinstance(size_spec, int):
        size = (size_spec, size_spec)
    elif isinstance(size_spec, dict):
        if "height" in size_spec and "width" in size_spec:
            size = (int(size_spec["height"]), int(size_spec["width"]))
        elif "shortest_edge" in size_spec:
            size = (int(size_spec["shortest_edge"]),) * 2
    return size, cfg.get("image_mean"), cfg.get("image_std")


def load_hf_encoder(
    name_or_path: str | os.PathLike[str],
    *,
    local_only: bool = True,
    device: torch.device | str | None = None,
    image_size: int | tuple[int, int] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> HFEncoder:
    """Load DINOv2 or ViT-MAE from a local directory or the hub cache as an :class:`HFEncoder`.

    ``name_or_path``: a folder with ``config.json`` + ``model.safetensors`` (what
    ``save_pretrained`` writes), or a hub id resolved by :func:`resolve_model_dir` (the local cache
    only unless ``local_only=False``). The class comes from the config: ``dinov2`` loads
    ``Dinov2Model``; ``vit_mae`` loads ``ViTMAEForPreTraining`` when the checkpoint has the decoder
    (as ``facebook/vit-mae-base`` does, so :func:`mae_reconstruct` works) and ``ViTMAEModel`` when
    it was saved without. Always eager attention (for attention maps) and safetensors only.
    ``image_size`` overrides the input size (default: the saved preprocessor's, else the config's).
    Returns the encoder in eval mode on ``device`` (default: CPU).
    """
    directory = resolve_model_dir(name_or_path, local_only=local_only, cache_dir=cache_dir)
    config = json.loads((directory / "config.json").read_text())
    model_cls = _model_class(config, source=os.fspath(name_or_path))
    from safetensors import SafetensorError

    try:
        model = model_cls.from_pretrained(
            directory,
            local_files_only=True,  # the folder is local; never let transformers look further
            use_safetensors=True,
            attn_implementation="eager",
        )
    except SafetensorError as error:  # e.g. a download cut short: a truncated model.safetensors
        raise ModelNotAvailableError(
            f"the weights of {os.fspath(name_or_path)!r} in {directory} could not be loaded "
            f"({error}); the file is probably truncated: delete that folder and download the "
            "model again"
        ) from error
    model.float()  # the encoder computes in float32 whatever dtype the checkpoint was saved in
    saved_size, mean, std = _read_preprocessing(directory)
    encoder = HFEncoder(
        model,
        image_size=image_size if image_size is not None else saved_size,
        image_mean=mean,
        image_std=std,
        source=os.fspath(name_or_path),
    )
    encoder.eval()
    if device is not None:
        encoder.to(device)
    return encoder


def _model_class(config: dict[str, Any], *, source: str) -> type[nn.Module]:
    """The transformers class for a saved config (imports transformers on first use)."""
    model_type = config.get("model_type")
    if model_type not in ("dinov2", "vit_mae"):
        raise ValueError(
            f"{source!r} is a {model_type!r} model; load_hf_encoder supports 'dinov2' (DINOv2, "
            "without registers) and 'vit_mae' (ViT-MAE)."
        )
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "DINOv2 and ViT-MAE need transformers: pip install 'ssl-explorer[hf]'"
        ) from exc
    if model_type == "dinov2":
        return transformers.Dinov2Model
    if "ViTMAEForPreTraining" in (config.get("architectures") or []):
        return transformers.ViTMAEForPreTraining
    return transformers.ViTMAEModel


def _as_size(value: int | tuple[int, int] | list[int], *, patch_size: int) -> tuple[int, int]:
    """``n`` or ``(h, w)`` as a pair of positive multiples of ``patch_size``."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"image_size must be a positive int or a pair (h, w); got {value!r}")
    for v in pair:
        if v % patch_size:
            lower = max(patch_size, v // patch_size * patch_size)
            raise ValueError(
                f"image_size {v} is not a multiple of the patch size {patch_size}; "
                f"use {lower} or {lower + patch_size}"
            )
    return pair  # type: ignore[return-value]


@contextmanager
def mae_mask_ratio(vit: nn.Module, ratio: float) -> Iterator[None]:
    """Let a ViT-MAE encoder mask ``ratio`` of the patches for one forward pass, then restore
    (under a lock: a model shared between threads is never seen half-set)."""
    config = vit.embeddings.config  # what ViTMAEEmbeddings.random_masking reads
    with _MASK_RATIO_LOCK:
        saved = config.mask_ratio
        config.mask_ratio = ratio
        try:
            yield
        finally:
            config.mask_ratio = saved


class HFEncoder(nn.Module):
    """A transformers DINOv2 / ViT-MAE model behind the common encoder contract.

    ``model`` is a ``Dinov2Model``, ``ViTMAEModel`` or ``ViTMAEForPreTraining`` (its encoder is
    used for features, its decoder by :func:`mae_reconstruct`); it is wrapped, not copied.
    ``image_size`` (int or ``(h, w)``, multiples of the patch size) is what every input is resized
    to; default: the config's ``image_size`` (pass 224 for the hub DINOv2 models, whose config says
    518; :func:`load_hf_encoder` reads 224 from their preprocessor config). Larger sizes give finer
    attention maps and patch grids at quadratic cost. ``image_mean`` / ``image_std`` default to
    ImageNet's. Buffers hold them, so ``.to(device)`` moves everything; inputs are moved to the
    model's device.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        image_size: int | tuple[int, int] | None = None,
        image_mean: list[float] | tuple[float, ...] | None = None,
        image_std: list[float] | tuple[float, ...] | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__()
        kind = type(model).__name__
        if kind not in _MODEL_CLASSES:
            raise ValueError(
                f"HFEncoder wraps one of {sorted(_MODEL_CLASSES)}; got {kind}. "
                "Load models with load_hf_encoder()."
            )
        self.model = model
        config = model.config
        self.model_type: str = config.model_type  # "dinov2" or "vit_mae"
        self.source = source if source is not None else kind
        self.embed_dim: int = config.hidden_size
        self.num_heads: int = config.num_attention_heads
        self.patch_size: int = config.patch_size
        self.in_chans: int = config.num_channels
        native = _as_size(config.image_size, patch_size=self.patch_size)
        self.image_size: tuple[int, int] = (
            native if image_size is None else _as_size(image_size, patch_size=self.patch_size)
        )
        self.grid_size: tuple[int, int] = (
            self.image_size[0] // self.patch_size,
            self.image_size[1] // self.patch_size,
        )
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        # ViT-MAE refuses a size other than its config's unless told to interpolate its positions;
        # DINOv2 interpolates by itself.
        self.interpolate_pos_encoding = self.image_size != native
        mean = IMAGENET_MEAN if image_mean is None else tuple(image_mean)
        std = IMAGENET_STD if image_std is None else tuple(image_std)
        if len(mean) != self.in_chans or len(std) != self.in_chans:
            raise ValueError(
                f"image_mean and image_std need {self.in_chans} values (one per model channel); "
                f"got {len(mean)} and {len(std)}"
            )
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def backbone(self) -> nn.Module:
        """The encoder proper: the model itself, or ``ViTMAEForPreTraining.vit``."""
        return self.model.vit if type(self.model).__name__ == "ViTMAEForPreTraining" else self.model

    @property
    def has_decoder(self) -> bool:
        """Whether :func:`mae_reconstruct` can run (a ViT-MAE saved with its decoder)."""
        return type(self.model).__name__ == "ViTMAEForPreTraining"

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def input_grid(self, x: Tensor) -> tuple[int, int]:
        """Patch grid ``(h, w)`` of ``x`` after preprocessing: always :attr:`grid_size`."""
        self._check_input(x)
        return self.grid_size

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] not in (1, self.in_chans):
            raise ValueError(
                f"expected images of shape (B, 1 or {self.in_chans}, H, W), float in [0, 1]; "
                f"got {tuple(x.shape)}"
            )

    def to_model_pixels(self, x: Tensor) -> Tensor:
        """Our images ``(B, 1 or C, H, W)`` in [0, 1] -> resized, still in [0, 1]: ``(B, C, h, w)``.

        ``(h, w)`` is :attr:`image_size`; a grayscale image is repeated to the model's channels.
        """
        self._check_input(x)
        x = x.to(device=self.device, dtype=self.mean.dtype)
        if x.shape[1] != self.in_chans:
            x = x.expand(-1, self.in_chans, -1, -1)  # (B, C, H, W) grayscale -> C equal channels
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", antialias=True)
        return x  # (B, C, h, w)

    def normalize(self, pixels: Tensor) -> Tensor:
        """[0, 1] pixels -> the model's input space (per-channel mean and std)."""
        return (pixels - self.mean) / self.std

    def denormalize(self, pixel_values: Tensor) -> Tensor:
        """The model's input space -> [0, 1] pixels (not clamped)."""
        return pixel_values * self.std + self.mean

    def preprocess(self, x: Tensor) -> Tensor:
        """Our images -> ``pixel_values: (B, C, h, w)`` as the transformers model expects them."""
        return self.normalize(self.to_model_pixels(x))

    def _encode(self, x: Tensor, *, output_attentions: bool = False) -> Any:
        """Run the backbone on all patches, in raster order; the transformers output object."""
        pixel_values = self.preprocess(x)  # (B, C, h, w)
        if self.model_type == "dinov2":
            return self.backbone(pixel_values, output_attentions=output_attentions)
        # ViT-MAE shuffles its patches by argsort(noise) before masking: increasing noise keeps
        # raster order, and ratio 0 keeps every patch, so CLS and patch tokens are the full image's.
        batch = pixel_values.shape[0]
        noise = torch.arange(self.num_patches, device=self.device, dtype=torch.float32)
        noise = noise.expand(batch, -1)  # (B, L)
        with mae_mask_ratio(self.backbone, 0.0):
            return self.backbone(
                pixel_values,
                noise=noise,
                interpolate_pos_encoding=self.interpolate_pos_encoding,
                output_attentions=output_attentions,
            )

    # -- the contract --------------------------------------------------------------------------

    def forward_features(self, x: Tensor) -> Tensor:
        """Image embedding ``(B, D)``: the CLS token after the final LayerNorm.

        For DINOv2 this is its pooler output (what DINOv2's kNN / linear evaluations use, less the
        mean patch token their linear probe concatenates). For ViT-MAE it is the encoder's CLS
        with no patch masked, which MAE's linear probe uses too.
        """
        return self._encode(x).last_hidden_state[:, 0]  # (B, D)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)

    def patch_tokens(self, x: Tensor) -> Tensor:
        """Final normed patch tokens ``(B, L, D)`` in raster order, L = :attr:`num_patches`."""
        return self._encode(x).last_hidden_state[:, 1:]  # (B, L, D)

    def get_last_selfattention(self, x: Tensor) -> Tensor:
        """Last layer's attention ``(B, heads, 1 + L, 1 + L)``; rows sum to 1, index 0 is CLS."""
        implementation = getattr(self.backbone.config, "_attn_implementation", None)
        if implementation != "eager":
            raise ValueError(
                f"attention maps need eager attention, but this model uses {implementation!r}; "
                "load it with load_hf_encoder() or from_pretrained(..., "
                "attn_implementation='eager')"
            )
        return self._encode(x, output_attentions=True).attentions[-1]  # (B, heads, 1+L, 1+L)
