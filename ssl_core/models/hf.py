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
returns the masked input, the reconstruction and the per-patch error, for the MAE page.

Weights are never downloaded unless asked for (``local_only=False``), and only safetensors are
loaded (a pickled ``pytorch_model.bin`` can run code when unpickled). With no weights on disk the
loader raises :class:`ModelNotAvailableError` at once, saying where it looked and how to get them;
it never waits on the network. transformers and huggingface_hub are imported on first use, so
``import ssl_core.models.hf`` stays cheap and works without the ``hf`` extra.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
]

# The hub models the app offers, in the order its picker lists them.
KNOWN_MODELS: tuple[str, ...] = (
    "facebook/dinov2-small",  # ViT-S/14, 22M parameters, D = 384: the quick one on a CPU
    "facebook/dinov2-base",  # ViT-B/14, 86M parameters, D = 768
    "facebook/vit-mae-base",  # ViT-B/16 encoder + 8-layer decoder, D = 768; reconstructs pixels
)

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
_PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_MODEL_CLASSES = {"Dinov2Model", "ViTMAEModel", "ViTMAEForPreTraining"}
_HUB_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")
# Grey of the masked patches in ``mae_reconstruct``'s masked input, as in the MAE paper's figures.
_MASK_FILL = 0.5

# ViT-MAE reads its mask ratio from its config inside forward; feature extraction needs 0 and the
# reconstruction a user-chosen ratio. They set it for the duration of one forward pass under this
# lock, so a model shared between threads (the app's st.cache_resource) is never seen half-set.
_MASK_RATIO_LOCK = threading.Lock()


class ModelNotAvailableError(FileNotFoundError):
    """The weights asked for are not on this machine (or not as safetensors); none were fetched."""


# ----------------------------------------------------------------------------------------------
# Finding the weights on disk
# ----------------------------------------------------------------------------------------------


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment now (not at import time).

    Same precedence as huggingface_hub: ``HF_HUB_CACHE``, then ``HF_HOME/hub``, then
    ``$XDG_CACHE_HOME/huggingface/hub``, then ``~/.cache/huggingface/hub``. huggingface_hub freezes
    these at its import; reading them per call lets a process (or a test) point elsewhere later.
    """
    env = os.environ
    hub_cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if hub_cache:
        return Path(hub_cache).expanduser()
    hf_home = env.get("HF_HOME")
    if not hf_home:
        xdg = env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        hf_home = os.path.join(xdg, "huggingface")
    return Path(hf_home).expanduser() / "hub"


def _cached_snapshot(repo_id: str, cache_dir: Path) -> Path | None:
    """The cached snapshot folder of ``repo_id``'s main revision that holds its config, or None."""
    if not cache_dir.is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache  # filesystem only, never the network

    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir)
    return Path(found).parent if isinstance(found, str) else None


def _has_any(directory: Path, names: tuple[str, ...]) -> bool:
    return any((directory / name).is_file() for name in names)


def _check_model_dir(directory: Path, *, what: str) -> Path:
    """``directory`` if it holds a config and safetensors weights; else say what is missing."""
    if not (directory / "config.json").is_file():
        raise ModelNotAvailableError(
            f"{what} has no config.json, so it is not a saved transformers model. Save one with "
            "model.save_pretrained(DIR), or pass a hub id such as 'facebook/dinov2-small'."
        )
    if _has_any(directory, _SAFETENSORS_FILES):
        return directory
    if _has_any(directory, _PICKLE_FILES):
        raise ModelNotAvailableError(
            f"{what} holds only pickled weights (pytorch_model.bin); SSL Explorer loads "
            "safetensors only, because unpickling a file can run arbitrary code. Get the "
            "model.safetensors file of the same model (e.g. `hf download REPO_ID --include "
            "'*.safetensors' '*.json'`), or convert once in a trusted environment with "
            "Model.from_pretrained(DIR).save_pretrained(NEW_DIR)."
        )
    raise ModelNotAvailableError(
        f"{what} has a config.json but no model.safetensors (or model.safetensors.index.json)."
    )


def _how_to_get(repo_id: str) -> str:
    return (
        f"To get it: on a machine with internet run `hf download {repo_id} --include '*.json' "
        "'*.safetensors'` (older huggingface_hub: `huggingface-cli download ...`) and copy the "
        "cache folder here (point HF_HOME or HF_HUB_CACHE at it); or add `--local-dir DIR` and "
        "pass DIR instead of the id; or allow a download now with local_only=False."
    )


