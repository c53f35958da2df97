"""Views drawn reproducibly, and the parameters behind them.

:func:`sample_views` draws views under a seed without touching the global RNG;
:func:`trace_views` returns the same pixels together with what was sampled for each view (crop
box in source pixels, flip, jitter factors and their order, grayscale, blur sigma, solarize), by
running each v2 transform's own ``make_params``/``transform`` in the order ``forward`` would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torchvision.transforms import v2

from ssl_core.augment.config import MultiCropConfig, ViewConfig
from ssl_core.augment.pipelines import MultiCrop, build_pipeline, to_image_tensor

__all__ = ["PipelineLike", "View", "sample_views", "trace_views"]


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
        pipeline = build_pipeline(pipeline)
    if isinstance(pipeline, Sequence):
        if n_views is not None and n_views != len(pipeline):
            raise ValueError(
                f"got {len(pipeline)} pipelines (one per view) but n_views={n_views}; omit n_views"
            )
        steps = [("view", build_pipeline(p) if isinstance(p, ViewConfig) else p) for p in pipeline]
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
