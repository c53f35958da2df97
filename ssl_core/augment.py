"""View pipelines for self-supervised vision: SimCLR/BYOL two views, DINO multi-crop, MAE crop+flip.

Every pipeline is a torchvision ``transforms.v2`` transform that takes one image and returns one
float32 view ``(C, size, size)`` in [0, 1] (or normalised when a config gives ``mean``/``std``).
Images may be uint8 torch tensors ``(C, H, W)`` / ``(H, W)``, uint8 numpy arrays ``(H, W)`` /
``(H, W, C)`` or PIL images, with C = 1 (Fashion-MNIST) or C = 3 (photos). Colour operations that
need three channels (saturation, hue, random grayscale) leave a 1-channel image unchanged, so one
pipeline serves both.

Stage order (a stage whose probability is 0 is left out; one whose probability is 1 is applied
without a coin):

    to uint8 image -> RandomResizedCrop -> horizontal flip -> to float32 in [0, 1]
    -> ColorJitter (RandomApply, p=jitter_p) -> RandomGrayscale -> GaussianBlur (RandomApply)
    -> RandomSolarize -> Normalize (optional) -> plain tensor

Geometry runs on uint8 (cheap for large photos; bicubic overshoot is clamped), colour runs on
float32 (no rounding between colour steps; the solarize threshold is on the [0, 1] scale).

The app needs reproducible views and the parameters behind them:

* :func:`sample_views` draws views under a seed without touching the global RNG;
* :func:`trace_views` returns the same pixels together with what was sampled for each view (crop box
  in source pixels, flip, jitter factors and their order, grayscale, blur sigma, solarize), by
  running each v2 transform's own ``make_params``/``transform`` in the order ``forward`` would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ssl_core.images import to_chw_uint8

__all__ = [
    "MultiCrop",
    "MultiCropConfig",
    "TwoViewDataset",
    "View",
    "ViewConfig",
    "byol_views",
    "mae_train",
    "multi_crop",
    "sample_views",
    "to_image_tensor",
    "trace_views",
    "two_view_train",
]

_INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear", "bicubic")


# --------------------------------------------------------------------------------------------
# Input conversion
# --------------------------------------------------------------------------------------------


def to_image_tensor(x: Any) -> tv_tensors.Image:
    """An input image as the uint8 ``tv_tensors.Image`` ``(C, H, W)`` the v2 pipelines start from.

    Any image :func:`ssl_core.images.to_chw_uint8` accepts: torch uint8 ``(C, H, W)`` or
    ``(H, W)``, numpy uint8 ``(H, W)`` or ``(H, W, C)``, PIL images; C in {1, 3}.
    """
    t = to_chw_uint8(x)
    return t if isinstance(t, tv_tensors.Image) else tv_tensors.Image(t)


class _ToImageTensor(v2.Transform):
    """First stage of every pipeline: any accepted input -> uint8 ``tv_tensors.Image``."""

    _transformed_types = (torch.Tensor, PIL.Image.Image, np.ndarray)

    def transform(self, inpt: Any, params: dict[str, Any]) -> tv_tensors.Image:
        return to_image_tensor(inpt)


class _Normalize(v2.Normalize):
    """``v2.Normalize`` that refuses a mean/std whose length does not match the channels.

    Plain ``Normalize`` broadcasts a 3-value mean over a 1-channel image and silently returns three
    channels.
    """

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        channels = inpt.shape[-3]
        if len(self.mean) not in (1, channels):
            raise ValueError(
                f"mean/std have {len(self.mean)} values but the image has {channels} channel(s); "
                "give one value per channel (or a single value for all)"
            )
        return super().transform(inpt, params)


# --------------------------------------------------------------------------------------------
# Validation helpers (shared by the configs)
# --------------------------------------------------------------------------------------------


def _tuplify(cfg: Any, names: tuple[str, ...]) -> None:
    """Store list-valued fields (e.g. from JSON or a query string) as tuples, to stay hashable."""
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, list):
            object.__setattr__(cfg, name, tuple(value))


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1 (output side in pixels); got {value!r}")


def _check_count(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a probability and must lie in [0, 1]; got {value!r}")


def _check_scale(name: str, value: tuple[float, float]) -> None:
    if len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) pair; got {value!r}")
    lo, hi = value
    if not 0.0 < lo <= 1.0 or not 0.0 < hi <= 1.0:
        raise ValueError(
            f"{name} is a fraction of the image area and must lie in (0, 1]; got {value!r}"
        )
    if lo > hi:
        raise ValueError(f"{name} must be (min, max) with min <= max; got {value!r}")


def _check_positive_range(name: str, value: tuple[float, float]) -> None:
    if len(value) != 2 or not 0.0 < value[0] <= value[1]:
        raise ValueError(f"{name} must be a (min, max) pair with 0 < min <= max; got {value!r}")


def _check_nonneg(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} jitter strength must be >= 0 (0 turns it off); got {value!r}")


def _check_mean_std(mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> None:
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (to normalise) or neither (to keep [0, 1])")
    if mean is not None and std is not None:
        if len(mean) != len(std) or len(mean) not in (1, 3):
            raise ValueError(
                f"mean and std need the same length, 1 or 3; got {len(mean)} and {len(std)}"
            )
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be > 0; got {std!r}")


def _check_interpolation(value: str) -> None:
    if value not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}; got {value!r}")


# --------------------------------------------------------------------------------------------
# SimCLR / BYOL views
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewConfig:
    """Parameters of one view pipeline (SimCLR defaults, as the lesson writes them).

    The lesson's snippet applies ColorJitter every time; SimCLR applies it with probability 0.8.
    The default follows SimCLR (``jitter_p=0.8``); ``jitter_p=1.0`` reproduces the lesson exactly.
    """

    size: int = 96  # output side; 28 for Fashion-MNIST, 32 for CIFAR, 224 for ImageNet
    scale: tuple[float, float] = (0.2, 1.0)  # crop area fraction; SimCLR ImageNet uses 0.08
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop aspect ratio range (torchvision default)
    hflip_p: float = 0.5
    brightness: float = 0.4  # factor in [1 - b, 1 + b]; SimCLR: 0.8 * strength s (s=0.5 here)
    contrast: float = 0.4
    saturation: float = 0.4  # ignored on 1-channel images; BYOL/DINO use 0.2
    hue: float = 0.1  # shift in [-h, h] of a turn, h <= 0.5; ignored on 1-channel images
    jitter_p: float = 0.8  # SimCLR's RandomApply; 1.0 = the lesson's always-on ColorJitter
    grayscale_p: float = 0.2  # no effect on 1-channel images
    blur_p: float = 0.0  # SimCLR ImageNet 0.5, BYOL 1.0 / 0.1; off for tiny images (CIFAR, MNIST)
    blur_kernel: int | None = None  # odd; None = about 10% of size (23 at 224, 9 at 96, 3 at 28)
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # pixels; sampled uniformly per view
    solarize_p: float = 0.0  # BYOL: 0.0 for view 1, 0.2 for view 2
    solarize_threshold: float = 0.5  # on the [0, 1] scale: pixels >= threshold are inverted
    interpolation: str = "bilinear"  # "bicubic" as DINO/MAE; geometry runs on uint8 (clamped)
    mean: tuple[float, ...] | None = None  # e.g. (0.485, 0.456, 0.406) for ImageNet encoders
    std: tuple[float, ...] | None = None  # None keeps the output in [0, 1]

    def __post_init__(self) -> None:
        _tuplify(self, ("scale", "ratio", "blur_sigma", "mean", "std"))
        _check_size("size", self.size)
        _check_scale("scale", self.scale)
        _check_positive_range("ratio", self.ratio)
        for name in ("hflip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
            _check_prob(name, getattr(self, name))
        for name in ("brightness", "contrast", "saturation", "hue"):
            _check_nonneg(name, getattr(self, name))
        if self.hue > 0.5:
            raise ValueError(
                f"hue must be <= 0.5 (half a turn of the colour wheel); got {self.hue}"
            )
        if self.blur_kernel is not None and (self.blur_kernel < 1 or self.blur_kernel % 2 == 0):
            raise ValueError(f"blur_kernel must be an odd int >= 1 or None; got {self.blur_kernel}")
        if self.blur_p > 0 and self.resolved_blur_kernel() // 2 >= self.size:
            raise ValueError(
                f"blur_kernel {self.resolved_blur_kernel()} is too large for size {self.size}: "
                "its half-width must be smaller than the image side"
            )
        _check_positive_range("blur_sigma", self.blur_sigma)
        if not 0.0 <= self.solarize_threshold <= 1.0:
            raise ValueError(
                f"solarize_threshold is on the [0, 1] pixel scale; got {self.solarize_threshold}"
            )
        _check_interpolation(self.interpolation)
        _check_mean_std(self.mean, self.std)

    def resolved_blur_kernel(self) -> int:
        """The blur kernel side: ``blur_kernel`` or an odd ~10% of ``size`` (SimCLR's rule)."""
        if self.blur_kernel is not None:
            return self.blur_kernel
        k = int(0.1 * self.size) | 1  # odd
        return max(k, 3) if self.size >= 3 else 1


def _build(cfg: ViewConfig) -> v2.Compose:
    """Turn a validated ``ViewConfig`` into a v2 pipeline (see the module docstring for order)."""
    stages: list[Callable[..., Any]] = [
        _ToImageTensor(),
        v2.RandomResizedCrop(
            cfg.size,
            scale=cfg.scale,
            ratio=cfg.ratio,
            interpolation=v2.InterpolationMode(cfg.interpolation),
            antialias=True,
        ),
    ]
    if cfg.hflip_p > 0:
        stages.append(v2.RandomHorizontalFlip(p=cfg.hflip_p))
    stages.append(v2.ToDtype(torch.float32, scale=True))
    if cfg.jitter_p > 0 and any((cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)):
        jitter = v2.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
        stages.append(jitter if cfg.jitter_p == 1 else v2.RandomApply([jitter], p=cfg.jitter_p))
    if cfg.grayscale_p > 0:
        stages.append(v2.RandomGrayscale(p=cfg.grayscale_p))
    if cfg.blur_p > 0:
        blur = v2.GaussianBlur(cfg.resolved_blur_kernel(), sigma=cfg.blur_sigma)
        stages.append(blur if cfg.blur_p == 1 else v2.RandomApply([blur], p=cfg.blur_p))
    if cfg.solarize_p > 0:
        stages.append(v2.RandomSolarize(threshold=cfg.solarize_threshold, p=cfg.solarize_p))
    if cfg.mean is not None and cfg.std is not None:
        stages.append(_Normalize(mean=list(cfg.mean), std=list(cfg.std)))
    stages.append(v2.ToPureTensor())
    return v2.Compose(stages)


def two_view_train(cfg: ViewConfig | None = None, **overrides: Any) -> v2.Compose:
    """SimCLR view pipeline: image -> one float32 view (C, size, size).

    Apply it twice to the same image for a positive pair (``TwoViewDataset`` does). Configure with a
    ``ViewConfig`` and/or keyword overrides of its fields: ``two_view_train(size=28)``,
    ``two_view_train(cfg, jitter_p=1.0)``. Unknown names raise TypeError, bad values ValueError.
    """
    base = cfg if cfg is not None else ViewConfig()
    return _build(dataclasses.replace(base, **overrides))


def byol_views(size: int = 96, **overrides: Any) -> tuple[ViewConfig, ViewConfig]:
    """BYOL's asymmetric pair of view configs (Grill et al. 2020, table 6).

    View 1 always blurs and never solarizes; view 2 blurs with p=0.1 and solarizes with p=0.2.
    ``overrides`` apply to both. Use as
    ``TwoViewDataset(base, two_view_train(c1), second_transform=two_view_train(c2))``.
    """
    common = dict(size=size, scale=(0.08, 1.0), saturation=0.2) | overrides
    return (
        ViewConfig(**(common | {"blur_p": 1.0, "solarize_p": 0.0})),
        ViewConfig(**(common | {"blur_p": 0.1, "solarize_p": 0.2})),
    )


def mae_train(
    size: int,
    scale: tuple[float, float] = (0.2, 1.0),
    *,
    hflip_p: float = 0.5,
    interpolation: str = "bicubic",
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> v2.Compose:
    """MAE's minimal pipeline: RandomResizedCrop(size, scale) + horizontal flip -> (C, size, size).

    MAE needs no colour augmentation: masking 75% of the patches is the pretext task's difficulty.
    """
    cfg = ViewConfig(
        size=size,
        scale=scale,
        hflip_p=hflip_p,
        jitter_p=0.0,
        grayscale_p=0.0,
        interpolation=interpolation,
        mean=mean,
        std=std,
    )
    return _build(cfg)


class TwoViewDataset(Dataset):
    """Wrap a dataset so each item becomes two independently augmented views of one image.

    ``base[i]`` may be ``(image, label)`` or just ``image``. Returns ``(view1, view2)``, or
    ``(view1, view2, label)`` when ``return_label=True``. ``view2`` comes from ``second_transform``
    when given (asymmetric views, e.g. BYOL), else from a second draw of ``transform``.
    """

    def __init__(
        self,
        base: Any,
        transform: Callable[[Any], torch.Tensor],
        *,
        second_transform: Callable[[Any], torch.Tensor] | None = None,
        return_label: bool = False,
    ) -> None:
        self.base = base
        self.transform = transform
        self.second_transform = second_transform if second_transform is not None else transform
        self.return_label = return_label

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        item = self.base[index]
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise ValueError(
                    f"base items must be image or (image, label); got a sequence of {len(item)}"
                )
            image, label = item
        else:
            image, label = item, None
        view1 = self.transform(image)
        view2 = self.second_transform(image)
        if not self.return_label:
            return view1, view2
        if label is None:
            raise ValueError("return_label=True but the base dataset yields images without labels")
        return view1, view2, label


# --------------------------------------------------------------------------------------------
# DINO multi-crop
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultiCropConfig:
    """DINO multi-crop: ``n_global`` large crops then ``n_local`` small ones (Caron et al. 2021).

    Defaults are sized for 28 px Fashion-MNIST (global 28, local 12: DINO's 224/96 ratio). For
    photos use ``global_size=224, local_size=96``. The per-global-crop tuples give one value per
    global crop (or a single value shared by all); DINO blurs global crop 1 always and crop 2 with
    p=0.1, and solarizes only crop 2.
    """

    global_size: int = 28  # 224 in DINO
    local_size: int = 12  # 96 in DINO; ~0.4 of global_size
    global_scale: tuple[float, float] = (0.4, 1.0)  # DINO: (0.4, 1); (0.25, 1) for small ViTs
    local_scale: tuple[float, float] = (0.05, 0.4)  # DINO: (0.05, 0.4); upper end = global's lower
    n_global: int = 2  # the teacher sees only these
    n_local: int = 8  # DINO's default; more locals = better features, more compute
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip_p: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2  # DINO uses 0.2 (SimCLR 0.4)
    hue: float = 0.1
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    global_blur_p: tuple[float, ...] = (1.0, 0.1)  # per global crop
    global_solarize_p: tuple[float, ...] = (0.0, 0.2)  # per global crop
    local_blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_threshold: float = 0.5
    interpolation: str = "bicubic"  # as DINO
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _tuplify(
            self,
            (
                "global_scale",
                "local_scale",
                "ratio",
                "global_blur_p",
                "global_solarize_p",
                "blur_sigma",
                "mean",
                "std",
            ),
        )
        _check_count("n_global", self.n_global, minimum=1)
        _check_count("n_local", self.n_local, minimum=0)
        for name in ("global_blur_p", "global_solarize_p"):
            values = getattr(self, name)
            if len(values) not in (1, self.n_global):
                raise ValueError(
                    f"{name} has {len(values)} values for n_global={self.n_global}; give one "
                    "value per global crop or a single value shared by all"
                )
        self.view_configs()  # validates every other field through ViewConfig

    def view_configs(self) -> tuple[ViewConfig, ...]:
        """One ``ViewConfig`` per crop, global crops first: n_global + n_local entries."""
        shared = dict(
            ratio=self.ratio,
            hflip_p=self.hflip_p,
            brightness=self.brightness,
            contrast=self.contrast,
            saturation=self.saturation,
            hue=self.hue,
            jitter_p=self.jitter_p,
            grayscale_p=self.grayscale_p,
            blur_sigma=self.blur_sigma,
            solarize_threshold=self.solarize_threshold,
            interpolation=self.interpolation,
            mean=self.mean,
            std=self.std,
        )
        renamed = {
            "size": "global_size",
            "scale": "global_scale",
            "blur_p": "global_blur_p",
            "solarize_p": "global_solarize_p",
        }
        try:
            globals_ = tuple(
                ViewConfig(
                    size=self.global_size,
                    scale=self.global_scale,
                    blur_p=_pick(self.global_blur_p, i),
                    solarize_p=_pick(self.global_solarize_p, i),
                    **shared,
                )
                for i in range(self.n_global)
            )
        except ValueError as err:
            raise ValueError(_rename(str(err), renamed, "global crop")) from None
        renamed = {"size": "local_size", "scale": "local_scale", "blur_p": "local_blur_p"}
        try:
            local = ViewConfig(
                size=self.local_size, scale=self.local_scale, blur_p=self.local_blur_p, **shared
            )
        except ValueError as err:
            raise ValueError(_rename(str(err), renamed, "local crop")) from None
        return globals_ + (local,) * self.n_local


def _pick(values: tuple[float, ...], i: int) -> float:
    return values[i] if len(values) > 1 else values[0]


def _rename(message: str, renamed: dict[str, str], where: str) -> str:
    """Point a ViewConfig error at the MultiCropConfig field that caused it."""
    for old, new in renamed.items():
        if message.startswith(f"{old} "):
            return f"{new} {message[len(old) + 1 :]}"
    return f"{where}: {message}"


@dataclass(frozen=True, eq=False)
class MultiCrop:
    """Callable: image -> list of n_global + n_local float32 views, global crops first.

    ``pipelines[i]`` makes view i and ``kinds[i]`` is "global" or "local".
    """

    cfg: MultiCropConfig
    pipelines: tuple[v2.Compose, ...] = field(init=False)
    kinds: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        configs = self.cfg.view_configs()
        local = _build(configs[-1]) if self.cfg.n_local else None
        pipelines = [_build(c) for c in configs[: self.cfg.n_global]]
        pipelines += [local] * self.cfg.n_local  # type: ignore[list-item]
        object.__setattr__(self, "pipelines", tuple(pipelines))
        object.__setattr__(
            self, "kinds", ("global",) * self.cfg.n_global + ("local",) * self.cfg.n_local
        )

    def __call__(self, image: Any) -> list[torch.Tensor]:
        """Views: n_global tensors (C, global_size, global_size), then n_local (C, local, local)."""
        x = to_image_tensor(image)
        return [pipeline(x) for pipeline in self.pipelines]


def multi_crop(cfg: MultiCropConfig | None = None, **overrides: Any) -> MultiCrop:
    """DINO multi-crop callable from a ``MultiCropConfig`` and/or keyword overrides of it."""
    base = cfg if cfg is not None else MultiCropConfig()
    return MultiCrop(dataclasses.replace(base, **overrides))


# --------------------------------------------------------------------------------------------
# Seeded and traced sampling (for the app)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class View:
    """One sampled view and the parameters that made it.

    ``image``: float32 (C, size, size). ``params``: JSON-serialisable dict with ``kind`` ("view",
    "global" or "local"), ``source_size`` [H, W], ``output_size`` [h, w], and what each stage
    did: ``crop`` {top, left, height, width} in source pixels, ``flipped`` bool, ``jitter`` None
    (not applied) or {order, brightness, contrast, saturation, hue} with the factors applied in
    that order (None for a factor that is off or that a 1-channel image skips), ``grayscale`` bool
    (False on 1-channel images, where it changes nothing), ``blur_sigma`` float or None,
    ``solarized`` bool. Every key is always present: a stage the pipeline lacks reads as not
    applied (False / None), so all views share one schema.
    """

    image: torch.Tensor
    params: dict[str, Any]


PipelineLike = Any  # ViewConfig | MultiCropConfig | MultiCrop | v2.Transform | Sequence of these


def _resolve(pipeline: PipelineLike, n_views: int | None) -> list[tuple[str, Callable[..., Any]]]:
    """Expand a pipeline description into (kind, transform) per view."""
    if n_views is not None and (isinstance(n_views, bool) or n_views < 1):
        raise ValueError(f"n_views must be >= 1; got {n_views!r}")
    if isinstance(pipeline, MultiCropConfig):
        pipeline = MultiCrop(pipeline)
    if isinstance(pipeline, MultiCrop):
        if n_views is not None:
            raise ValueError(
                "a multi-crop sets its own view count (n_global + n_local); omit n_views"
            )
        return list(zip(pipeline.kinds, pipeline.pipelines, strict=True))
    if isinstance(pipeline, ViewConfig):
        pipeline = _build(pipeline)
    if isinstance(pipeline, Sequence):
        if n_views is not None and n_views != len(pipeline):
            raise ValueError(
                f"got {len(pipeline)} pipelines (one per view) but n_views={n_views}; omit n_views"
            )
        steps = [("view", _build(p) if isinstance(p, ViewConfig) else p) for p in pipeline]
        if not steps or not all(callable(t) for _, t in steps):
            raise TypeError("a sequence pipeline must hold ViewConfigs or transforms, one per view")
        return steps
    if not callable(pipeline):
        raise TypeError(f"expected a pipeline or config; got {type(pipeline).__name__}")
    return [("view", pipeline)] * (2 if n_views is None else n_views)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")


def sample_views(
    image: Any, pipeline: PipelineLike, *, seed: int, n_views: int | None = None
) -> list[torch.Tensor]:
    """Draw views of one image reproducibly, leaving the global RNG as it was.

    ``pipeline``: a ``ViewConfig`` or v2 transform (applied ``n_views`` times, default 2), a
    sequence of them (one view each, e.g. BYOL's pair) or a ``MultiCropConfig``/``MultiCrop``.
    Returns float32 views (C, size, size) in pipeline order. Same (image, pipeline, seed) -> same
    views; the seed only seeds the CPU generator inside ``torch.random.fork_rng``.
    """
    _check_seed(seed)
    steps = _resolve(pipeline, n_views)
    x = to_image_tensor(image)
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        return [transform(x) for _, transform in steps]


def trace_views(
    image: Any, pipeline: PipelineLike, *, seed: int, n_views: int | None = None
) -> list[View]:
    """Like :func:`sample_views` (the same pixels for the same seed), plus the sampled parameters.

    Walks each v2 pipeline stage by stage, calling ``make_params``/``transform`` and drawing the
    RandomApply coins exactly as ``forward`` does, so the random stream is consumed identically.
    Stages it does not know are run as they are (pixels stay exact; nothing is recorded for them).
    """
    _check_seed(seed)
    steps = _resolve(pipeline, n_views)
    x = to_image_tensor(image)
    channels, height, width = x.shape
    views = []
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        for kind, transform in steps:
            params: dict[str, Any] = {
                "kind": kind,
                "source_size": [height, width],
                **_NOT_APPLIED,
            }
            out = _traced(transform, x, params, channels)
            params["output_size"] = [int(out.shape[-2]), int(out.shape[-1])]
            views.append(View(image=out, params=params))
    return views


# What a view's params say for a stage that is absent from its pipeline (or never recorded).
_NOT_APPLIED: dict[str, Any] = {
    "crop": None,
    "flipped": False,
    "jitter": None,
    "grayscale": False,
    "blur_sigma": None,
    "solarized": False,
}
_JITTER_NAMES = ("brightness", "contrast", "saturation", "hue")
_COLOUR_ONLY = ("saturation", "hue")  # no-ops on 1-channel images


def _skip_record(transform: Any, params: dict[str, Any]) -> None:
    """Record a stage that a RandomApply coin skipped."""
    if isinstance(transform, v2.ColorJitter):
        params["jitter"] = None
    elif isinstance(transform, v2.GaussianBlur):
        params["blur_sigma"] = None
    elif isinstance(transform, v2.Compose | v2.RandomApply):
        for inner in transform.transforms:
            _skip_record(inner, params)


def _traced(transform: Any, x: Any, params: dict[str, Any], channels: int) -> Any:
    """Apply ``transform`` to ``x`` as its ``forward`` would, recording sampled values in params."""
    if isinstance(transform, v2.Compose):
        for stage in transform.transforms:
            x = _traced(stage, x, params, channels)
        return x
    if isinstance(transform, v2.RandomApply):
        if torch.rand(1) >= transform.p:  # the coin RandomApply.forward draws
            _skip_record(transform, params)
            return x
        for stage in transform.transforms:
            x = _traced(stage, x, params, channels)
        return x
    if isinstance(transform, v2.RandomHorizontalFlip | v2.RandomGrayscale | v2.RandomSolarize):
        # _RandomApplyTransform.forward: check_inputs, coin, make_params, transform.
        transform.check_inputs([x])
        applied = bool(torch.rand(1) < transform.p)
        if applied:
            x = transform.transform(x, transform.make_params([x]))
        if isinstance(transform, v2.RandomHorizontalFlip):
            params["flipped"] = applied
        elif isinstance(transform, v2.RandomGrayscale):
            params["grayscale"] = applied and channels == 3
        else:
            params["solarized"] = applied
        return x
    if isinstance(transform, v2.RandomResizedCrop | v2.ColorJitter | v2.GaussianBlur):
        # Transform.forward: check_inputs, make_params, transform.
        transform.check_inputs([x])
        sampled = transform.make_params([x])
        x = transform.transform(x, sampled)
        if isinstance(transform, v2.RandomResizedCrop):
            params["crop"] = {k: int(sampled[k]) for k in ("top", "left", "height", "width")}
        elif isinstance(transform, v2.GaussianBlur):
            params["blur_sigma"] = float(sampled["sigma"][0])
        else:
            factors = {
                name: None
                if sampled[f"{name}_factor"] is None or (channels == 1 and name in _COLOUR_ONLY)
                else float(sampled[f"{name}_factor"])
                for name in _JITTER_NAMES
            }
            order = [_JITTER_NAMES[int(i)] for i in sampled["fn_idx"]]
            params["jitter"] = {
                "order": [name for name in order if factors[name] is not None],
                **factors,
            }
        return x
    return transform(x)
