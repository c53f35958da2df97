"""Cached loaders shared by every page: the device, bundled images and data, bundled encoders,
and the transformers models of the local Hugging Face cache.

Models are loaded once per process with ``st.cache_resource``, put in eval mode with gradients
off, and never mutated (every session and thread shares them). Arrays come through
``st.cache_data``, which hands each caller its own copy.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from ssl_core.checkpoints import checkpoint_stamp, find_checkpoint
from ssl_core.data import ArrayImageDataset, list_photos, load_fashion_mnist, load_photo

DEFAULT_PHOTO = "astronaut"


@st.cache_resource
def device() -> torch.device:
    """The device models run on: the first CUDA device if there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@st.cache_data(show_spinner=False)
def photo_names() -> list[str]:
    """Names of the bundled photos (``assets/images``), sorted."""
    return list_photos()


@st.cache_data(show_spinner=False, max_entries=32)
def photo(name: str) -> np.ndarray:
    """A bundled photo as uint8 ``(H, W, 3)``."""
    return load_photo(name)


@st.cache_resource(show_spinner=False)
def fashion_mnist() -> ArrayImageDataset:
    """The bundled Fashion-MNIST training subset (20,000 images); its arrays are read-only."""
    return load_fashion_mnist("train", source="bundled")


def fashion_item(index: int) -> tuple[np.ndarray, str]:
    """Fashion-MNIST training item ``index``: uint8 ``(28, 28)`` and its class name."""
    dataset = fashion_mnist()
    label = int(dataset.labels[index])
    return np.array(dataset.images[index]), dataset.classes[label]


# --- bundled encoders ------------------------------------------------------------------------


class _LoadedModels:
    """Names and descriptions of the models this process has loaded (for the sidebar)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, str] = {}

    def add(self, name: str, description: str) -> None:
        with self._lock:
            self._models[name] = description

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._models.items())


@st.cache_resource
def _loaded_models() -> _LoadedModels:
    return _LoadedModels()


def loaded_models() -> list[tuple[str, str]]:
    """``(name, description)`` of every model loaded in this process so far."""
    return _loaded_models().items()


def bundled_checkpoint(name: str) -> Path | None:
    """The bundled checkpoint directory ``name`` if it holds weights, else None."""
    return find_checkpoint(name)


@st.cache_resource(show_spinner="Loading the bundled model…")
def _load(path: str, stamp: str, part: str) -> torch.nn.Module:
    # the stamp (the weights' mtime) is part of the cache key: a replaced checkpoint is reloaded
    from ssl_core.checkpoints import load_encoder, load_method

    model = (load_encoder if part == "encoder" else load_method)(path, device=device())
    return model.eval().requires_grad_(False)


def _bundled(name: str, part: str) -> torch.nn.Module | None:
    path = bundled_checkpoint(name)
    if path is None:
        return None
    model = _load(str(path), checkpoint_stamp(path), part)
    n_params = sum(p.numel() for p in model.parameters())
    _loaded_models().add(name, f"{type(model).__name__}, {n_params / 1e6:.2f} M parameters")
    return model


def load_bundled_encoder(name: str) -> torch.nn.Module | None:
    """The encoder of the bundled ``name`` checkpoint (e.g. "simclr"), or None if not bundled.

    Loaded once per process, in eval mode with gradients off, on :func:`device`; shared by every
    session, so callers must not modify it. Raises ``ssl_core.checkpoints.CheckpointError`` when
    the checkpoint exists but cannot be read.
    """
    return _bundled(name, "encoder")


def load_bundled_method(name: str) -> torch.nn.Module | None:
    """The whole method of the bundled ``name`` checkpoint (e.g. "mae", with its decoder), or
    None if not bundled; loaded, shared and failing as :func:`load_bundled_encoder`."""
    return _bundled(name, "method")


# --- transformers models from the local Hugging Face cache ---------------------------------------

HF_NAMES = {"facebook/dinov2-small": "DINOv2 ViT-S/14", "facebook/dinov2-base": "DINOv2 ViT-B/14",
            "facebook/vit-mae-base": "ViT-MAE Base/16"}


def hf_name(repo_id: str) -> str:
    """How people call a hub model (``DINOv2 ViT-S/14``), else its repo id."""
    return HF_NAMES.get(repo_id, repo_id)


def hf_cache_dir() -> str:
    """The Hugging Face hub cache this process reads (``HF_HUB_CACHE`` and friends)."""
    from ssl_core.models.hf import hf_hub_cache_dir

    return str(hf_hub_cache_dir())


@st.cache_data(show_spinner=False, ttl=60)
def _local_hf_models(cache_dir: str) -> list[str]:
    from ssl_core.models.hf import list_local_models

    return list_local_models(cache_dir)


def local_hf_models() -> list[str]:
    """Repo ids of the transformers models the local cache holds (the disk only, no network;
    re-read at most every minute)."""
    return _local_hf_models(hf_cache_dir())


@st.cache_resource(show_spinner="Loading the transformers model from the local cache…")
def _hf_encoder(repo_id: str, cache_dir: str, weights: str) -> torch.nn.Module:
    # weights (path, mtime, size of model.safetensors) is part of the cache key: a model
    # re-fetched or cut short in the cache is loaded again rather than served from memory.
    from ssl_core.models.hf import load_hf_encoder

    encoder = load_hf_encoder(repo_id, local_only=True, cache_dir=cache_dir, device=device())
    return encoder.eval().requires_grad_(False)


def hf_encoder(repo_id: str) -> torch.nn.Module:
    """A transformers model from the local cache, loaded once per process, eval mode, shared.

    Raises ``ssl_core.models.hf.ModelNotAvailableError`` when it is not in the cache, or is but
    cannot be loaded (a truncated download): the message says to fetch it again.
    """
    from safetensors import SafetensorError

    from ssl_core.models.hf import ModelNotAvailableError, weights_stamp

    cache = hf_cache_dir()
    try:
        return _hf_encoder(repo_id, cache, weights_stamp(repo_id, cache_dir=cache))
    except ModelNotAvailableError:
        raise
    except (OSError, RuntimeError, ValueError, SafetensorError) as error:
        raise ModelNotAvailableError(
            f"{hf_name(repo_id)} ({repo_id}) is in the local cache but could not be loaded "
            f"({type(error).__name__}: {error}); its files may be truncated: fetch them again"
        ) from error
