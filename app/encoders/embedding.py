"""Features of a point set or of other images under an encoder option, cached.

Features, embeddings and patch tokens come through ``st.cache_data`` keyed on plain values (the
encoder's key and weights stamp, the point set's kind, size, folder and stamp), so a rerun with
the same inputs is answered from memory. The Fashion-MNIST subsets are computed in blocks of
the nested draw, shared by every subset size: moving the size slider computes at most the new
block(s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import streamlit as st
import torch

from app import resources
from app.encoders.options import EncoderOption, load_encoder, option_by_key
from app.encoders.points import DatasetSpec, PointSet, cached_point_set, point_set_key
from ssl_core.data import draw_order, load_fashion_mnist
from ssl_core.eval import extract_features
from ssl_core.images import fit_to, images_to_batch

__all__ = ["embed", "features", "has_patch_tokens", "input_geometry", "model_inputs",
           "patch_tokens"]

RAW_MAX_SIDE = 32  # raw pixels of colour images: 32 x 32 x 3 = 3,072 numbers per image
FEATURE_CHUNK = 500  # Fashion-MNIST test items per cached block of features


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


def _encode(option: EncoderOption, inputs: np.ndarray) -> np.ndarray:
    """The option's features of model inputs (uint8, already in its geometry): ``(N, D)``."""
    feats, _ = extract_features(load_encoder(option),
                                (inputs, np.zeros(len(inputs), dtype=np.int64)), batch_size=256)
    return feats


@st.cache_data(show_spinner="Running the encoder over the images…", max_entries=8)
def _features(key: str, stamp: str, kind: str, n: int, path: str, data_stamp: str) -> np.ndarray:
    option = option_by_key(key)
    return _encode(option, model_inputs(option, cached_point_set(kind, n, path, data_stamp)))


@st.cache_data(show_spinner="Running the encoder over the images…", max_entries=48)
def _fashion_chunk(key: str, stamp: str, chunk: int) -> np.ndarray:
    """Features of the Fashion-MNIST test items ``draw_order[chunk * C : (chunk + 1) * C]``."""
    option = option_by_key(key)
    test = load_fashion_mnist("test", source="bundled")
    idx = draw_order(len(test))[chunk * FEATURE_CHUNK : (chunk + 1) * FEATURE_CHUNK]
    block = PointSet(np.array(test.images[idx]), test.labels[idx].astype(np.int64),
                     tuple(test.classes), "block")
    return _encode(option, model_inputs(option, block))  # (len(idx), D)


def _fashion_features(option: EncoderOption, n: int) -> np.ndarray:
    """Features of the ``n``-item Fashion-MNIST test subset (the point set's order), from
    blocks of the nested draw."""
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
    return _features(option.key, option.stamp, *point_set_key(spec))


@st.cache_data(show_spinner=False, max_entries=32)
def _embed(key: str, stamp: str, inputs: np.ndarray) -> np.ndarray:
    return _encode(option_by_key(key), inputs)


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
    encoder = load_encoder(option_by_key(key))
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
