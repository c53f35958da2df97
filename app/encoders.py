"""The encoders and point sets the representation pages share (embeddings, retrieval, probe).

Encoders (:class:`EncoderOption`, listed by :func:`encoder_options`, one key each):

- ``ckpt:<name>``: every bundled checkpoint (``ssl_core.checkpoints``' catalogue), labelled from
  its config.json (method, backbone, data);
- ``random:<name>``: the same backbone at random initialisation (seed 0): what training added;
- ``raw``: raw pixels (``ssl_core.eval.RawPixels``), the baseline every encoder must beat;
- ``hf:<repo id>``: DINOv2 / ViT-MAE when the local Hugging Face cache holds them (never
  downloaded; ``ssl_core.models.hf.list_local_models``).

Each option says which images it accepts (``size`` x ``size``, 1 or 3 channels; ``None`` for
"the dataset's own", as raw pixels and the transformers models, which resize internally) and
:func:`model_inputs` converts any point set or upload to that (``ssl_core.images``).

Point sets (:class:`DatasetSpec` -> :class:`PointSet`): the bundled Fashion-MNIST test subset,
random crops of the 16 bundled photos (labelled by photo), or an image folder the user names.

Caching: encoders through ``st.cache_resource`` (eval, gradients off, never mutated); point sets,
features, projections and the kNN number through ``st.cache_data`` keyed on plain values (the
encoder's key and checkpoint stamp, the dataset's kind, size, path and stamp), so a rerun with
the same inputs is answered from memory.

Projections: UMAP and t-SNE run in a worker process (:func:`project_features`,
``app.workers``): their numba and Cython loops would otherwise hold the server's GIL, which every
other session's rerun needs, for the whole fit. UMAP's numba kernels take seconds to compile in a
fresh process; the worker compiles them as it starts (:func:`start_umap_warm_up`, called by the
router at start and by the embeddings page), and :func:`wait_for_umap` lets a page wait for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch
from torch import nn

from app import resources, workers
from app.state import Param
from lesson.points import photo_crops
from ssl_core import paths
from ssl_core.checkpoints import (
    CONFIG_FILE,
    CheckpointError,
    checkpoint_info,
    checkpoint_names,
    checkpoint_stamp,
    random_init_encoder,
    read_json,
)
from ssl_core.data import (
    DataError,
    draw_order,
    load_fashion_mnist,
    load_image_folder,
    subset_indices,
)
from ssl_core.eval import RawPixels, extract_features
from ssl_core.images import fit_to, images_to_batch
from ssl_core.methods import METHOD_LABELS

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "EncoderOption",
    "PointSet",
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
    "selected_points",
    "start_umap_warm_up",
    "umap_ready",
    "unavailable_message",
    "wait_for_umap",
]

HF_NAMES = {"facebook/dinov2-small": "DINOv2 ViT-S/14", "facebook/dinov2-base": "DINOv2 ViT-B/14",
            "facebook/vit-mae-base": "ViT-MAE Base/16"}
RAW_MAX_SIDE = 32  # raw pixels of colour images: 32 x 32 x 3 = 3,072 numbers per image
PHOTO_SIDE = 64  # photo crops and folder images are stored at 64 x 64 RGB
RANDOM_SEED = 0  # random-init encoders


# --------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderOption:
    """One entry of the encoder picker.

    ``size``/``channels``: the images it accepts (28 x 28 x 1 for the Fashion-MNIST models);
    None means the dataset's own (raw pixels, transformers models). ``stamp`` names the weights
    (checkpoint path and mtime) so cached features follow a replaced checkpoint.
    """

    key: str
    label: str
    kind: str  # "ssl" | "random" | "raw" | "foundation"
    size: int | None = None
    channels: int | None = None
    stamp: str = ""

    @property
    def accepts(self) -> str:
        """What images it takes, in words."""
        if self.size is None:
            return "any image (resized by the model)" if self.kind == "foundation" else (
                "the dataset's own pixels")
        return f"{self.size} x {self.size} {'gray' if self.channels == 1 else 'RGB'}"


def _checkpoint_options() -> list[EncoderOption]:
    options, random_options, seen_archs = [], [], set()
    for name in checkpoint_names():
        path = paths.checkpoints_dir() / name
        try:
            info = checkpoint_info(path)
        except (CheckpointError, OSError, ValueError):
            options.append(EncoderOption(f"ckpt:{name}", f"{name} (config.json unreadable)",
                                         "ssl", stamp=_stamp(path)))
            continue
        method = METHOD_LABELS.get(info.method, info.method)
        data = (info.data_name or "unknown data").split(",")[0].strip()
        side = info.img_size[0] if info.img_size is not None else None
        options.append(EncoderOption(f"ckpt:{name}", f"{method} · {info.backbone} · {data}",
                                     "ssl", side, info.in_chans, info.stamp))
        arch = json.dumps([info.backbone, info.config.get("backbone_kwargs")], sort_keys=True)
        if side is not None and arch not in seen_archs:
            seen_archs.add(arch)
            random_options.append(EncoderOption(
                f"random:{name}", f"Random init · {info.backbone} (as {name})",
                "random", side, info.in_chans, info.stamp))
    return options + random_options


def _stamp(path: Path) -> str:
    try:
        return checkpoint_stamp(path)
    except OSError:
        return str(path)


@st.cache_data(show_spinner=False, ttl=60)
def _local_hf_models(cache_dir: str) -> list[str]:
    from ssl_core.models.hf import list_local_models

    return list_local_models(cache_dir)


def _hf_cache_dir() -> str:
    from ssl_core.models.hf import hf_hub_cache_dir

    return str(hf_hub_cache_dir())


def encoder_options() -> list[EncoderOption]:
    """Every encoder this machine can offer now: bundled checkpoints, their random-init twins,
    raw pixels, and the transformers models in the local cache."""
    cache = _hf_cache_dir()
    hf = [EncoderOption(f"hf:{repo}", f"{HF_NAMES.get(repo, repo)} (transformers, local cache)",
                        "foundation", stamp=cache) for repo in _local_hf_models(cache)]
    raw = EncoderOption("raw", "Raw pixels (no learning)", "raw")
    return [*_checkpoint_options(), raw, *hf]


def default_encoder(options: Sequence[EncoderOption], preferred: Sequence[str]) -> str:
    """The first of ``preferred`` keys present in ``options``, else the first option's key."""
    keys = [o.key for o in options]
    return next((k for k in preferred if k in keys), keys[0])


