"""Pretraining: a step iterator that can stop and resume at any step, and the run behind the CLI.

One loop serves the app and ``python -m ssl_core.pretrain``::

    run = Trainer(TrainConfig(method="dino", steps=200, batch_size=64))
    for metrics in run.steps(time_limit_s=30):  # a dict after every optimizer step
        plot(metrics["step"], metrics["loss"])
    run.steps()  # ...later: continues exactly where the loop stopped

The pieces, in the order a step runs them:

1. :func:`load_train_data` turns a data spec (``"bundled"``, ``"fashion-mnist-full"``, an image
   folder, ``"cifar10:PATH"``, ``"stl10:PATH"``) into a dataset plus a JSON description with the
   sha256 of what was read.
2. :func:`view_pipeline` builds the method's views (SimCLR two views, DINO multi-crop, MAE
   crop+flip) at the backbone's input size; :class:`StepBatches` makes batch ``s`` of the run.
3. :class:`Trainer` builds the method (:func:`ssl_core.methods.build_method`), AdamW with a linear
   warm-up then cosine learning rate (:func:`lr_at`), and runs :meth:`Trainer.steps`.
4. :meth:`Trainer.save` / :meth:`Trainer.resume` write and read a checkpoint directory
   (``model.safetensors``, ``config.json``, ``metrics.jsonl``, ``train_state.*``; see
   :mod:`ssl_core.checkpoints`).

Determinism. Batch ``s`` depends only on ``(seed, s)``: the epoch's order is a permutation seeded
by ``(seed, epoch)``, and image ``j`` of the global batch is augmented under a generator seeded by
``(seed, s, j)``; the randomness inside the step (MAE's masks, drop-path) is seeded by
``(seed, s, rank)``. Nothing about the data stream needs saving, so on CPU a run of 20 steps
equals 10 steps + save + resume + 10 steps bit for bit, and ``num_workers`` changes nothing but
speed. The global RNG is never touched (every draw happens inside ``torch.random.fork_rng``), so a
live run in the app does not disturb anything else. On GPU, kernels (atomics in backward,
autocast) are not bit-reproducible; runs are seeded but may differ in the last bits. Because the
global batch is the same whatever the number of processes, 2 processes with ``batch_size=B``
see exactly the batches of 1 process with ``batch_size=2B``.

Runtime. A single CPU process in fp32 (the app, tests, most CPU runs) uses :class:`LocalRuntime`,
a stand-in with the few methods of Lightning Fabric the loop calls, so constructing a run costs no
Lightning import (about 2 s). Anything else -- a GPU, bf16/fp16 autocast, several devices or
nodes -- goes through ``lightning_fabric.Fabric`` (DDP when ``devices * num_nodes > 1``). Both
sit behind the same calls, so the loop is written once.

Batch size and learning rate. ``batch_size`` is per device; the global batch is
``batch_size * devices * num_nodes``. Unless ``lr`` is given, the linear scaling rule applies:
``lr = base_lr * global_batch / 256`` (Goyal et al. 2017; SimCLR, DINO and MAE all state their
rates this way).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ssl_core import checkpoints
from ssl_core.checkpoints import CheckpointError

__all__ = [
    "DEFAULT_BACKBONES",
    "DEFAULT_BASE_LR",
    "PRECISIONS",
    "LocalRuntime",
    "StepBatches",
    "TrainConfig",
    "Trainer",
    "batch_view_pipeline",
    "derive_seed",
    "load_train_data",
    "lr_at",
    "view_pipeline",
]

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
ACCELERATORS = ("auto", "cpu", "cuda")
VIEW_PATHS = ("batched", "per-image")
CHECKPOINT_FORMAT = "ssl-explorer-checkpoint/1"

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

# Fields of TrainConfig that Trainer.resume may change: they alter how long or where a run goes,
# not what is being trained.
RESUMABLE_OVERRIDES = frozenset({
    "steps", "epochs", "accelerator", "devices", "num_nodes", "precision", "num_workers",
    "log_every", "checkpoint_every", "out_dir", "channels_last",
})

# Independent random streams: derive_seed(seed, STREAM, ...).
_INIT, _ORDER, _VIEWS, _STEP, _SUBSET = range(5)


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


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
    # "batched": views of a whole batch at once (ssl_core.batch_views) where the images are rows
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
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        _check_int("devices", self.devices, minimum=1)
        _check_int("num_nodes", self.num_nodes, minimum=1)
        _check_int("num_workers", self.num_workers, minimum=0)
        _check_int("log_every", self.log_every, minimum=1)
        if self.checkpoint_every is not None:
            _check_int("checkpoint_every", self.checkpoint_every, minimum=1)
        if self.warmup_steps is not None:
            _check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.limit_images is not None:
            _check_int("limit_images", self.limit_images, minimum=1)
        _check_int("repeat_data", self.repeat_data, minimum=1)
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


def _check_int(name: str, value: Any, *, minimum: int) -> None:
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


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


def _sha256_arrays(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _listing_sha256(files: Sequence[Path], root: Path) -> str:
    """sha256 of the sorted (relative path, size) list: cheap, and changes when files change."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path.relative_to(root)}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()


