"""One way from an image to a model's input, and back to a picture.

Images arrive as PIL images, uint8 numpy arrays ``(H, W)`` / ``(H, W, C)`` (decoded uploads,
bundled photos, dataset rows), uint8 torch tensors ``(C, H, W)``, or batches of them; encoders
take float32 ``(B, C, H, W)`` in [0, 1] at their own size and channel count (any mean/std
normalisation is the encoder's own: ``InputNormalize``, the transformers adapter). Every
conversion between the two goes through this module:

- :func:`to_chw_uint8`: any single image -> uint8 tensor ``(C, H, W)``, C in {1, 3};
- :func:`to_float_batch`: a uint8 or float tensor batch -> float32 ``(B, C, H, W)`` in [0, 1];
  :func:`images_to_batch` / :func:`image_to_batch` do the same for channels-last numpy images;
- :func:`square_crop` / :func:`fit_to`: centre square, resized, gray or RGB (a model's
  geometry); :func:`fit_within`: downscale a large upload;
- :func:`input_geometry` / :func:`model_input`: what an encoder takes, and an image made so;
  :func:`batch_adapter`: the same for a float batch already on its way to the encoder;
- :func:`to_uint8_image`: a float view ``(C, h, w)`` back to a uint8 picture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "as_rgb",
    "batch_adapter",
    "fit_to",
    "fit_within",
    "image_to_batch",
    "images_to_batch",
    "input_geometry",
    "model_input",
    "square_crop",
    "to_chw_uint8",
    "to_float_batch",
    "to_uint8_image",
]


def _check_uint8_image(image: np.ndarray, *, channels: str = "3") -> None:
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ValueError(
            f"image must be uint8 (H, W) or (H, W, {channels}); got {image.dtype} {image.shape}"
        )


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 ``(H, W)`` gray image as ``(H, W, 3)`` (R = G = B); an ``(H, W, 3)`` one as is."""
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def to_chw_uint8(image: Any) -> Tensor:
    """A single image -> uint8 tensor ``(C, H, W)`` with C in {1, 3}.

    Accepts torch uint8 ``(C, H, W)`` or ``(H, W)`` (returned as is, or as a view); numpy uint8
    ``(H, W)`` or ``(H, W, C)`` (copied: the result is writable even when the array is not); PIL
    images (mode "L" stays 1 channel, "1"/"LA"/"I"/"I;16"/"F" become "L", anything else "RGB").
    """
    if isinstance(image, PIL.Image.Image):
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in ("1", "LA", "I", "I;16", "F") else "RGB")
        array = np.asarray(image)
        t = torch.from_numpy(np.array(array[None] if array.ndim == 2
                                      else array.transpose(2, 0, 1)))  # (C, H, W)
    elif isinstance(image, np.ndarray):
        if image.ndim == 2:
            arr = image[None]  # (1, H, W)
        elif image.ndim == 3 and image.shape[2] in (1, 3):
            arr = image.transpose(2, 0, 1)  # (C, H, W)
        else:
            raise ValueError(
                "numpy images must be (H, W) or (H, W, C) with C in (1, 3); got shape "
                f"{image.shape}"
            )
        t = torch.from_numpy(np.array(arr))  # a contiguous, writable copy
    elif isinstance(image, Tensor):
        if image.ndim == 2:
            t = image[None]  # (1, H, W)
        elif image.ndim == 3 and image.shape[0] in (1, 3):
            t = image
        elif image.ndim == 3 and image.shape[-1] in (1, 3):
            raise ValueError(
                f"torch images must be channels-first (C, H, W); got shape {tuple(image.shape)}, "
                "which looks channels-last: pass x.permute(2, 0, 1)"
            )
        else:
            raise ValueError(
                "torch images must be (C, H, W) with C in (1, 3) or (H, W); got "
                f"{tuple(image.shape)}"
            )
    else:
        raise TypeError(
            f"expected a torch tensor, numpy array or PIL image; got {type(image).__name__}"
        )
    if t.dtype != torch.uint8:
        raise ValueError(
            f"images must be uint8 in [0, 255]; got dtype {t.dtype}. For float images in [0, 1] "
            "pass (x * 255).round().to(torch.uint8)"
        )
    if t.shape[-2] < 1 or t.shape[-1] < 1:
        raise ValueError(f"image has an empty side: shape {tuple(t.shape)}")
    return t