def encoder_param(key: str, options: Sequence[EncoderOption], preferred: Sequence[str]) -> Param:
    """The shareable state of ``encoder_picker(key=key)``."""
    return Param(key, default_encoder(options, preferred),
                 options=tuple(o.key for o in options))


def unavailable_message(asked: str, options: Sequence[EncoderOption], shown: str) -> str:
    """Why the encoder ``asked`` for (e.g. by a shared link) is not among ``options``."""
    kind, _, name = asked.partition(":")
    if kind == "hf":
        from ssl_core.models.hf import list_local_models

        if name not in list_local_models(_hf_cache_dir()):
            return (f"{HF_NAMES.get(name, name)} ({name}) is not in this machine's Hugging Face "
                    f"cache ({_hf_cache_dir()}), so it is not offered; showing {shown} instead. "
                    "Nothing is downloaded: copy the model's cache folder here (see "
                    "ssl_core.models.hf) to use it.")
        return f"{HF_NAMES.get(name, name)} is not offered on this page; showing {shown} instead."
    if kind in ("ckpt", "random"):
        return (f"The bundled checkpoint {name!r} is not in {paths.checkpoints_dir()}, so "
                f"{asked!r} is not offered; showing {shown} instead.")
    return f"Encoder {asked!r} is not known here; showing {shown} instead."


def missing_checkpoints_message() -> str:
    """What to say when no bundled checkpoint exists."""
    return (f"No bundled checkpoint in {paths.checkpoints_dir()}: the trained encoders "
            "(SimCLR, DINO, MAE) appear here once assets/checkpoints/<name>/ holds "
            "model.safetensors and config.json (train one with `python3 -m ssl_core.pretrain`). "
            "Raw pixels are offered meanwhile.")


