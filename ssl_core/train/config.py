"""What defines a pretraining run (:class:`TrainConfig`) and the pure schedules of one.

:class:`TrainConfig` is saved, resolved, in every checkpoint's config.json and read back on
resume, so its fields are a public contract. :func:`lr_at` is the learning-rate schedule
(linear warm-up, then cosine to 0) and :func:`derive_seed` the seed of each independent random
stream of a run (the ``STREAM_*`` constants), so that batch ``s`` depends only on ``(seed, s)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ACCELERATORS",
    "DEFAULT_BACKBONES",
    "DEFAULT_BASE_LR",
    "PRECISIONS",
    "VIEW_PATHS",
    "TrainConfig",
    "check_int",
    "derive_seed",
    "format_out_dir",
    "lr_at",
    "resolve_config",
]

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
ACCELERATORS = ("auto", "cpu", "cuda")
VIEW_PATHS = ("batched", "per-image")

# Backbone used when TrainConfig.backbone is None, by method and number of image channels.
DEFAULT_BACKBONES: dict[str, dict[int, str]] = {
    "simclr": {1: "vit_tiny_p4_28", 3: "vit_tiny_p8_64"},
    "dino": {1: "vit_tiny_p4_28", 3: "vit_tiny_p8_64"},
    "mae": {1: "vit_tiny_p4_28", 3: "vit_tiny_p8_64"},
    "unet_mae": {1: "unet_tiny_28", 3: "unet_tiny_rgb"},
}
# Learning rate per 256 images of global batch (AdamW). The papers' values are for runs of
# hundreds of epochs (SimCLR's LARS aside: DINO 5e-4, MAE 1.5e-4); short CPU runs of small models
# learn faster with the higher values below.
DEFAULT_BASE_LR: dict[str, float] = {
    "simclr": 1e-3,
    "dino": 5e-4,
    "mae": 1e-3,
    "unet_mae": 1e-3,
}

# Independent random streams of a run: derive_seed(seed, STREAM_..., ...).
STREAM_INIT, STREAM_ORDER, STREAM_VIEWS, STREAM_STEP, STREAM_SUBSET = range(5)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a pretraining run; its resolved form is saved in config.json.

    ``None`` fields are resolved by :class:`Trainer` (``Trainer(cfg).config`` is the resolved
    copy): ``backbone`` from :data:`DEFAULT_BACKBONES`, ``base_lr`` from :data:`DEFAULT_BASE_LR`,
    ``lr`` by the linear scaling rule, ``warmup_steps`` as 10% of the run.
    """

    method: str = "simclr"  # simclr | dino | mae | unet_mae
    backbone: str | None = None  # a name from ssl_core.models.registry.list_backbones()
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {"depth": 2}
    method_config: dict[str, Any] = field(default_factory=dict)  # fields of the method's config
    # Overrides of the view pipeline: ViewConfig fields (simclr), MultiCropConfig fields (dino,
    # e.g. {"n_local": 4}: fewer local crops = faster CPU steps), mae_train arguments (mae).
    augment: dict[str, Any] = field(default_factory=dict)
    data: str = "bundled"  # bundled | fashion-mnist-full | PATH (image folder) | cifar10:PATH | ...
    data_root: str | None = None  # where "fashion-mnist-full" looks (None: data/ then Debian's)
    limit_images: int | None = None  # train on a fixed random subset of this many images
    # Each image appears this many times per epoch, with fresh random views each time: for a
    # small folder (e.g. the 16 bundled photos) whose images are smaller in number than a batch.
    repeat_data: int = 1
    steps: int | None = 200  # optimizer steps; set steps=None to give epochs instead
    epochs: float | None = None  # passes over the data (steps per epoch = N // global batch)
    batch_size: int = 256  # per device; SimCLR wants large batches (negatives), DINO/MAE less so
    base_lr: float | None = None  # lr per 256 images; None = DEFAULT_BASE_LR[method]
    lr: float | None = None  # absolute peak lr; overrides base_lr and the scaling rule
    weight_decay: float = 0.05  # AdamW, on weights only (not biases, norms, tokens); DINO 0.04
    warmup_steps: int | None = None  # linear warm-up; None = 10% of the run
    grad_clip: float | None = None  # max gradient norm; DINO uses 3.0, MAE none
    seed: int = 0
    precision: str = "32-true"  # "bf16-mixed" on recent GPUs and AVX-512-BF16 CPUs; "16-mixed"
    # Memory layout of conv weights and activations: True speeds ResNet backbones on CPU (oneDNN's
    # NHWC kernels, ~1.7x on the 28 px CNN); it does nothing useful for ViTs. Numerics unchanged.
    channels_last: bool = False
    # "batched": views of a whole batch at once (ssl_core.augment.batched) where the images are rows
    # of one array (Fashion-MNIST, CIFAR); "per-image": the v2 pipelines one image at a time.
    views: str = "batched"
    accelerator: str = "auto"  # auto = cuda when available, else cpu
    devices: int = 1  # processes per node (GPUs, or CPU processes with gloo)
    num_nodes: int = 1
    num_workers: int = 0  # DataLoader workers making batches; results do not depend on it
    log_every: int = 10  # append to metrics.jsonl every this many steps (and at the end)
    checkpoint_every: int | None = None  # also save every this many steps; None = at the end
    out_dir: str | None = None  # None: nothing is written unless save() is called.
    # May hold {method}, {backbone} and {time}, e.g. "runs/{method}-{backbone}-{time}".

    def __post_init__(self) -> None:
        for name in ("backbone_kwargs", "method_config", "augment"):
            if not isinstance(getattr(self, name), Mapping):
                raise ValueError(f"{name} must be a dict; got {type(getattr(self, name)).__name__}")
            object.__setattr__(self, name, dict(getattr(self, name)))
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(
                "give exactly one of steps and epochs; got "
                f"steps={self.steps}, epochs={self.epochs} (for epochs, pass steps=None)"
            )
        if self.steps is not None and (isinstance(self.steps, bool) or self.steps < 1):
            raise ValueError(f"steps must be an int >= 1; got {self.steps!r}")
        if self.epochs is not None and not self.epochs > 0:
            raise ValueError(f"epochs must be > 0; got {self.epochs!r}")
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_int("devices", self.devices, minimum=1)
        check_int("num_nodes", self.num_nodes, minimum=1)
        check_int("num_workers", self.num_workers, minimum=0)
        check_int("log_every", self.log_every, minimum=1)
        if self.checkpoint_every is not None:
            check_int("checkpoint_every", self.checkpoint_every, minimum=1)
        if self.warmup_steps is not None:
            check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.limit_images is not None:
            check_int("limit_images", self.limit_images, minimum=1)
        check_int("repeat_data", self.repeat_data, minimum=1)
        for name in ("base_lr", "lr"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0; got {value!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0; got {self.weight_decay!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None (no clipping); got {self.grad_clip!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {self.precision!r}")
        if self.views not in VIEW_PATHS:
            raise ValueError(f"views must be one of {VIEW_PATHS}; got {self.views!r}")
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"accelerator must be one of {ACCELERATORS}; got {self.accelerator!r}")

    @property
    def world_size(self) -> int:
        """Number of training processes: devices x nodes."""
        return self.devices * self.num_nodes

    @property
    def global_batch_size(self) -> int:
        """Images per optimizer step over all processes."""
        return self.batch_size * self.world_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``TrainConfig.from_dict(cfg.to_dict()) == cfg``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid: {sorted(known)}")
        return cls(**values)


def check_int(name: str, value: Any, *, minimum: int) -> None:
    """ValueError unless ``value`` is an int (not a bool) >= ``minimum``, naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def lr_at(step: int, *, total_steps: int, peak_lr: float, warmup_steps: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warm-up, then cosine to 0.

    Warm-up: ``peak_lr * (step + 1) / warmup_steps`` for ``step < warmup_steps`` (the first step
    already moves). Then ``peak_lr * (1 + cos(pi * t)) / 2`` with ``t`` going from 0 at the end of
    warm-up to 1 at ``total_steps`` (the last step, ``total_steps - 1``, is just above 0).
    """
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, total_steps={total_steps}); got {step}")
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    decay = max(total_steps - warmup_steps, 1)
    return peak_lr * 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / decay))


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from non-negative ints (numpy's SeedSequence hashing).

    Neighbouring inputs (step 7 and step 8) give unrelated random streams, unlike ``seed + step``.
    """
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def resolve_config(cfg: TrainConfig, *, channels: int, method: Any = None) -> TrainConfig:
    """``cfg`` with what it left to the run filled in: the backbone (the given method's, else
    :data:`DEFAULT_BACKBONES` for ``channels``-channel data), ``base_lr`` and ``lr`` (the linear
    scaling rule ``base_lr * global_batch / 256`` unless ``lr`` is given)."""
    backbone, backbone_kwargs = cfg.backbone, cfg.backbone_kwargs
    spec = getattr(method, "backbone_spec", None)
    if method is not None and backbone is None and spec is not None:  # from build_method
        backbone, backbone_kwargs = spec["backbone"], dict(spec["backbone_kwargs"])
    if method is None and backbone is None:
        if cfg.method not in DEFAULT_BACKBONES:
            raise ValueError(f"unknown method {cfg.method!r}; known: "
                             f"{', '.join(DEFAULT_BACKBONES)}")
        backbone = DEFAULT_BACKBONES[cfg.method].get(channels)
        if backbone is None:
            raise ValueError(f"no default backbone for {channels}-channel images; "
                             "name one with backbone=...")
    base_lr = cfg.base_lr if cfg.base_lr is not None else DEFAULT_BASE_LR.get(cfg.method, 1e-3)
    lr = cfg.lr if cfg.lr is not None else base_lr * cfg.global_batch_size / 256
    return dataclasses.replace(cfg, backbone=backbone, backbone_kwargs=backbone_kwargs,
                               base_lr=base_lr, lr=lr)


def format_out_dir(cfg: TrainConfig) -> Path | None:
    """``cfg.out_dir`` with ``{method}``, ``{backbone}`` and ``{time}`` filled in (None: none)."""
    if cfg.out_dir is None:
        return None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(cfg.out_dir.format(method=cfg.method, backbone=cfg.backbone, time=stamp))
