"""Configs of the view pipelines: :class:`ViewConfig` (one view: SimCLR / BYOL / MAE) and
:class:`MultiCropConfig` (DINO's global and local crops), validated when built.

A config is a frozen dataclass of plain values (hashable, JSON-ready): list-valued fields given
from JSON or a query string are stored as tuples; a bad value raises ValueError naming the
field. :mod:`ssl_core.augment.pipelines` turns a config into the transform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["INTERPOLATIONS", "MultiCropConfig", "ViewConfig"]

INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear", "bicubic")


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
    if value not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}; got {value!r}")

# --------------------------------------------------------------------------------------------
# SimCLR / BYOL / MAE views
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewConfig:
    """Parameters of one view pipeline (SimCLR's defaults).

    The common textbook snippet applies ColorJitter every time; SimCLR applies it with
    probability 0.8. The default follows SimCLR (``jitter_p=0.8``); ``jitter_p=1.0`` is the
    always-on snippet.
    """

    size: int = 96  # output side; 28 for Fashion-MNIST, 32 for CIFAR, 224 for ImageNet
    scale: tuple[float, float] = (0.2, 1.0)  # crop area fraction; SimCLR ImageNet uses 0.08
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop aspect ratio range (torchvision default)
    hflip_p: float = 0.5
    brightness: float = 0.4  # factor in [1 - b, 1 + b]; SimCLR: 0.8 * strength s (s=0.5 here)
    contrast: float = 0.4
    saturation: float = 0.4  # ignored on 1-channel images; BYOL/DINO use 0.2
    hue: float = 0.1  # shift in [-h, h] of a turn, h <= 0.5; ignored on 1-channel images
    jitter_p: float = 0.8  # SimCLR's RandomApply; 1.0 = an always-on ColorJitter
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
