"""Frozen encoders run over a dataset: ``(features (N, D), labels (N,))``, and raw pixels.

Everything in :mod:`ssl_core.eval` works for any encoder behind one contract,
``encoder.forward_features(x: (B, C, H, W) float) -> (B, D)``: ssl_core's ViT / CNN / U-Net
encoders, the transformers adapters, and :class:`RawPixels`, which flattens the image so that
the same pipeline gives the raw-pixel baseline every table should show.

Inputs. Encoders are trained on images scaled to [0, 1]: uint8 images are divided by 255
(:func:`ssl_core.images.to_float_batch`), float images are used as they are, and any further
normalisation (mean/std, resizing for a pretrained transformers model) is the ``transform``
argument, applied to the float batch.

Devices. :func:`extract_features` never moves the caller's module: a model shared across
threads (a server's cached one) would race on a temporary ``encoder.to(device)``. Features are
computed where the encoder's weights live; put the encoder on the GPU yourself to use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ssl_core.eval.arrays import default_device
from ssl_core.images import to_float_batch

__all__ = ["ProgressCallback", "RawPixels", "extract_features", "weights_fingerprint"]

ProgressCallback = Callable[[int, int], None]


class RawPixels(nn.Module):
    """The raw-pixel "encoder": ``forward_features(x: (B, C, H, W)) -> (B, C * H * W)``.

    It has no parameters; run it through :func:`extract_features` and the kNN / probe functions to
    get the pixel baselines that a learned encoder has to beat.
    """

    def forward_features(self, x: Tensor) -> Tensor:
        """Flatten each image into one vector."""
        return x.flatten(1)  # (B, C * H * W)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)


def _module_device(module: nn.Module) -> torch.device | None:
    """The device of the module's first parameter or buffer, or None if it has neither."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return None


def _resolve_encoder_device(encoder: nn.Module, device: str | torch.device | None) -> torch.device:
    """Where to run ``encoder``: where its weights are; ``device`` may only confirm that."""
    home = _module_device(encoder)
    if device is None:
        return home if home is not None else default_device()
    wanted = torch.device(device)
    if home is not None and (home.type, home.index or 0) != (wanted.type, wanted.index or 0):
        raise ValueError(
            f"the encoder's weights are on {home} but device={wanted} was requested; "
            "extract_features does not move the caller's module (it may be shared), so move it "
            f"yourself with encoder.to({str(wanted)!r}) or pass device=None"
        )
    return wanted


