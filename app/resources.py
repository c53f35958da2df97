"""Cached loaders shared by every page: the device, bundled images and data, bundled encoders.

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

from ssl_core.data import ASSETS_DIR, ArrayImageDataset, list_photos, load_fashion_mnist, load_photo

CHECKPOINTS_DIR = ASSETS_DIR / "checkpoints"
"""Bundled checkpoints: ``assets/checkpoints/<name>/`` with model.safetensors + config.json."""

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
    """``assets/checkpoints/<name>`` if it holds weights, else None."""
    path = CHECKPOINTS_DIR / name
    return path if (path / "model.safetensors").is_file() else None


@st.cache_resource(show_spinner="Loading the bundled encoder…")
def _load_encoder(path: str, mtime_ns: int) -> torch.nn.Module:
    # mtime is part of the cache key so that a replaced checkpoint is loaded again.
    from ssl_core.checkpoints import load_encoder

    encoder = load_encoder(path, device=device())
    encoder.eval().requires_grad_(False)
    return encoder


def load_bundled_encoder(name: str) -> torch.nn.Module | None:
    """The encoder of the bundled ``name`` checkpoint (e.g. "simclr"), or None if not bundled.

    Loaded once per process, in eval mode with gradients off, on :func:`device`; shared by every
    session, so callers must not modify it. Raises ``ssl_core.checkpoints.CheckpointError`` when
    the checkpoint exists but cannot be read.
    """
    path = bundled_checkpoint(name)
    if path is None:
        return None
    encoder = _load_encoder(str(path), (path / "model.safetensors").stat().st_mtime_ns)
    n_params = sum(p.numel() for p in encoder.parameters())
    _loaded_models().add(name, f"{type(encoder).__name__}, {n_params / 1e6:.2f} M parameters")
    return encoder


@st.cache_resource(show_spinner="Loading the bundled model…")
def _load_method(path: str, mtime_ns: int) -> torch.nn.Module:
    # mtime is part of the cache key so that a replaced checkpoint is loaded again.
    from ssl_core.checkpoints import load_method

    method = load_method(path, device=device())
    method.eval().requires_grad_(False)
    return method


def load_bundled_method(name: str) -> torch.nn.Module | None:
    """The whole method of the bundled ``name`` checkpoint (e.g. "mae", with its decoder), or
    None if not bundled.

    As :func:`load_bundled_encoder`: loaded once per process, eval mode, gradients off, on
    :func:`device`, shared by every session (do not modify it); a checkpoint that exists but
    cannot be read raises ``ssl_core.checkpoints.CheckpointError``.
    """
    path = bundled_checkpoint(name)
    if path is None:
        return None
    method = _load_method(str(path), (path / "model.safetensors").stat().st_mtime_ns)
    n_params = sum(p.numel() for p in method.parameters())
    _loaded_models().add(name, f"{type(method).__name__}, {n_params / 1e6:.2f} M parameters")
    return method