def resolve_model_dir(
    name_or_path: str | os.PathLike[str],
    *,
    local_only: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The local folder to load ``name_or_path`` from: the directory itself, or the hub snapshot.

    A path to an existing directory is used as is. Anything else is read as a hub id and looked up
    in the Hugging Face cache (``cache_dir``, default :func:`hf_hub_cache_dir`); with
    ``local_only=False`` a missing model is downloaded there first (json and safetensors files
    only). Raises :class:`ModelNotAvailableError` naming what was looked for and how to get it;
    with ``local_only=True`` nothing touches the network, so this fails in milliseconds.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return _check_model_dir(path, what=f"directory {str(path)!r}")
    if not _HUB_ID.match(text) or text.startswith((".", "~")):
        raise ModelNotAvailableError(
            f"no directory {text!r} (resolved to {str(path.absolute())!r}); pass a folder holding "
            "config.json and model.safetensors, or a hub id such as 'facebook/dinov2-small'."
        )
    cache = Path(cache_dir).expanduser() if cache_dir is not None else hf_hub_cache_dir()
    snapshot = _cached_snapshot(text, cache)
    if snapshot is None and not local_only:
        snapshot = _download(text, cache)
    if snapshot is None:
        raise ModelNotAvailableError(
            f"{text!r} is neither a local directory nor in the Hugging Face cache at "
            f"{str(cache)!r} (looked for the config.json and model.safetensors of the repo's main "
            f"revision; no download was tried because local_only=True). {_how_to_get(text)}"
        )
    return _check_model_dir(snapshot, what=f"cached hub model {text!r} at {str(snapshot)!r}")


def _download(repo_id: str, cache: Path) -> Path:
    """Fetch ``repo_id``'s json and safetensors files into ``cache``; only with local_only=False."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id,
            cache_dir=cache,
            allow_patterns=["*.json", "*.safetensors"],
        )
    except Exception as exc:  # network down, unknown repo, gated repo, disk full, ...
        raise ModelNotAvailableError(
            f"could not download {repo_id!r} into {str(cache)!r}: {exc}. {_how_to_get(repo_id)}"
        ) from exc
    return Path(folder)


def list_local_models(cache_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Which of :data:`KNOWN_MODELS` the local hub cache holds with safetensors weights.

    For the app's picker ("DINOv2 when present locally"): reads the filesystem only, no network.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else hf_hub_cache_dir()
    present = []
    for repo_id in KNOWN_MODELS:
        snapshot = _cached_snapshot(repo_id, cache)
        if snapshot is not None and _has_any(snapshot, _SAFETENSORS_FILES):
            present.append(repo_id)
    return present


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


def weights_stamp(
    name_or_path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
) -> str:
    """A string that changes when the local weights of ``name_or_path`` change: the resolved
    folder and its model.safetensors' mtime and size ("missing" when not on this machine). For
    cache keys, so that a model re-fetched (or cut short) in the cache is loaded again."""
    try:
        directory = resolve_model_dir(name_or_path, local_only=True, cache_dir=cache_dir)
    except (ModelNotAvailableError, ValueError, OSError):
        return "missing"
    weights = directory / "model.safetensors"
    try:
        stat = weights.stat()
    except OSError:
        return str(directory)
    return f"{directory}:{stat.st_mtime_ns}:{stat.st_size}"


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


# ----------------------------------------------------------------------------------------------
# The encoder
# ----------------------------------------------------------------------------------------------


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
def _mask_ratio(vit: nn.Module, ratio: float) -> Iterator[None]:
    """Let a ViT-MAE encoder mask ``ratio`` of the patches for one forward pass, then restore."""
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
        self._interpolate = self.image_size != native
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
        with _mask_ratio(self.backbone, 0.0):
            return self.backbone(
                pixel_values,
                noise=noise,
                interpolate_pos_encoding=self._interpolate,
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


# ----------------------------------------------------------------------------------------------
# ViT-MAE reconstruction
# ----------------------------------------------------------------------------------------------


def _visible_count(num_patches: int, mask_ratio: float) -> int:
    """Patches ViT-MAE keeps: ``int(L * (1 - mask_ratio))``, its own rounding."""
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1); got {mask_ratio}")
    keep = int(num_patches * (1 - mask_ratio))
    if keep < 1:
        raise ValueError(
            f"mask_ratio must leave at least one visible patch; got {mask_ratio} for "
            f"{num_patches} patches"
        )
    if keep == num_patches:
        raise ValueError(
            f"mask_ratio {mask_ratio} masks no patch of {num_patches}; use at least "
            f"{1 / num_patches:.3g}"
        )
    return keep


@torch.no_grad()
def mae_reconstruct(
    model_or_encoder: nn.Module,
    images: Tensor,
    *,
    mask_ratio: float = 0.75,
    seed: int = 0,
) -> dict[str, Tensor]:
    """ViT-MAE's reconstruction of ``images`` with a seeded random mask.

    ``model_or_encoder``: an :class:`HFEncoder` loaded from a checkpoint with the decoder
    (``facebook/vit-mae-base``), or a transformers ``ViTMAEForPreTraining`` (then wrapped with the
    default preprocessing). ``images: (B, 1 or C, H, W)`` in [0, 1], resized to the encoder's size.

    The model keeps ``int(L * (1 - mask_ratio))`` patches and masks the rest (12 of 16 at 0.75);
    which ones comes from ``seed`` alone, so the same seed gives the same mask for every image size
    and device. Returns, with ``(h, w)`` the encoder's image size and ``L`` its patch count:

    - ``masked_input: (B, C, h, w)`` in [0, 1]: the input with masked patches grey.
    - ``reconstruction: (B, C, h, w)`` in [0, 1] (clamped): the decoder's prediction everywhere.
    - ``reconstruction_with_visible: (B, C, h, w)``: the input where visible, the prediction where
      masked (the MAE paper's figures).
    - ``mask: (B, L)`` bool, True where masked, patches in raster order.
    - ``per_patch_error: (B, L)``: mean squared error of each patch in the model's loss space
      (normalised pixels; per-patch normalised too when ``norm_pix_loss``). Its mean over masked
      patches is ``loss``, the model's own training loss for this mask.

    With ``norm_pix_loss`` (the config flag of MAE's best checkpoints) the decoder predicts each
    patch normalised to zero mean and unit variance, so its raw output has no brightness or
    contrast. For display we de-normalise each predicted patch with the TRUE mean and std of that
    patch of the input, as MAE's own visualisations do: the masked patches then show the model's
    predicted structure, but their average colour and contrast come from the hidden image (one
    could use the visible patches' statistics instead, which leaks nothing and looks blotchier).
    """
    encoder = (
        model_or_encoder if isinstance(model_or_encoder, HFEncoder) else HFEncoder(model_or_encoder)
    )
    if not encoder.has_decoder:
        raise ValueError(
            f"mae_reconstruct needs a ViT-MAE saved with its decoder (ViTMAEForPreTraining, e.g. "
            f"facebook/vit-mae-base); {encoder.source!r} is a {type(encoder.model).__name__}"
        )
    model = encoder.model
    _visible_count(encoder.num_patches, mask_ratio)  # validates before any work

    pixels = encoder.to_model_pixels(images)  # (B, C, h, w) in [0, 1]
    pixel_values = encoder.normalize(pixels)  # (B, C, h, w)
    batch = pixels.shape[0]
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(batch, encoder.num_patches, generator=generator)  # (B, L), on the CPU
    with _mask_ratio(encoder.backbone, mask_ratio):
        out = model(
            pixel_values,
            noise=noise.to(encoder.device),
            interpolate_pos_encoding=encoder._interpolate,
        )
    mask = out.mask.bool()  # (B, L), True = masked; L - keep per row

    target = model.patchify(pixel_values, interpolate_pos_encoding=encoder._interpolate)
    prediction = out.logits  # (B, L, p*p*C) in the loss space
    if model.config.norm_pix_loss:
        patch_mean = target.mean(dim=-1, keepdim=True)  # (B, L, 1)
        patch_std = (target.var(dim=-1, keepdim=True) + 1.0e-6) ** 0.5  # (B, L, 1), as the loss
        per_patch_error = ((prediction - (target - patch_mean) / patch_std) ** 2).mean(dim=-1)
        prediction = prediction * patch_std + patch_mean  # (B, L, p*p*C) normalised pixels
    else:
        per_patch_error = ((prediction - target) ** 2).mean(dim=-1)  # (B, L)

    size = encoder.image_size
    reconstruction = encoder.denormalize(model.unpatchify(prediction, size)).clamp(0, 1)
    patch_values = model.config.patch_size**2 * model.config.num_channels
    mask_image = model.unpatchify(mask[..., None].expand(-1, -1, patch_values).to(pixels), size)
    # mask_image: (B, C, h, w), 1 on masked pixels
    return {
        "masked_input": pixels * (1 - mask_image) + _MASK_FILL * mask_image,
        "reconstruction": reconstruction,
        "reconstruction_with_visible": pixels * (1 - mask_image) + reconstruction * mask_image,
        "mask": mask,
        "per_patch_error": per_patch_error,
        "loss": out.loss,
    }
