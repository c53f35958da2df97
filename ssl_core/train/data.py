"""The data of a pretraining run: the dataset of a data spec, the method's views, and batch s.

1. :func:`load_train_data` turns a data spec (``"bundled"``, ``"fashion-mnist-full"``, an image
   folder, ``"cifar10:PATH"``, ``"stl10:PATH"``) into a dataset plus a JSON description with the
   sha256 of what was read.
2. :func:`view_pipeline` builds the method's views (SimCLR two views, DINO multi-crop, MAE
   crop+flip) at the backbone's input size, one image at a time; :func:`batch_view_pipeline`
   makes the same views for a whole in-memory batch at once.
3. :class:`StepBatches` makes batch ``s`` of the run as a function of ``(seed, s)`` only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ssl_core import checkpoints
from ssl_core.train.config import (
    DEFAULT_BACKBONES,
    STREAM_ORDER,
    STREAM_SUBSET,
    STREAM_VIEWS,
    TrainConfig,
    derive_seed,
)

__all__ = [
    "StepBatches",
    "batch_view_pipeline",
    "describe_dataset",
    "load_train_data",
    "run_dataset",
    "step_batches",
    "view_pipeline",
]


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
        order = np.random.default_rng(derive_seed(0, STREAM_SUBSET)).permutation(len(dataset))
        dataset = _Subset(dataset, np.sort(order[:limit_images]))
        description["limit_images"] = limit_images
    description["n_images"] = len(dataset)
    if repeat > 1:
        dataset = _Subset(dataset, np.tile(np.arange(len(dataset)), repeat))
        description["repeat"] = repeat
    return dataset, description


def describe_dataset(dataset: Any) -> dict[str, Any]:
    """The JSON description of a dataset given directly (spec ``\"custom\"``): its size, and the
    sha256 of its arrays when it holds them in memory."""
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
    (:class:`ssl_core.augment.batched.BatchViews`): same configs, same parameter distributions."""
    from ssl_core import augment as A
    from ssl_core.augment.batched import BatchViews

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
            generator = torch.Generator().manual_seed(derive_seed(self.seed, STREAM_ORDER, epoch))
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
                    seed = derive_seed(self.seed, STREAM_VIEWS, step, j)
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
        generator = torch.Generator().manual_seed(derive_seed(self.seed, STREAM_VIEWS, step))
        keep = slice(first, first + self.batch_size)
        return self.batch_views(batch, generator=generator, keep=keep)  # type: ignore[misc]


def run_dataset(cfg: TrainConfig, dataset: Dataset | None = None
                ) -> tuple[Dataset, dict[str, Any]]:
    """The dataset a run trains on (``cfg.data``'s unless one is given) and its description."""
    if dataset is None:
        dataset, description = load_train_data(
            cfg.data, root=cfg.data_root, limit_images=cfg.limit_images, repeat=cfg.repeat_data,
        )
    else:
        description = describe_dataset(dataset)
    if len(dataset) == 0:
        raise ValueError("the dataset is empty")
    return dataset, description


def step_batches(cfg: TrainConfig, dataset: Dataset, *, sample: Tensor, channels: int,
                 world_size: int = 1, rank: int = 0) -> StepBatches:
    """The run's batch stream: the method's views at the backbone's input size (``sample``'s
    size when the backbone states none), batched when ``cfg.views`` says so."""
    info: dict[str, Any] = {}
    if cfg.backbone:
        from ssl_core.models.registry import backbone_config

        info = backbone_config(cfg.backbone, **cfg.backbone_kwargs)
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
    return StepBatches(dataset, views, seed=cfg.seed, batch_size=cfg.batch_size,
                       world_size=world_size, rank=rank, batch_views=batch_views)
