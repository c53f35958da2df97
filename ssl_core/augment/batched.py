"""Views of a whole batch at once: the training path of :mod:`ssl_core.augment`'s pipelines.

:mod:`ssl_core.augment` builds the traceable per-image pipeline: torchvision v2 transforms that
take one image at a time and whose every sampled parameter :mod:`~ssl_core.augment.trace` can
record. On 28 px images, though, a Python call per image and per stage costs more than the tiny
model's step. :class:`BatchViews` makes the
same views of a ``(B, C, H, W)`` uint8 batch whose images share one size:

- the parameters are drawn per image from the same distributions as the v2 transforms draw them
  (``RandomResizedCrop``'s ten tries then central fallback, flip coin, ``ColorJitter``'s factors
  and random order, grayscale, blur sigma, solarize coins), vectorised over the batch and drawn
  from an explicit ``torch.Generator`` (the global RNG is never touched);
- the pixel work runs batched: crop + resize as one ``torchvision.ops.roi_align`` (bilinear
  sampling at the resized pixel centres, averaged over several samples per output pixel when a
  crop shrinks: the antialiasing), colour as per-image factors broadcast over the batch, blur as
  one grouped convolution with a kernel per image.

The pixels equal the v2 path's for colour, flip, grayscale, blur and solarize (tests check them
image by image); crop + resize agrees with v2's bilinear resize when a crop is enlarged, and is a
box-averaged rather than triangle-filtered resample when it shrinks. Bicubic configs are resampled
bilinearly here. ``tests/augment/test_batched.py`` checks the parameter distributions against the v2
transforms' own ``make_params`` and the pixels against v2's kernels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import roi_align
from torchvision.transforms.v2 import functional as F

from ssl_core.augment.config import MultiCropConfig, ViewConfig

__all__ = ["BatchViews", "CropParams", "sample_crops"]

_TRIES = 10  # torchvision's RandomResizedCrop tries this many boxes before its central fallback


@dataclass(frozen=True)
class CropParams:
    """Crop boxes of a batch, in source pixels: each a ``(B,)`` int64 tensor."""

    top: Tensor
    left: Tensor
    height: Tensor
    width: Tensor


def _uniform(n: int | tuple[int, ...], low: float, high: float, generator: torch.Generator
             ) -> Tensor:
    shape = (n,) if isinstance(n, int) else n
    return torch.rand(shape, generator=generator, dtype=torch.float64) * (high - low) + low


def sample_crops(
    n: int, *, height: int, width: int, scale: tuple[float, float],
    ratio: tuple[float, float], generator: torch.Generator,
) -> CropParams:
    """``n`` boxes as ``v2.RandomResizedCrop.make_params`` draws them, for an ``height x width``
    image: up to ten (area, log-aspect) tries, the first that fits wins; else the central crop."""
    area = height * width
    target = area * _uniform((n, _TRIES), *scale, generator)  # (n, tries)
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    aspect = torch.exp(_uniform((n, _TRIES), *log_ratio, generator))  # (n, tries)
    # Python's round() is round-half-to-even, as torch.round: the same boxes as torchvision's.
    w = torch.sqrt(target * aspect).round().long()  # (n, tries)
    h = torch.sqrt(target / aspect).round().long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)  # (n, tries)
    first = fits.int().argmax(dim=1)  # (n,) index of the first fitting try (0 if none fits)
    rows = torch.arange(n)
    w, h, found = w[rows, first], h[rows, first], fits.any(dim=1)  # (n,) each

    in_ratio = width / height  # torchvision's central fallback
    if in_ratio < min(ratio):
        fw, fh = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        fw, fh = int(round(height * max(ratio))), height
    else:
        fw, fh = width, height
    w = torch.where(found, w, torch.full_like(w, fw))
    h = torch.where(found, h, torch.full_like(h, fh))
    # randint(0, height - h + 1) per image: floor of a uniform draw over the valid offsets.
    u_top = torch.rand(n, generator=generator, dtype=torch.float64)
    u_left = torch.rand(n, generator=generator, dtype=torch.float64)
    top = torch.where(found, (u_top * (height - h + 1)).floor().long(),
                      torch.full_like(h, (height - fh) // 2))
    left = torch.where(found, (u_left * (width - w + 1)).floor().long(),
                       torch.full_like(w, (width - fw) // 2))
    return CropParams(top=top, left=left, height=h, width=w)


def crop_resize(images: Tensor, crops: CropParams, size: int) -> Tensor:
    """``images (B, C, H, W)`` float -> ``(B, C, size, size)``: box ``b`` of image ``b``, resized.

    ``roi_align(aligned=True)`` samples at the output pixels' centres mapped into the box, exactly
    where a bilinear resize (``align_corners=False``) samples; with ``sampling_ratio=-1`` it
    averages ``ceil(box / size)`` samples per output pixel, which antialiases a shrinking crop.
    """
    b = images.shape[0]
    boxes = torch.stack([
        torch.arange(b, dtype=images.dtype),
        crops.left.to(images.dtype), crops.top.to(images.dtype),
        (crops.left + crops.width).to(images.dtype), (crops.top + crops.height).to(images.dtype),
    ], dim=1)  # (B, 5): batch index, x1, y1, x2, y2
    return roi_align(images, boxes, output_size=size, spatial_scale=1.0, sampling_ratio=-1,
                     aligned=True)  # (B, C, size, size)


def _per_image(values: Tensor, like: Tensor) -> Tensor:
    return values.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))  # (B, 1, 1, 1)


def _blend(image: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    """torchvision's ``_blend`` with a factor per image: ``(f * a + (1 - f) * b).clamp(0, 1)``."""
    f = _per_image(factor, image)
    return (image * f + other * (1 - f)).clamp_(0, 1)