def encoder_picker(*, key: str, options: Sequence[EncoderOption], label: str = "Encoder",
                   explain_missing: bool = True) -> EncoderOption:
    """A selectbox (``key``) over ``options``; returns the chosen :class:`EncoderOption`.

    Says so (``st.info``) when the URL asked for an encoder that is not offered (a link made on
    a machine with DINOv2 in its cache, or with another checkpoint), and, with
    ``explain_missing``, when no bundled checkpoint exists at all.
    """
    by_key = {o.key: o for o in options}
    chosen = st.selectbox(label, list(by_key), key=key, format_func=lambda k: by_key[k].label)
    option = by_key[chosen]
    st.caption(f"Takes {option.accepts}.")
    asked = st.query_params.get(key)
    if asked and asked not in by_key:
        st.info(unavailable_message(asked, options, option.label), icon=":material/info:")
    if explain_missing and not any(o.kind == "ssl" for o in options):
        st.info(missing_checkpoints_message(), icon=":material/info:")
    return option


@st.cache_resource(show_spinner="Building the random-init encoder…")
def _random_encoder(path: str, stamp: str) -> nn.Module:
    encoder = random_init_encoder(read_json(Path(path) / CONFIG_FILE), seed=RANDOM_SEED)
    return encoder.to(resources.device())


@st.cache_resource(show_spinner=False)
def _raw_pixels() -> nn.Module:
    return RawPixels().eval()


@st.cache_resource(show_spinner="Loading the transformers model from the local cache…")
def _hf_encoder(repo_id: str, cache_dir: str, weights: str) -> nn.Module:
    # weights (path, mtime, size of model.safetensors) is part of the cache key: a model
    # re-fetched or cut short in the cache is loaded again rather than served from memory.
    from ssl_core.models.hf import load_hf_encoder

    encoder = load_hf_encoder(repo_id, local_only=True, cache_dir=cache_dir,
                              device=resources.device())
    return encoder.eval().requires_grad_(False)


def load_encoder(option: EncoderOption) -> nn.Module:
    """The option's encoder: loaded once per process, eval mode, shared (never modify it).

    Raises ``CheckpointError`` for an unreadable checkpoint and ``ModelNotAvailableError`` for a
    transformers model that left the cache.
    """
    kind, _, name = option.key.partition(":")
    if kind == "raw":
        return _raw_pixels()
    if kind == "hf":
        from safetensors import SafetensorError

        from ssl_core.models.hf import ModelNotAvailableError

        try:
            from ssl_core.models.hf import weights_stamp

            return _hf_encoder(name, option.stamp, weights_stamp(name, cache_dir=option.stamp))
        except ModelNotAvailableError:
            raise
        except (OSError, RuntimeError, ValueError, SafetensorError) as error:
            raise ModelNotAvailableError(
                f"{HF_NAMES.get(name, name)} ({name}) is in the local cache but could not be "
                f"loaded ({type(error).__name__}: {error}); its files may be truncated: fetch "
                "them again") from error
    path = resources.bundled_checkpoint(name)
    if path is None:
        raise CheckpointError(f"the bundled checkpoint {name!r} is gone from "
                              f"{paths.checkpoints_dir()}; reload the page")
    if kind == "ckpt":
        encoder = resources.load_bundled_encoder(name)
        assert encoder is not None  # bundled_checkpoint(name) was found just above
        return encoder
    try:
        return _random_encoder(str(path), option.stamp)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: cannot rebuild its backbone ({error})") from error


def _option_by_key(key: str) -> EncoderOption:
    for option in encoder_options():
        if option.key == key:
            return option
    raise CheckpointError(f"encoder {key!r} is no longer available; reload the page")


# --------------------------------------------------------------------------------------------
# Point sets
# --------------------------------------------------------------------------------------------

DATASETS = ("fashion", "photos", "folder")
DATASET_LABELS = {"fashion": "Fashion-MNIST (test)", "photos": "Photo crops",
                  "folder": "Image folder"}