def _collate(samples: list[Any]) -> tuple[Tensor, Tensor]:
    """Stack ``(image, label)`` samples into ``(images (B, ...), labels (B,))``."""
    images, labels = [], []
    for sample in samples:
        if not isinstance(sample, tuple | list) or len(sample) != 2:
            raise ValueError(
                "a dataset passed to extract_features must yield (image, label) pairs; got "
                f"{type(sample).__name__}"
            )
        image, label = sample
        if isinstance(image, np.ndarray):
            image = torch.from_numpy(np.array(image))  # a copy: the array may be read-only
        if not isinstance(image, Tensor):
            raise ValueError(
                f"dataset images must be tensors (C, H, W) or (H, W); got {type(image).__name__} "
                "(give the dataset a transform such as torchvision.transforms.v2.PILToTensor())"
            )
        images.append(image)
        labels.append(int(label))
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise ValueError(
            f"dataset images in one batch have different shapes {sorted(shapes)}; give the "
            "dataset a transform that resizes them (e.g. v2.Resize(s) then v2.CenterCrop(s))"
        )
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def _batches(
    data: Any, *, batch_size: int, num_workers: int, pin_memory: bool
) -> tuple[int, Iterator[tuple[Tensor, Tensor]]]:
    """``(N, iterator over (images, labels) batches)`` for a dataset or an ``(images, labels)``."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(
                f"data given as a tuple must be (images, labels); got a tuple of length {len(data)}"
            )
        images, labels = data
        labels = torch.from_numpy(np.array(labels, dtype=np.int64))
        if not isinstance(images, np.ndarray | Tensor) or images.ndim not in (3, 4):
            raise ValueError(
                "images must be an array or tensor (N, C, H, W) or (N, H, W); got "
                f"{getattr(images, 'shape', type(images).__name__)}"
            )
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must have shape ({images.shape[0]},) to match {images.shape[0]} images; "
                f"got {tuple(labels.shape)}"
            )
        n = images.shape[0]

        def array_batches() -> Iterator[tuple[Tensor, Tensor]]:
            for start in range(0, n, batch_size):
                batch = images[start : start + batch_size]
                if isinstance(batch, np.ndarray):  # copy: the array may be read-only (a memmap)
                    batch = torch.from_numpy(np.array(batch))
                yield batch, labels[start : start + batch_size]

        return n, array_batches()
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise ValueError(
            "data must be a map-style dataset yielding (image, label) or a tuple "
            f"(images, labels); got {type(data).__name__}"
        )
    loader = DataLoader(
        data,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
    )
    return len(data), iter(loader)


def extract_features(
    encoder: nn.Module,
    data: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    num_workers: int = 0,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a frozen encoder over ``data``: ``(features (N, D) float32, labels (N,) int64)``.

    Args:
        encoder: any module with ``forward_features(x: (B, C, H, W) float) -> (B, D)``.
        data: a map-style dataset yielding ``(image, label)`` with ``image`` a tensor ``(C, H, W)``
            or ``(H, W)`` (uint8 like ``ssl_core.data``'s datasets, or float), or a tuple
            ``(images, labels)`` with ``images`` an array/tensor ``(N, C, H, W)`` or ``(N, H, W)``.
            uint8 images are scaled to ``[0, 1]`` (the range the encoders are trained on); float
            images are used as they are.
        batch_size: images per forward pass; the last batch may be smaller.
        device: where to run. None means where the encoder's weights are (CUDA if available for a
            parameter-free encoder such as :class:`RawPixels`). The encoder is never moved: a
            ``device`` that differs from its weights' device raises ValueError.
        transform: applied to each float batch ``(B, C, H, W)`` on ``device`` before the encoder,
            e.g. ``torchvision.transforms.v2.Normalize(mean, std)`` or a resize.
        num_workers: DataLoader workers for a dataset (ignored for the tuple form).
        progress: called as ``progress(done, total)`` after each batch (e.g. for a progress bar).

    The encoder runs under ``torch.inference_mode`` in eval mode; every submodule's training flag
    is restored afterwards, also when the encoder raises.
    """
    if not callable(getattr(encoder, "forward_features", None)):
        raise ValueError(
            f"{type(encoder).__name__} has no forward_features method; encoders must implement "
            "forward_features(x: (B, C, H, W)) -> (B, D) (wrap other models in a small adapter)"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    run_device = _resolve_encoder_device(encoder, device)
    total, batches = _batches(
        data, batch_size=batch_size, num_workers=num_workers, pin_memory=run_device.type == "cuda"
    )
    if total == 0:
        raise ValueError("data is empty; there is nothing to extract features from")

    modes = {module: module.training for module in encoder.modules()}
    features: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    done = 0
    encoder.eval()
    try:
        with torch.inference_mode():
            for images, batch_labels in batches:
                x = to_float_batch(images.to(run_device, non_blocking=True))  # (B, C, H, W)
                if transform is not None:
                    x = transform(x)
                z = encoder.forward_features(x)  # (B, D)
                if z.ndim != 2 or z.shape[0] != x.shape[0]:
                    raise ValueError(
                        f"{type(encoder).__name__}.forward_features must return (B, D) = "
                        f"({x.shape[0]}, D); got {tuple(z.shape)}"
                    )
                features.append(z.float().cpu().numpy())
                labels.append(batch_labels.cpu().numpy().astype(np.int64))
                done += x.shape[0]
                if progress is not None:
                    progress(done, total)
    finally:
        for module, training in modes.items():
            module.training = training
    return np.concatenate(features), np.concatenate(labels)  # (N, D), (N,)


def weights_fingerprint(module: nn.Module) -> str:
    """SHA-256 over every parameter and buffer of ``module`` (names, dtypes, shapes and bytes).

    Two calls return the same string exactly when nothing in the module's ``state_dict`` changed.
    Costs one pass over the weights.
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict(keep_vars=False).items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