def to_float_batch(batch: Tensor) -> Tensor:
    """A batch ``(B, C, H, W)`` (or grayscale ``(B, H, W)``) -> float32 ``(B, C, H, W)``.

    uint8 is scaled to [0, 1], the range every encoder here is trained on; float is used as is.
    """
    if batch.ndim == 3:
        batch = batch.unsqueeze(1)  # (B, H, W) -> (B, 1, H, W)
    if batch.ndim != 4:
        raise ValueError(
            f"images must be (N, C, H, W) or grayscale (N, H, W); got a batch of shape "
            f"{tuple(batch.shape)}"
        )
    if batch.dtype == torch.uint8:
        return batch.float().div_(255.0)
    if batch.is_floating_point():
        return batch.float()
    raise ValueError(
        f"images must be uint8 (scaled here to [0, 1]) or float; got dtype {batch.dtype}"
    )


def images_to_batch(images: np.ndarray | Sequence[np.ndarray]) -> Tensor:
    """uint8 numpy images ``(N, H, W)`` / ``(N, H, W, C)`` (or a sequence of same-size ones) ->
    float32 ``(N, C, H, W)`` in [0, 1] on the CPU."""
    array = np.stack(images) if not isinstance(images, np.ndarray) else images
    if array.dtype != np.uint8 or array.ndim not in (3, 4):
        raise ValueError(
            f"images must be uint8 (N, H, W) or (N, H, W, C); got {array.dtype} {array.shape}"
        )
    t = torch.from_numpy(np.array(array))  # a copy: the array may be read-only
    return to_float_batch(t if t.ndim == 3 else t.permute(0, 3, 1, 2))  # (N, C, H, W)


def image_to_batch(image: np.ndarray) -> Tensor:
    """uint8 ``(H, W)`` or ``(H, W, C)`` -> float32 ``(1, C, H, W)`` in [0, 1] (a model's input)."""
    _check_uint8_image(image, channels="C")
    return images_to_batch(image[None])  # (1, C, H, W)


def square_crop(image: np.ndarray, size: int, *, channels: int) -> np.ndarray:
    """The centred square of a uint8 ``(H, W)`` / ``(H, W, 3)`` image, resized to ``size``.

    Returns uint8 ``(size, size)`` for ``channels=1`` (luminance of a colour image) or
    ``(size, size, 3)`` for ``channels=3`` (a grayscale image repeated). Bicubic resampling
    (a 512 px photo shrinks to the 64 px an MAE sees; a 28 px item is returned as is).
    """
    if size < 1 or channels not in (1, 3):
        raise ValueError(f"need size >= 1 and channels in (1, 3); got {size}, {channels}")
    _check_uint8_image(image)
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    pil = PIL.Image.fromarray(image[top : top + side, left : left + side])
    pil = pil.convert("L" if channels == 1 else "RGB")
    if side != size:
        pil = pil.resize((size, size), PIL.Image.Resampling.BICUBIC)
    return np.asarray(pil)


def fit_to(images: np.ndarray | Sequence[np.ndarray], *, size: int, channels: int) -> np.ndarray:
    """uint8 images -> uint8 ``(N, size, size)`` (``channels=1``) or ``(N, size, size, 3)``.

    ``images`` is an array ``(N, H, W)`` / ``(N, H, W, 3)`` or a sequence of ``(H, W[, 3])``
    images of any sizes; each is centre-cropped to a square and resized (:func:`square_crop`).
    An array that already has the wanted shape is returned as is.
    """
    wanted = (size, size) if channels == 1 else (size, size, 3)
    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.shape[1:] == wanted:
        return images
    if len(images) == 0:
        raise ValueError("images is empty; there is nothing to convert")
    return np.stack([square_crop(np.asarray(image), size, channels=channels) for image in images])


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale a uint8 ``(H, W)`` / ``(H, W, 3)`` image so its longer side is <= ``max_side``.

    Keeps the aspect ratio (Lanczos filter); an image that already fits is returned as is. Used
    on uploads, so that a 12-megapixel photo costs what a bundled 512 px one does.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1; got {max_side}")
    _check_uint8_image(image)
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL wants (W, H)
    return np.asarray(PIL.Image.fromarray(image).resize(size, PIL.Image.Resampling.LANCZOS))