@dataclass(frozen=True)
class DatasetSpec:
    """Which points: ``kind`` in :data:`DATASETS`, how many, and the folder for ``"folder"``."""

    kind: str
    n: int
    path: str = ""


@dataclass(frozen=True)
class PointSet:
    """``images``: uint8 ``(N, s, s)`` or ``(N, s, s, 3)``; ``labels (N,)`` int64 (-1 =
    unlabelled); ``classes`` their names; ``name`` says where they came from."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str

    @property
    def labelled(self) -> bool:
        return bool(len(self.labels)) and bool(self.labels.min() >= 0) and len(self.classes) > 1

    def class_name(self, index: int) -> str:
        label = int(self.labels[index])
        return self.classes[label] if 0 <= label < len(self.classes) else "unlabelled"


def _folder_stamp(path: str) -> str:
    folder = Path(path).expanduser()
    try:
        return str(folder.stat().st_mtime_ns)
    except OSError:
        return "missing"


@st.cache_data(show_spinner="Loading the images…", max_entries=8)
def _points(kind: str, n: int, path: str, stamp: str) -> PointSet:
    if kind == "fashion":
        test = load_fashion_mnist("test", source="bundled")
        idx = subset_indices(len(test), n)
        return PointSet(np.array(test.images[idx]), test.labels[idx].astype(np.int64),
                        tuple(test.classes), f"Fashion-MNIST test subset ({len(idx):,} items)")
    if kind == "photos":
        names = resources.photo_names()
        per_photo = math.ceil(n / len(names))
        images, labels, classes = photo_crops({name: resources.photo(name) for name in names},
                                              per_photo=per_photo, size=PHOTO_SIDE, seed=0)
        idx = subset_indices(len(labels), n)
        return PointSet(images[idx], labels[idx], classes,
                        f"{len(idx):,} random crops of the {len(names)} bundled photos")
    if kind == "folder":
        dataset = load_image_folder(Path(path).expanduser(), mode="RGB")
        idx = subset_indices(len(dataset), n)
        images = [dataset[int(i)][0].permute(1, 2, 0).numpy() for i in idx]  # (H, W, 3) each
        return PointSet(fit_to(images, size=PHOTO_SIDE, channels=3),
                        dataset.labels[idx].astype(np.int64), tuple(dataset.classes),
                        f"{len(idx):,} of the {len(dataset):,} images in {path}")
    raise ValueError(f"dataset kind must be one of {DATASETS}; got {kind!r}")


def points(spec: DatasetSpec) -> PointSet:
    """The point set ``spec`` names (cached). Raises ``DataError`` for a bad folder."""
    if spec.kind == "folder" and not spec.path.strip():
        raise DataError("name an image folder first (a path on the machine running the app)")
    path = spec.path.strip() if spec.kind == "folder" else ""
    return _points(spec.kind, int(spec.n), path, _folder_stamp(path) if path else "")


def dataset_params(key: str, *, default_n: int, max_n: int,
                   sizes: tuple[int, ...] | None = None) -> tuple[Param, ...]:
    """The shareable state of ``dataset_picker(key=key)`` (``sizes``: as there)."""
    return (Param(f"{key}_data", "fashion", options=DATASETS),
            Param(f"{key}_n", default_n, lo=50, hi=max_n, choices=sizes),
            Param(f"{key}_folder", ""))


def dataset_picker(*, key: str, max_n: int, step: int = 50,
                   sizes: tuple[int, ...] | None = None) -> DatasetSpec:
    """Widgets ``{key}_data`` (radio), ``{key}_n`` (a slider from 50 to ``max_n`` by ``step``,
    or a select slider over ``sizes``) and ``{key}_folder`` (text input, for an image folder);
    returns the :class:`DatasetSpec`."""
    kind = st.radio("Images", DATASETS, key=f"{key}_data", horizontal=True,
                    format_func=DATASET_LABELS.get)
    if sizes:
        n = st.select_slider("Number of images", sizes, key=f"{key}_n",
                             format_func=lambda size: f"{size:,}")
    else:
        n = st.slider("Number of images", 50, max_n, step=step, key=f"{key}_n")
    path = ""
    if kind == "folder":
        path = st.text_input("Folder on this machine", key=f"{key}_folder",
                             placeholder="/data/my_images (one sub-folder per class, or flat)")
    elif kind == "photos":
        st.caption("Random crops of the 16 bundled photos; a crop's class is its photo.")
    return DatasetSpec(kind, int(n), path)


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def input_geometry(option: EncoderOption, point_set: PointSet) -> tuple[int, int]:
    """(side, channels) of the images ``option``'s encoder gets for ``point_set``."""
    if option.size is not None and option.channels is not None:
        return option.size, option.channels
    side = point_set.images.shape[1]
    channels = 1 if point_set.images.ndim == 3 else 3
    if option.kind == "raw" and channels == 3:
        side = min(side, RAW_MAX_SIDE)
    return side, channels


