"""The view pipelines: a config (:mod:`ssl_core.augment.config`) made into a torchvision
``transforms.v2`` transform that takes one image and returns float32 views.

Stage order of :func:`build_pipeline` (a stage whose probability is 0 is left out; one whose
probability is 1 is applied without a coin):

    to uint8 image -> RandomResizedCrop -> horizontal flip -> to float32 in [0, 1]
    -> ColorJitter (RandomApply, p=jitter_p) -> RandomGrayscale -> GaussianBlur (RandomApply)
    -> RandomSolarize -> Normalize (optional) -> plain tensor

Geometry runs on uint8 (cheap for large photos; bicubic overshoot is clamped), colour runs on
float32 (no rounding between colour steps; the solarize threshold is on the [0, 1] scale).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ssl_core.augment.config import MultiCropConfig, ViewConfig
from ssl_core.images import to_chw_uint8

__all__ = [
    "MultiCrop",
    "TwoViewDataset",
    "build_pipeline",
    "byol_views",
    "mae_train",
    "multi_crop",
    "to_image_tensor",
    "two_view_train",
]


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
# SimCLR / BYOL / MAE views
# --------------------------------------------------------------------------------------------


def build_pipeline(cfg: ViewConfig) -> v2.Compose:
    """The v2 pipeline of a validated ``ViewConfig``: image -> one float32 view (C, size, size),
    stages in the order of the module docstring."""
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
    return build_pipeline(dataclasses.replace(base, **overrides))


def byol_views(size: int = 96, **overrides: Any) -> tuple[ViewConfig, ViewConfig]:
    """BYOL's asymmetric pair of view configs (Grill et al. 2020, table 6).

    View 1 always blurs and never solarizes; view 2 blurs with p=0.1 and solarizes with p=0.2.
    ``overrides`` apply to both. Use as
    ``TwoViewDataset(base, two_view_train(c1), second_transform=two_view_train(c2))``. A preset
    for users of the library (no trainer method here is BYOL).
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
    return build_pipeline(cfg)


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
        local = build_pipeline(configs[-1]) if self.cfg.n_local else None
        pipelines = [build_pipeline(c) for c in configs[: self.cfg.n_global]]
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