def input_geometry(encoder: nn.Module) -> tuple[int, int, int] | None:
    """``(height, width, channels)`` an encoder takes, from its ``img_size`` (ssl_core's models)
    or ``image_size`` (the transformers adapters) and ``in_chans``; None when it states none (raw
    pixels take any image)."""
    size = getattr(encoder, "img_size", None) or getattr(encoder, "image_size", None)
    if size is None:
        return None
    height, width = (size, size) if isinstance(size, int) else size
    return int(height), int(width), int(getattr(encoder, "in_chans", 3))


def model_input(image: np.ndarray, encoder: nn.Module) -> np.ndarray:
    """A uint8 ``(H, W)`` / ``(H, W, 3)`` image as the encoder takes it: the centred square,
    resized to the encoder's (square) input size, grayscale for a 1-channel model."""
    geometry = input_geometry(encoder)
    if geometry is None:
        raise ValueError(f"{type(encoder).__name__} states no input size (img_size/image_size)")
    height, width, channels = geometry
    if height != width:
        raise ValueError(f"model_input makes square inputs; the encoder takes {height}x{width}")
    return square_crop(image, height, channels=1 if channels == 1 else 3)


def batch_adapter(encoder: nn.Module, channels: int, size: tuple[int, int]
                  ) -> Callable[[Tensor], Tensor] | None:
    """A float-batch transform that fits ``channels``-channel ``size`` images to ``encoder``.

    None when they fit already. Grayscale is repeated to the encoder's channels and the batch
    is resized bilinearly to its ``img_size``; an encoder that resizes its own inputs (the
    transformers adapters state ``image_size`` instead) is left to do so. Other channel changes
    raise ValueError.
    """
    img_size = getattr(encoder, "img_size", size)
    want_hw = tuple(img_size) if isinstance(img_size, Sequence) else (img_size, img_size)
    want_c = int(getattr(encoder, "in_chans", channels))
    if want_c == channels and want_hw == tuple(size):
        return None
    if want_c not in (channels, 3) or channels != 1:
        raise ValueError(f"cannot feed {channels}-channel images to an encoder that takes {want_c}")

    def adapt(x: Tensor) -> Tensor:
        if want_hw != tuple(x.shape[-2:]):
            x = F.interpolate(x, size=want_hw, mode="bilinear", align_corners=False)
        return x.expand(-1, want_c, -1, -1)  # (B, want_c, H', W'): gray copied to RGB

    return adapt


def to_uint8_image(view: Tensor) -> np.ndarray:
    """A float view ``(C, h, w)`` in [0, 1] -> uint8 ``(h, w)`` (C = 1) or ``(h, w, 3)`` (C = 3).

    Values outside [0, 1] (a normalised view) are clipped, so pass un-normalised views.
    """
    if not isinstance(view, Tensor) or view.ndim != 3 or view.shape[0] not in (1, 3):
        shape = tuple(view.shape) if hasattr(view, "shape") else type(view).__name__
        raise ValueError(f"view must be a (C, h, w) tensor with C in (1, 3); got {shape}")
    if not view.is_floating_point():
        raise ValueError(f"view must be a float tensor in [0, 1]; got dtype {view.dtype}")
    pixels = (view.detach().cpu().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)  # (C, h, w)
    array = pixels.permute(1, 2, 0).numpy()  # (h, w, C)
    return np.ascontiguousarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1
                                else array)