def model_inputs(option: EncoderOption, point_set: PointSet,
                 images: np.ndarray | Sequence[np.ndarray] | None = None) -> np.ndarray:
    """``images`` (default: the point set's) as the uint8 batch ``option``'s encoder takes."""
    side, channels = input_geometry(option, point_set)
    return fit_to(point_set.images if images is None else images, size=side, channels=channels)


@st.cache_data(show_spinner="Running the encoder over the images…", max_entries=8)
def _features(key: str, stamp: str, kind: str, n: int, path: str, data_stamp: str) -> np.ndarray:
    option = _option_by_key(key)
    point_set = _points(kind, n, path, data_stamp)
    encoder = load_encoder(option)
    inputs = model_inputs(option, point_set)
    feats, _ = extract_features(encoder, (inputs, np.zeros(len(inputs), dtype=np.int64)),
                                batch_size=256)
    return feats  # (N, D)


FEATURE_CHUNK = 500  # Fashion-MNIST test items per cached block of features


@st.cache_data(show_spinner="Running the encoder over the images…", max_entries=48)
def _fashion_chunk(key: str, stamp: str, chunk: int) -> np.ndarray:
    """Features of the Fashion-MNIST test items ``draw_order[chunk * C : (chunk + 1) * C]``."""
    option = _option_by_key(key)
    test = load_fashion_mnist("test", source="bundled")
    idx = draw_order(len(test))[chunk * FEATURE_CHUNK : (chunk + 1) * FEATURE_CHUNK]
    block = PointSet(np.array(test.images[idx]), test.labels[idx].astype(np.int64),
                     tuple(test.classes), "block")
    inputs = model_inputs(option, block)
    feats, _ = extract_features(load_encoder(option), (inputs, np.zeros(len(inputs), np.int64)),
                                batch_size=256)
    return feats  # (len(idx), D)


def _fashion_features(option: EncoderOption, n: int) -> np.ndarray:
    """Features of the ``n``-item Fashion-MNIST test subset (``_points``' order), from blocks of
    the nested draw: moving the gallery-size slider computes at most the new block(s), never
    the whole gallery again, and smaller sizes reuse what is there."""
    total = len(load_fashion_mnist("test", source="bundled"))
    n = min(n, total)
    order = draw_order(total)[:n]
    blocks = [_fashion_chunk(option.key, option.stamp, c)
              for c in range(math.ceil(n / FEATURE_CHUNK))]
    return np.concatenate(blocks)[:n][np.argsort(order, kind="stable")]


def features(option: EncoderOption, spec: DatasetSpec) -> np.ndarray:
    """Features ``(N, D)`` of ``spec``'s point set under ``option`` (cached per encoder, weights,
    dataset and N; the Fashion-MNIST subsets in blocks shared by every N)."""
    if spec.kind == "fashion":
        return _fashion_features(option, int(spec.n))
    path = spec.path.strip() if spec.kind == "folder" else ""
    return _features(option.key, option.stamp, spec.kind, int(spec.n), path,
                     _folder_stamp(path) if path else "")