def _gray(images: Tensor) -> Tensor:
    """``(B, 3, H, W) -> (B, 1, H, W)`` luma, as torchvision's ``rgb_to_grayscale``."""
    return F.rgb_to_grayscale(images, num_output_channels=1)


def _gaussian_blur(images: Tensor, kernel: int, sigma: Tensor) -> Tensor:
    """Separable Gaussian blur with one ``sigma`` per image, reflect padding (as v2's kernel)."""
    b, c, h, w = images.shape
    lim = (kernel - 1) / (2.0 * math.sqrt(2.0))
    x = torch.linspace(-lim, lim, kernel, dtype=images.dtype)  # (k,)
    k1d = torch.softmax(-(x[None] / sigma.to(images.dtype)[:, None]).pow(2), dim=1)  # (B, k)
    k1d = k1d.repeat_interleave(c, dim=0)  # (B*C, k): one kernel per channel of each image
    pad = kernel // 2
    flat = torch.nn.functional.pad(images.reshape(1, b * c, h, w), [pad] * 4, mode="reflect")
    flat = torch.nn.functional.conv2d(flat, k1d[:, None, None, :], groups=b * c)  # along W
    flat = torch.nn.functional.conv2d(flat, k1d[:, None, :, None], groups=b * c)  # along H
    return flat.reshape(b, c, h, w)


