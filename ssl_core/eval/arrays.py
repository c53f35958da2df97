"""Checked inputs of the maths on features: float32 feature matrices, labels, the device.

Every function of :mod:`ssl_core.eval` that takes features or labels passes them through here,
so that a wrong shape, a NaN or an unlabelled item (-1) fails with the same message everywhere.
Features may be numpy arrays or tensors; the maths runs in torch on :func:`maths_device`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ArrayLike",
    "as_features",
    "as_labels",
    "check_positive_int",
    "default_device",
    "maths_device",
    "writable_float32",
]

ArrayLike = np.ndarray | Tensor


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def writable_float32(x: Any) -> np.ndarray:
    """``x`` as a float32 numpy array that torch may wrap (copied only if read-only or cast)."""
    array = np.asarray(x, dtype=np.float32)
    return array if array.flags.writeable else array.copy()


def as_features(x: ArrayLike, name: str, device: torch.device) -> Tensor:
    """A finite float32 ``(N, D)`` tensor on ``device``."""
    t = x.detach() if isinstance(x, Tensor) else torch.from_numpy(writable_float32(x))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D); got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    t = t.to(device=device, dtype=torch.float32)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf; check the encoder's outputs")
    return t


def as_labels(y: ArrayLike, name: str, n: int) -> np.ndarray:
    """Non-negative int64 labels ``(n,)`` as numpy."""
    labels = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the features; got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be integers; got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"{name} contains negative values (e.g. -1 = unlabelled); drop those items first"
        )
    return labels.astype(np.int64)


def maths_device(device: str | torch.device | None, *inputs: ArrayLike) -> torch.device:
    """``device`` when given, else the device of the first tensor input, else the default."""
    if device is not None:
        return torch.device(device)
    for x in inputs:
        if isinstance(x, Tensor):
            return x.device
    return default_device()


def check_positive_int(value: int, name: str) -> None:
    """ValueError naming ``name`` unless ``value`` is an int (not a bool) >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