class _Subset(Dataset):
    """``base`` restricted to ``indices`` (kept sorted), with ``labels`` and ``classes`` kept."""

    def __init__(self, base: Any, indices: np.ndarray) -> None:
        self.base = base
        self.indices = indices
        labels = getattr(base, "labels", None)
        self.labels = None if labels is None else np.asarray(labels)[indices]
        self.classes = getattr(base, "classes", ())

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.base[int(self.indices[index])]


def load_train_data(
    spec: str, *, root: str | None = None, limit_images: int | None = None, repeat: int = 1
) -> tuple[Dataset, dict[str, Any]]:
    """The pretraining dataset for a data spec, and a JSON description of what was read.

    Specs: ``"bundled"`` (the committed 20,000-image Fashion-MNIST subset), ``"fashion-mnist-full"``
    (60,000 train images from ``root``, ``data/`` or Debian's package), ``"cifar10:PATH"``,
    ``"stl10:PATH"`` (train + unlabelled split: 105,000 images), or any other string as the path
    of an image folder. Items are ``(uint8 image (C, H, W), label)`` as in :mod:`ssl_core.data`.

    The description holds the spec, the number of images and hashes: the file's sha256 for the
    bundled data, the sha256 of the decoded arrays for full Fashion-MNIST, and for files on disk
    (folders, CIFAR, STL) the sha256 of the sorted (path, size) listing, which is cheap and still
    changes when a file is added, removed or rewritten with another size.

    ``limit_images`` keeps a fixed random subset (seed 0: the same for every training seed; a
    smaller limit gives a subset of a larger one). ``repeat`` lists every image that many times
    (after the limit), so that a folder smaller than a batch can train on random crops of it.
    Missing or malformed data raises
    :class:`ssl_core.data.DataError`, whose message names the path.
    """
    from ssl_core import data as D
    from ssl_core import paths

    description: dict[str, Any] = {"spec": spec}
    if spec == "bundled":
        dataset = D.load_fashion_mnist("train", source="bundled")
        bundled = paths.fashion_mnist_file()
        description |= {
            "name": "Fashion-MNIST, bundled stratified subset (train split)",
            "files": {bundled.name: checkpoints.file_sha256(bundled)},
        }
    elif spec == "fashion-mnist-full":
        dataset = D.load_fashion_mnist("train", source="full", root=root)
        description |= {
            "name": "Fashion-MNIST, full train split",
            "root": root,
            "arrays_sha256": _sha256_arrays(dataset.images, dataset.labels),
        }
    elif spec.startswith(("cifar10:", "stl10:")):
        kind, _, path = spec.partition(":")
        if not path:
            raise D.DataError(f"data spec {spec!r} names no path; write {kind}:/path/to/data")
        if kind == "cifar10":
            dataset = D.load_cifar10(path, train=True)
            folder = Path(path) / "cifar-10-batches-py"
            description["name"] = "CIFAR-10 train split"
        else:
            dataset = D.load_stl10(path, split="train+unlabeled")
            folder = Path(path) / "stl10_binary"
            description["name"] = "STL-10 train + unlabelled splits"
        files = [p for p in folder.iterdir() if p.is_file()]
        description |= {"path": str(Path(path).resolve()),
                        "listing_sha256": _listing_sha256(files, folder)}
    else:
        dataset = D.load_image_folder(spec)
        root_path = Path(spec)
        description |= {
            "name": "image folder",
            "path": str(root_path.resolve()),
            "listing_sha256": _listing_sha256(dataset.files, root_path),
        }
    description["n_images_total"] = len(dataset)
    if limit_images is not None and limit_images < len(dataset):
        order = np.random.default_rng(derive_seed(0, _SUBSET)).permutation(len(dataset))
        dataset = _Subset(dataset, np.sort(order[:limit_images]))
        description["limit_images"] = limit_images
    description["n_images"] = len(dataset)
    if repeat > 1:
        dataset = _Subset(dataset, np.tile(np.arange(len(dataset)), repeat))
        description["repeat"] = repeat
    return dataset, description