class _OneView:
    """One :class:`ViewConfig` applied to a batch (stages in :mod:`ssl_core.augment`'s order)."""

    def __init__(self, cfg: ViewConfig) -> None:
        self.cfg = cfg
        self.blur_kernel = cfg.resolved_blur_kernel()

    def __call__(self, images: Tensor, generator: torch.Generator, keep: slice) -> Tensor:
        """``images (B, C, H, W)`` float in [0, 1], every parameter drawn for all ``B`` images,
        pixels made for ``images[keep]`` only -> ``(b, C, size, size)``."""
        cfg, n = self.cfg, images.shape[0]
        _, c, height, width = images.shape
        crops = sample_crops(n, height=height, width=width, scale=cfg.scale, ratio=cfg.ratio,
                             generator=generator)
        flip = torch.rand(n, generator=generator) < cfg.hflip_p
        jitter = torch.rand(n, generator=generator) < cfg.jitter_p
        order = torch.argsort(torch.rand(n, 4, generator=generator), dim=1)  # (n, 4) randperm
        factors = {
            "brightness": _uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, generator),
            "contrast": _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, generator),
            "saturation": _uniform(n, 1 - cfg.saturation, 1 + cfg.saturation, generator),
            "hue": _uniform(n, -cfg.hue, cfg.hue, generator),
        }
        gray = torch.rand(n, generator=generator) < cfg.grayscale_p
        blur = torch.rand(n, generator=generator) < cfg.blur_p
        sigma = _uniform(n, *cfg.blur_sigma, generator)
        solarize = torch.rand(n, generator=generator) < cfg.solarize_p

        part = CropParams(crops.top[keep], crops.left[keep], crops.height[keep],
                          crops.width[keep])
        x = crop_resize(images[keep], part, cfg.size)  # (b, C, size, size)
        x = torch.where(_per_image(flip[keep], x).bool(), x.flip(-1), x)
        if cfg.jitter_p > 0 and any((cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)):
            x = self._jitter(x, jitter[keep], order[keep], {k: v[keep] for k, v in factors.items()})
        if cfg.grayscale_p > 0 and c == 3:
            x = torch.where(_per_image(gray[keep], x).bool(), _gray(x).expand_as(x), x)
        if cfg.blur_p > 0:
            x = torch.where(_per_image(blur[keep], x).bool(),
                            _gaussian_blur(x, self.blur_kernel, sigma[keep]), x)
        if cfg.solarize_p > 0:
            solarized = torch.where(x >= cfg.solarize_threshold, 1.0 - x, x)
            x = torch.where(_per_image(solarize[keep], x).bool(), solarized, x)
        if cfg.mean is not None and cfg.std is not None:
            x = F.normalize(x, mean=list(cfg.mean), std=list(cfg.std))
        return x

    def _jitter(self, x: Tensor, apply: Tensor, order: Tensor, factors: dict[str, Tensor]
                ) -> Tensor:
        """ColorJitter with its own random order per image; saturation and hue only on RGB."""
        cfg, c = self.cfg, x.shape[1]
        ops = ("brightness", "contrast", "saturation", "hue")
        for position in range(4):
            for op_id, op in enumerate(ops):
                if getattr(cfg, op) == 0 or (c == 1 and op in ("saturation", "hue")):
                    continue  # v2 skips a zero range; colour ops leave gray images unchanged
                chosen = apply & (order[:, position] == op_id)  # (b,)
                if not chosen.any():
                    continue
                rows = chosen.nonzero().squeeze(1)
                x[rows] = self._colour(op, x[rows], factors[op][rows])
        return x

    @staticmethod
    def _colour(op: str, x: Tensor, factor: Tensor) -> Tensor:
        if op == "brightness":
            return _blend(x, torch.zeros_like(x), factor)
        if op == "contrast":
            gray = _gray(x) if x.shape[1] == 3 else x
            return _blend(x, gray.mean(dim=(-3, -2, -1), keepdim=True), factor)
        if op == "saturation":
            return _blend(x, _gray(x), factor)
        # Hue: an HSV round trip per image (only RGB images reach here; a rare, slower path).
        return torch.stack([F.adjust_hue(img, float(f)) for img, f in zip(x, factor, strict=True)])


class BatchViews:
    """Callable: ``(B, C, H, W)`` uint8 batch -> the views a method trains on, made batched.

    ``configs`` gives one :class:`ViewConfig` per view; the output is a tuple of
    ``(B, C, size_v, size_v)`` float32 batches, one per view (a list for DINO's multi-crop, as the
    per-image path collates). ``generator`` seeds every draw. For a rank's share of a global batch,
    pass the whole global batch's images as ``images`` and the share as ``keep``: parameters are
    drawn for every image, so the views do not depend on how the batch is split over processes.
    """

    def __init__(self, configs: Sequence[ViewConfig], *, as_list: bool = False) -> None:
        if not configs:
            raise ValueError("BatchViews needs at least one ViewConfig")
        self.configs = tuple(configs)
        self.views = [_OneView(cfg) for cfg in self.configs]
        self.as_list = as_list

    @classmethod
    def two_view(cls, cfg: ViewConfig) -> BatchViews:
        """SimCLR: two draws of the same config."""
        return cls([cfg, cfg])

    @classmethod
    def multi_crop(cls, cfg: MultiCropConfig) -> BatchViews:
        """DINO: global crops then local crops."""
        return cls(cfg.view_configs(), as_list=True)

    def __call__(self, images: Tensor, *, generator: torch.Generator,
                 keep: slice | None = None) -> tuple[Tensor, ...] | list[Tensor] | Tensor:
        if images.ndim != 4 or images.dtype != torch.uint8:
            raise ValueError(f"expected a uint8 batch (B, C, H, W); got {images.dtype} "
                             f"{tuple(images.shape)}")
        keep = slice(None) if keep is None else keep
        floats = images.to(torch.float32).div_(255)  # (B, C, H, W) in [0, 1]
        out = [view(floats, generator, keep) for view in self.views]
        if len(out) == 1:
            return out[0]
        return out if self.as_list else tuple(out)