@st.cache_data(show_spinner=False, max_entries=32)
def _embed(key: str, stamp: str, inputs: np.ndarray) -> np.ndarray:
    encoder = load_encoder(_option_by_key(key))
    feats, _ = extract_features(encoder, (inputs, np.zeros(len(inputs), dtype=np.int64)))
    return feats


def embed(option: EncoderOption, point_set: PointSet,
          images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Features ``(N, D)`` of other images (an upload, a query) comparable with
    ``features(option, spec)``: converted to the same geometry as the point set's images."""
    return _embed(option.key, option.stamp, model_inputs(option, point_set, images))


def has_patch_tokens(option: EncoderOption) -> bool:
    """Whether the option's encoder is a ViT with ``patch_tokens`` (heat maps need them)."""
    return callable(getattr(load_encoder(option), "patch_tokens", None))


@st.cache_data(show_spinner=False, max_entries=32)
def _patch_tokens(key: str, stamp: str, inputs: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    encoder = load_encoder(_option_by_key(key))
    x = images_to_batch(inputs).to(resources.device())  # (N, C, H, W) in [0, 1]
    with torch.inference_mode():
        tokens = encoder.patch_tokens(x)  # (N, L, D)
        grid = tuple(int(g) for g in encoder.input_grid(x))
    return tokens.float().cpu().numpy(), grid  # type: ignore[return-value]


def patch_tokens(option: EncoderOption, point_set: PointSet,
                 images: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, tuple[int, int]]:
    """Final patch tokens ``(N, L, D)`` of ``images`` and the patch grid ``(h, w)``, for a ViT
    option (see :func:`has_patch_tokens`)."""
    return _patch_tokens(option.key, option.stamp, model_inputs(option, point_set, images))


# --------------------------------------------------------------------------------------------
# Chart selections
# --------------------------------------------------------------------------------------------


def selected_points(event: Any, groups: Sequence[np.ndarray]) -> list[int]:
    """Indices of the points selected in a scatter drawn one trace per group.

    ``event``: what ``st.plotly_chart(..., on_select="rerun")`` returned; ``groups[c]``: the
    point-set indices of trace ``c``, in trace order. Points of other traces are ignored.
    """
    try:
        chosen = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    out: list[int] = []
    for point in chosen or []:
        curve, index = point.get("curve_number"), point.get("point_index")
        if curve is None or index is None or not 0 <= curve < len(groups):
            continue
        if 0 <= index < len(groups[curve]):
            out.append(int(groups[curve][index]))
    return list(dict.fromkeys(out))  # de-duplicated, first-selected first


# --------------------------------------------------------------------------------------------
# UMAP warm-up
# --------------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def projection_pool() -> workers.WorkerPool:
    """The process's projection worker: UMAP and t-SNE run there, off the server's GIL
    (``app.workers``); it compiles UMAP's numba kernels as it starts."""
    from ssl_core.eval.projection import warm_up_umap

    return workers.WorkerPool(1, warm_up=warm_up_umap)


def start_umap_warm_up() -> None:
    """Start the projection worker, which compiles UMAP (once per process; later calls do
    nothing)."""
    projection_pool().warm_up_future()


def umap_ready() -> bool:
    """True once the projection worker has compiled UMAP."""
    return projection_pool().warm_up_future().done()


def wait_for_umap(timeout: float | None = None) -> bool:
    """Wait for the projection worker's warm-up; True when it is ready, False when it is still
    compiling after ``timeout`` or failed (the projection itself then says why)."""
    try:
        projection_pool().warm_up_future().result(timeout)
    except Exception:  # a timeout, or a worker that could not start: reported by the projection
        return False
    return True


def project_features(feats: np.ndarray, method: str, **kwargs: Any) -> np.ndarray:
    """``ssl_core.eval.projection.project(feats, method, **kwargs)``; UMAP and t-SNE in the
    worker (their numba and Cython loops would hold the server's GIL for the whole fit), PCA
    here. Errors (a ValueError for bad arguments) are raised here."""
    from ssl_core.eval.projection import project

    if method == "pca":
        return project(feats, method, **kwargs)
    return projection_pool().run(project, feats, method, **kwargs)