def _describe_custom(dataset: Any) -> dict[str, Any]:
    description: dict[str, Any] = {"spec": "custom", "n_images": len(dataset)}
    images = getattr(dataset, "images", None)
    if isinstance(images, np.ndarray):
        description["arrays_sha256"] = _sha256_arrays(images)
    return description


def _dino_local_size(size: int, patch_size: int | None) -> int:
    """DINO's local crop side, 96/224 of the global side, rounded to a multiple of the patch."""
    local = size * 96 / 224
    if patch_size:
        return max(patch_size, round(local / patch_size) * patch_size)
    return max(8, round(local))


def view_pipeline(
    method: str, *, size: int, patch_size: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Callable[[Any], Any]:
    """image -> the sample a method trains on, at output side ``size``.

    simclr: ``(view1, view2)``, each ``(C, size, size)`` (:func:`ssl_core.augment.two_view_train`,
    Gaussian blur off below 64 px); dino: a list of 2 global ``(C, size, size)`` and ``n_local``
    local crops (:func:`ssl_core.augment.multi_crop`; local side 96/224 of ``size``, a multiple of
    ``patch_size``); mae and unet_mae: one ``(C, size, size)`` crop+flip
    (:func:`ssl_core.augment.mae_train`). ``overrides`` replace fields of those configs.
    """
    from ssl_core import augment as A

    overrides = dict(overrides or {})
    if method == "simclr":
        cfg = A.ViewConfig(size=size, blur_p=0.5 if size >= 64 else 0.0)
        transform = A.two_view_train(cfg, **overrides)
        return lambda image: (transform(image), transform(image))
    if method == "dino":
        cfg = A.MultiCropConfig(global_size=size, local_size=_dino_local_size(size, patch_size))
        return A.multi_crop(cfg, **overrides)
    if method in ("mae", "unet_mae"):
        return A.mae_train(size, **overrides)
    raise ValueError(f"no view pipeline for method {method!r}; known: simclr, dino, mae, unet_mae")


def batch_view_pipeline(
    method: str, *, size: int, patch_size: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """The views of :func:`view_pipeline`, made for a whole uint8 batch at once
    (:class:`ssl_core.batch_views.BatchViews`): same configs, same parameter distributions."""
    from ssl_core import augment as A
    from ssl_core.batch_views import BatchViews

    overrides = dict(overrides or {})
    if method == "simclr":
        cfg = A.ViewConfig(size=size, blur_p=0.5 if size >= 64 else 0.0)
        return BatchViews.two_view(dataclasses.replace(cfg, **overrides))
    if method == "dino":
        cfg = A.MultiCropConfig(global_size=size, local_size=_dino_local_size(size, patch_size))
        return BatchViews.multi_crop(dataclasses.replace(cfg, **overrides))
    if method in ("mae", "unet_mae"):
        return BatchViews([A.ViewConfig(size=size, jitter_p=0.0, grayscale_p=0.0,
                                        interpolation="bicubic", **overrides)])
    raise ValueError(f"no view pipeline for method {method!r}; known: simclr, dino, mae, unet_mae")


def _image_array(dataset: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(images (N, H, W[, C]) uint8, index map or None)`` when every image of ``dataset`` is a
    row of one in-memory array (Fashion-MNIST, CIFAR, subsets and repeats of them), else None."""
    if isinstance(dataset, _Subset):
        inner = _image_array(dataset.base)
        if inner is None:
            return None
        images, index = inner
        return images, (dataset.indices if index is None else index[dataset.indices])
    images = getattr(dataset, "images", None)
    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim in (3, 4) \
            and getattr(dataset, "transform", None) is None:
        return images, None
    return None


def _collate(samples: list[Any]) -> Any:
    """Stack per-image samples: tensors -> (B, ...); tuples/lists of views -> one stack per view."""
    first = samples[0]
    if isinstance(first, Tensor):
        return torch.stack(samples)  # (B, C, H, W)
    stacked = [torch.stack([s[v] for s in samples]) for v in range(len(first))]  # V x (B, C, h, w)
    return tuple(stacked) if isinstance(first, tuple) else stacked


class StepBatches(Dataset):
    """Batch ``s`` of a run as item ``s``: a function of ``(seed, s)`` only.

    Epoch ``e = s // steps_per_epoch`` visits the images in a permutation seeded by
    ``(seed, e)``; the global batch is the next ``global_batch`` images of it (the last partial
    batch of an epoch is dropped) and this rank takes its ``batch_size`` consecutive ones. Image
    ``j`` of the global batch is augmented under a generator seeded by ``(seed, s, j)``, inside
    ``fork_rng``, so the pixels do not depend on the process, worker or resume point.
    """

    def __init__(
        self,
        dataset: Any,
        views: Callable[[Any], Any],
        *,
        seed: int,
        batch_size: int,
        world_size: int = 1,
        rank: int = 0,
        batch_views: Callable[..., Any] | None = None,
    ) -> None:
        self.dataset = dataset
        self.views = views
        # The batched path, where the images are rows of one array; else one image at a time.
        self.batch_views = batch_views
        self._array = _image_array(dataset) if batch_views is not None else None
        self.seed = seed
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.global_batch = batch_size * world_size
        self.steps_per_epoch = len(dataset) // self.global_batch
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"the global batch of {self.global_batch} images (batch_size {batch_size} x "
                f"{world_size} process(es)) is larger than the dataset ({len(dataset)} images); "
                "lower batch_size or use more data"
            )
        self._order: tuple[int, Tensor] | None = None

    def __len__(self) -> int:  # not used for sampling (any step index is valid); one epoch
        return self.steps_per_epoch

    def global_indices(self, step: int) -> Tensor:
        """Dataset indices of the global batch of ``step``: ``(global_batch,)`` int64."""
        epoch, position = divmod(step, self.steps_per_epoch)
        if self._order is None or self._order[0] != epoch:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, _ORDER, epoch))
            self._order = (epoch, torch.randperm(len(self.dataset), generator=generator))
        start = position * self.global_batch
        return self._order[1][start : start + self.global_batch]

    def __getitem__(self, step: int) -> Any:
        indices = self.global_indices(step)
        first = self.rank * self.batch_size
        if self._array is not None:
            return self._batched(step, indices, first)
        samples = []
        # One thread: the transforms work on single small images, where intra-op threads cost
        # far more than they save (6-10x slower DINO crops on 2 busy cores).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                for j in range(first, first + self.batch_size):
                    seed = derive_seed(self.seed, _VIEWS, step, j)
                    torch.random.default_generator.manual_seed(seed)
                    image, _label = self.dataset[int(indices[j])]
                    samples.append(self.views(image))
        finally:
            torch.set_num_threads(threads)
        return _collate(samples)

    def _batched(self, step: int, indices: Tensor, first: int) -> Any:
        """Every parameter drawn for the global batch from a generator seeded by ``(seed,
        step)``, pixels made for this rank's share: the same batches for any number of ranks."""
        images, index = self._array  # type: ignore[misc]
        rows = indices.numpy() if index is None else index[indices.numpy()]
        batch = torch.from_numpy(np.ascontiguousarray(images[rows]))  # (G, H, W[, C]) uint8
        batch = batch[:, None] if batch.ndim == 3 else batch.permute(0, 3, 1, 2)  # (G, C, H, W)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, _VIEWS, step))
        keep = slice(first, first + self.batch_size)
        return self.batch_views(batch, generator=generator, keep=keep)  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------
# Runtime: one process on CPU, or Lightning Fabric
# ----------------------------------------------------------------------------------------------


class LocalRuntime:
    """The part of ``lightning_fabric.Fabric``'s interface the trainer uses, for one CPU process.

    It does nothing Fabric would not do with ``accelerator="cpu", devices=1,
    precision="32-true"``, but it avoids importing Lightning (about 2 s), which keeps starting a
    live run in the app cheap.
    """

    world_size = 1
    global_rank = 0
    is_global_zero = True
    device = torch.device("cpu")

    def launch(self) -> None:
        """Nothing to launch: this process is the only one."""

    def setup(self, module: nn.Module, optimizer: torch.optim.Optimizer
              ) -> tuple[nn.Module, torch.optim.Optimizer]:
        return module, optimizer

    def backward(self, loss: Tensor) -> None:
        loss.backward()

    def clip_gradients(self, module: nn.Module, optimizer: torch.optim.Optimizer, *,
                       max_norm: float) -> Tensor:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        return torch.nn.utils.clip_grad_norm_(params, max_norm)

    def to_device(self, obj: Any) -> Any:
        return obj

    def all_reduce(self, data: Tensor, reduce_op: str = "mean") -> Tensor:
        return data

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        return obj

    def barrier(self) -> None:
        """Nothing to wait for."""


def _resolve_accelerator(accelerator: str) -> str:
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise ValueError("accelerator='cuda' but no CUDA device is available; use 'cpu' or 'auto'")
    return accelerator


def _make_runtime(cfg: TrainConfig) -> Any:
    """LocalRuntime for one fp32 CPU process, else a launched Fabric (DDP for > 1 process)."""
    if cfg.accelerator == "cpu" and cfg.world_size == 1 and cfg.precision == "32-true":
        return LocalRuntime()
    try:
        from lightning_fabric import Fabric
        from lightning_fabric.strategies import DDPStrategy
    except ImportError as err:
        raise ImportError(
            "GPU, mixed-precision and multi-process training run through Lightning Fabric: "
            "pip install lightning-fabric (see requirements.txt)"
        ) from err
    # A rank that never joins should fail within minutes, not hang for Fabric's default 30 min.
    strategy = DDPStrategy(timeout=timedelta(minutes=10)) if cfg.world_size > 1 else "auto"
    fabric = Fabric(accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
                    strategy=strategy, precision=cfg.precision)
    fabric.launch()
    return fabric


# ----------------------------------------------------------------------------------------------
# The trainer
# ----------------------------------------------------------------------------------------------


def _decay_groups(params: Sequence[nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices and kernels only; biases, norm scales, CLS tokens
    and position tables (ndim <= 1, or the (1, N, D) token parameters) are not decayed."""
    decay = [p for p in params if p.ndim >= 2 and not (p.ndim == 3 and p.shape[0] == 1)]
    decayed = {id(p) for p in decay}
    keep = [p for p in params if id(p) not in decayed]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": keep, "weight_decay": 0.0}]


def _build_seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module under a seeded generator, leaving the global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(derive_seed(seed, _INIT))
        return build()


def _backbone_info(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    from ssl_core.models.registry import backbone_config

    return backbone_config(name, **kwargs)


class Trainer:
    """A pretraining run: method, optimizer, step counter and the batch stream.

    Args:
        config: the run; ``self.config`` is its resolved copy (backbone, lr, warm-up filled in).
        dataset: train on this dataset instead of ``config.data`` (items ``(image, label)`` with
            uint8 ``(C, H, W)`` images); described as ``"custom"`` in the checkpoint.
        method: use this module instead of building ``config.method`` (it must follow the
            method protocol of :mod:`ssl_core.methods`); the caller's module is trained in place.

    Construction on the bundled data takes well under a second after the first call (the decoded
    arrays are cached by :mod:`ssl_core.data`): no Lightning import and no process launch for a
    single fp32 CPU process.

    Attributes: ``method`` (the unwrapped module), ``encoder`` (what to evaluate),
    ``optimizer``, ``step`` (optimizer steps done), ``total_steps``, ``steps_per_epoch``,
    ``history`` (metrics of the steps run by this object), ``out_dir`` (None: writes nothing).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        dataset: Dataset | None = None,
        method: nn.Module | None = None,
        _resume: tuple[Path, dict[str, Tensor], dict[str, Any]] | None = None,
    ) -> None:
        if config.precision == "16-mixed" and _resolve_accelerator(config.accelerator) == "cpu":
            raise ValueError("precision '16-mixed' needs a GPU; on CPU use '32-true' or "
                             "'bf16-mixed'")
        if config.method == "simclr" and config.batch_size < 2:
            raise ValueError("SimCLR needs batch_size >= 2: the other images are the negatives")
        cfg = dataclasses.replace(config, accelerator=_resolve_accelerator(config.accelerator))
        self.runtime = _make_runtime(cfg)

        if dataset is None:
            dataset, data_description = load_train_data(
                cfg.data, root=cfg.data_root, limit_images=cfg.limit_images,
                repeat=cfg.repeat_data,
            )
        else:
            data_description = _describe_custom(dataset)
        if len(dataset) == 0:
            raise ValueError("the dataset is empty")
        sample = dataset[0][0]
        channels = int(sample.shape[0]) if sample.ndim == 3 else 1
        cfg = self._resolve(cfg, channels=channels, method=method)
        self.config = cfg
        self.data_description = data_description

        if method is not None and getattr(method, "name", cfg.method) != cfg.method:
            raise ValueError(f"config.method is {cfg.method!r} but the given module is a "
                             f"{method.name!r} method; make them agree (the views depend on it)")
        if method is None:
            from ssl_core.methods import build_method

            method = _build_seeded(cfg.seed, lambda: build_method(
                cfg.method, backbone=cfg.backbone, backbone_kwargs=cfg.backbone_kwargs,
                config=cfg.method_config))
        self.method = method
        if _resume is not None:
            self._load_weights(_resume[1])

        info = _backbone_info(cfg.backbone, cfg.backbone_kwargs) if cfg.backbone else {}
        size = info.get("img_size", [sample.shape[-2]])[0]
        in_chans = info.get("in_chans", channels)
        if in_chans != channels:
            raise ValueError(
                f"backbone {cfg.backbone!r} takes {in_chans}-channel images but the data has "
                f"{channels} channel(s); pick a backbone for {channels}-channel data (e.g. "
                f"{DEFAULT_BACKBONES.get(cfg.method, {}).get(channels)}) or set "
                f"backbone_kwargs in_chans={channels}"
            )
        view_args = dict(size=int(size), patch_size=info.get("patch_size"), overrides=cfg.augment)
        views = view_pipeline(cfg.method, **view_args)
        batch_views = (batch_view_pipeline(cfg.method, **view_args) if cfg.views == "batched"
                       else None)
        self.batches = StepBatches(dataset, views, seed=cfg.seed, batch_size=cfg.batch_size,
                                   world_size=self.runtime.world_size,
                                   rank=self.runtime.global_rank, batch_views=batch_views)
        if cfg.channels_last:
            method.to(memory_format=torch.channels_last)
        self.steps_per_epoch = self.batches.steps_per_epoch
        self.total_steps = (cfg.steps if cfg.steps is not None
                            else max(1, math.ceil(cfg.epochs * self.steps_per_epoch)))
        self.warmup_steps = (cfg.warmup_steps if cfg.warmup_steps is not None
                             else self.total_steps // 10)
        # Stored resolved, so that extending the run on resume keeps the same warm-up.
        self.config = cfg = dataclasses.replace(cfg, warmup_steps=self.warmup_steps)

        if self.runtime.world_size > 1 and self.runtime.device.type == "cuda":
            # Global BatchNorm over all ranks, as SimCLR does (SyncBatchNorm needs a GPU; on CPU
            # each process normalises its own batch).
            nn.SyncBatchNorm.convert_sync_batchnorm(method)
        params = list(method.trainable_parameters())
        optimizer = torch.optim.AdamW(_decay_groups(params, cfg.weight_decay), lr=cfg.lr,
                                      betas=(0.9, 0.95 if cfg.method in ("mae", "unet_mae")
                                             else 0.999))
        self.model, self.optimizer = self.runtime.setup(method, optimizer)
        self.step = 0
        self.elapsed_s = 0.0  # training time over all sessions of this run
        self.history: list[dict[str, float]] = []
        self._iterator: Iterator[Any] | None = None
        self._iterator_step = -1
        self.out_dir = self._format_out_dir(cfg.out_dir)
        if self.out_dir is not None:
            self.config = cfg = dataclasses.replace(cfg, out_dir=str(self.out_dir))
        if _resume is not None:
            self._load_train_state(_resume[0], _resume[2])
        if self.out_dir is not None and self.runtime.is_global_zero:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._truncate_metrics_log()

    # -- resolution --------------------------------------------------------------------------

    @staticmethod
    def _resolve(cfg: TrainConfig, *, channels: int, method: nn.Module | None) -> TrainConfig:
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

    def _format_out_dir(self, out_dir: str | None) -> Path | None:
        if out_dir is None:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return Path(out_dir.format(method=self.config.method, backbone=self.config.backbone,
                                   time=stamp))

    @property
    def encoder(self) -> nn.Module:
        """The module to evaluate (``forward_features``): DINO's teacher backbone, else the
        backbone."""
        return getattr(self.method, "encoder", self.method.backbone)

    @property
    def done(self) -> bool:
        """True once ``total_steps`` optimizer steps have run."""
        return self.step >= self.total_steps

    # -- the loop ----------------------------------------------------------------------------

    def _next_batch(self) -> Any:
        if self._iterator is None or self._iterator_step != self.step:
            loader = DataLoader(
                self.batches,
                batch_size=None,  # items are whole batches already
                sampler=range(self.step, self.total_steps),
                num_workers=self.config.num_workers,
                pin_memory=self.runtime.device.type == "cuda",
                # Its own generator: otherwise the loader draws its worker seed from the global
                # RNG. (Batches are seeded by step anyway; this only keeps the global RNG alone.)
                generator=torch.Generator().manual_seed(self.config.seed),
            )
            self._iterator = iter(loader)
            self._iterator_step = self.step
        batch = next(self._iterator)
        self._iterator_step += 1
        return self.runtime.to_device(batch)

    def _train_step(self) -> dict[str, float]:
        started = time.perf_counter()
        index = self.step  # 0-based index of the step about to run
        batch = self._next_batch()
        lr = lr_at(index, total_steps=self.total_steps, peak_lr=self.config.lr,
                   warmup_steps=self.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        epoch = index / self.steps_per_epoch
        if hasattr(self.method, "set_epoch"):
            self.method.set_epoch(epoch)
        self.method.train()
        device = self.runtime.device
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            seed = derive_seed(self.config.seed, _STEP, index, self.runtime.global_rank)
            torch.random.default_generator.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed(seed)
            loss, method_metrics = self.model(batch)  # forward == training_step (DDP syncs)
            self.runtime.backward(loss)
            grad_norm = None
            if self.config.grad_clip is not None:
                grad_norm = self.runtime.clip_gradients(self.model, self.optimizer,
                                                        max_norm=self.config.grad_clip)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        end_metrics = self.method.on_train_step_end(index, self.total_steps) or {}

        values = {"loss": float(loss.detach())}
        values |= {k: float(v) for k, v in method_metrics.items() if k != "loss"}
        values |= {k: float(v) for k, v in end_metrics.items()}
        if grad_norm is not None:
            values["grad_norm"] = float(grad_norm)
        if self.runtime.world_size > 1:  # the mean over ranks (every rank gets the same numbers)
            keys = sorted(values)
            reduced = self.runtime.all_reduce(
                torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device),
                reduce_op="mean")
            values = dict(zip(keys, reduced.tolist(), strict=True))
        step_time = time.perf_counter() - started
        self.elapsed_s += step_time
        return {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "lr": lr,
            **values,
            "images_per_s": self.config.global_batch_size / step_time,
            "step_time_s": step_time,
            "elapsed_s": self.elapsed_s,
        }

    def steps(self, max_steps: int | None = None, *,
              time_limit_s: float | None = None) -> Iterator[dict[str, float]]:
        """Run optimizer steps, yielding a metrics dict after each one.

        Runs until ``total_steps``, or ``max_steps`` more steps, or until ``time_limit_s``
        seconds have passed (checked before each step; the step under way finishes).
        Breaking out of the loop is safe at any point: the step just yielded is complete, and
        calling ``steps()`` again continues with the next one, as if never interrupted.

        Metrics: ``step`` (steps done, 1-based), ``epoch`` (fractional), ``lr``, ``loss``, the
        method's own metrics (e.g. DINO's ``teacher_entropy``, ``momentum``), ``grad_norm``
        (with ``grad_clip``), ``images_per_s`` (global batch / wall time of the step, data
        included), ``step_time_s``, ``elapsed_s`` (training time of the whole run). With several
        processes the numbers are means over ranks.

        With ``out_dir`` set, rank 0 appends to ``metrics.jsonl`` every ``log_every`` steps and
        saves every ``checkpoint_every`` steps and at the end of the run.
        """
        if max_steps is not None:
            _check_int("max_steps", max_steps, minimum=0)
        end = self.total_steps if max_steps is None else min(self.total_steps,
                                                             self.step + max_steps)
        started = time.perf_counter()
        while self.step < end:
            if time_limit_s is not None:
                over = time.perf_counter() - started >= time_limit_s
                if self.runtime.broadcast(over, src=0):  # every rank stops at the same step
                    return
            metrics = self._train_step()
            self.history.append(metrics)
            if self.out_dir is not None:
                last = self.step == self.total_steps
                if self.runtime.is_global_zero and (self.step % self.config.log_every == 0
                                                    or last):
                    self._append_metrics(metrics)
                every = self.config.checkpoint_every
                if last or (every is not None and self.step % every == 0):
                    self.save()
            yield metrics

    def run(self, *, callback: Callable[[dict[str, float]], None] | None = None) -> Trainer:
        """Run to ``total_steps`` (calling ``callback(metrics)`` after each step); returns self."""
        for metrics in self.steps():
            if callback is not None:
                callback(metrics)
        return self

    def close(self) -> None:
        """Stop DataLoader workers (if any); ``steps()`` starts new ones when called again."""
        self._iterator = None
        self._iterator_step = -1

    # -- checkpoints -------------------------------------------------------------------------

    def checkpoint_config(self) -> dict[str, Any]:
        """The JSON written as config.json: the method spec (enough for build_method), the
        resolved train config, the data description and where the run stands."""
        import torchvision

        from ssl_core.methods import method_spec

        return {
            "format": CHECKPOINT_FORMAT,
            **method_spec(self.method),
            "train": self.config.to_dict(),
            "data": self.data_description,
            "step": self.step,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "world_size": self.runtime.world_size,
            "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__},
        }

    def save(self, directory: str | Path | None = None) -> Path:
        """Write a resumable checkpoint (default: ``out_dir``); returns the directory.

        Every rank must call it (rank 0 writes, the others wait). Files: train state first,
        then ``model.safetensors``, then ``config.json``; each file is replaced atomically, and
        both JSON files record the step, so a save cut short is detected on resume.
        """
        target = Path(directory) if directory is not None else self.out_dir
        if target is None:
            raise ValueError("save() needs a directory: this run has no out_dir")
        if self.runtime.is_global_zero:
            checkpoints.save_train_state(
                target, optimizer_state=self.optimizer.state_dict(),
                extra={"step": self.step, "elapsed_s": self.elapsed_s},
            )
            checkpoints.save_checkpoint(target, state_dict=self.method.state_dict(),
                                        config=self.checkpoint_config())
        self.runtime.barrier()
        if directory is None:
            return target

    @classmethod
    def resume(cls, directory: str | Path, *, dataset: Dataset | None = None,
               **overrides: Any) -> Trainer:
        """Continue the run saved in ``directory`` exactly where it stopped.

        ``overrides`` may change only how long and where it runs (``steps``, ``epochs``,
        ``devices``, ``num_nodes``, ``accelerator``, ``precision``, ``num_workers``,
        ``log_every``, ``checkpoint_every``, ``out_dir``; default ``out_dir`` is ``directory``).
        Changing ``steps`` changes the cosine schedule from here on. The data must be the same
        as when the run started (its description and hashes are compared).
        """
        directory = Path(directory)
        state, config = checkpoints.load_checkpoint(directory)
        if config.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{directory} is not a training checkpoint of ssl_core.train (format "
                f"{config.get('format')!r}, expected {CHECKPOINT_FORMAT!r}); it cannot be resumed"
            )
        bad = sorted(set(overrides) - RESUMABLE_OVERRIDES)
        if bad:
            raise ValueError(f"cannot change {bad} when resuming; only "
                             f"{sorted(RESUMABLE_OVERRIDES)} may change")
        values = dict(config["train"])
        values.setdefault("views", "per-image")  # runs saved before the batched path existed
        if "epochs" in overrides and "steps" not in overrides:
            values["steps"] = None
        if "steps" in overrides and "epochs" not in overrides:
            values["epochs"] = None
        values |= overrides
        values["out_dir"] = str(overrides.get("out_dir") or directory)
        cfg = TrainConfig.from_dict(values)
        trainer = cls(cfg, dataset=dataset, _resume=(directory, state, config))
        saved = config["data"]
        if trainer.data_description != saved:
            raise ValueError(
                f"the data differs from the data this run was trained on: now "
                f"{trainer.data_description}, in {directory}/config.json {saved}; resume with "
                "the same data (or start a new run)"
            )
        return trainer

    def _load_weights(self, state: dict[str, Tensor]) -> None:
        try:
            self.method.load_state_dict(state)
        except RuntimeError as err:
            raise CheckpointError(f"the checkpoint's weights do not fit the method: {err}") from err

    def _load_train_state(self, directory: Path, config: dict[str, Any]) -> None:
        optimizer_state, extra, _ = checkpoints.load_train_state(directory)
        if extra.get("step") != config.get("step"):
            raise CheckpointError(
                f"{directory}: train_state.json is at step {extra.get('step')} but config.json "
                f"at step {config.get('step')}: the last save was interrupted; resume from a "
                "complete checkpoint"
            )
        self.optimizer.load_state_dict(optimizer_state)
        self.step = int(extra["step"])
        self.elapsed_s = float(extra.get("elapsed_s", 0.0))
        if self.step > self.total_steps:
            raise ValueError(f"the checkpoint is at step {self.step}, beyond the run's "
                             f"{self.total_steps} steps; pass a larger steps= to continue")

    def _append_metrics(self, metrics: Mapping[str, float]) -> None:
        assert self.out_dir is not None
        with open(self.out_dir / checkpoints.METRICS_FILE, "a") as handle:
            handle.write(json.dumps(dict(metrics)) + "\n")

    def _truncate_metrics_log(self) -> None:
        """Drop log lines past the current step (left by a run that stopped between saves)."""
        assert self.out_dir is not None
        path = self.out_dir / checkpoints.METRICS_FILE
        if not path.is_file():
            return
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= self.step]
        if len(kept) != len(lines):
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            os.replace(tmp, path)
