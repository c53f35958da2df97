"""Datasets that follow one contract, and the loaders that make them from files on disk.

``dataset[i] -> (image, label)`` with ``image`` a ``torch.uint8`` tensor ``(C, H, W)`` (``C = 1``
for grayscale, 3 for colour) passed through the dataset's ``transform`` when one is given, and
``label`` a Python ``int`` (``-1`` for unlabelled images); ``dataset.labels`` is an int64 array
``(N,)`` and ``dataset.classes`` a tuple of class names (empty when there are none).

- :class:`ArrayImageDataset` (images in memory), :class:`ImageFileDataset` (files decoded on
  access), :class:`TorchvisionImageDataset` (a torchvision dataset adapted to the contract);
- :func:`list_photos` / :func:`load_photo` / :func:`load_photos`: the bundled colour photos;
- :func:`load_image_folder`, :func:`load_cifar10`, :func:`load_stl10`: data a user has on disk;
- :func:`subset_indices` / :func:`array_subset`: fixed, nested random subsets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ssl_core import paths
from ssl_core.data.decode import IMAGE_EXTENSIONS, DataError, load_image
from ssl_core.data.walk import DEFAULT_LIMITS, WalkLimits, scan_image_folder
from ssl_core.images import to_chw_uint8

__all__ = [
    "ArrayImageDataset",
    "ImageFileDataset",
    "TorchvisionImageDataset",
    "array_subset",
    "draw_order",
    "list_photos",
    "load_cifar10",
    "load_image_folder",
    "load_photo",
    "load_photos",
    "load_stl10",
    "subset_indices",
]


class ArrayImageDataset(Dataset):
    """Images held in memory as one uint8 array.

    Args:
        images: uint8 ``(N, H, W)`` (grayscale) or ``(N, H, W, C)``; kept as is, not copied.
        labels: ``N`` integer labels (``-1`` = unlabelled).
        classes: class names; ``labels`` index into it.
        transform: called on each ``(C, H, W)`` uint8 tensor (e.g. a torchvision v2 pipeline).

    ``dataset[i] -> (image (C, H, W) uint8 tensor or transform(image), int label)``.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: Sequence[int] | np.ndarray,
        classes: Sequence[str] = (),
        transform: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError(
                "images must be a uint8 array (N, H, W) or (N, H, W, C); "
                f"got dtype {images.dtype} with shape {images.shape}"
            )
        labels_array = np.asarray(labels, dtype=np.int64)
        if labels_array.shape != (len(images),):
            raise ValueError(
                f"labels must have shape ({len(images)},) to match the images; "
                f"got {labels_array.shape}"
            )
        self.classes: tuple[str, ...] = tuple(classes)
        if self.classes and labels_array.size and (
            labels_array.min() < -1 or labels_array.max() >= len(self.classes)
        ):
            raise ValueError(
                f"labels must lie in [-1, {len(self.classes) - 1}] for {len(self.classes)} "
                f"classes; got range [{labels_array.min()}, {labels_array.max()}]"
            )
        self.images = images
        self.labels = labels_array
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = to_chw_uint8(self.images[index])  # (C, H, W) uint8, a writable copy
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


class ImageFileDataset(Dataset):
    """Image files decoded on access with :func:`load_image`.

    ``dataset[i] -> (image (C, H, W) uint8 tensor or transform(image), int label)``; ``files``
    lists the paths, ``labels`` their labels (``-1`` = unlabelled), ``classes`` the class names.
    ``mode="RGB"`` converts every image to 3 channels (so batches stack); ``None`` keeps each
    file's own channels (1 for grayscale, 3 for colour). ``max_side`` shrinks each image while
    it is decoded (:func:`load_image`) so its longer side is at most that; None: full size.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        labels: Sequence[int] | np.ndarray,
        classes: Sequence[str] = (),
        transform: Callable[[torch.Tensor], Any] | None = None,
        *,
        mode: str | None = "RGB",
        max_side: int | None = None,
    ) -> None:
        self.files = [Path(f) for f in files]
        self.max_side = max_side
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.labels.shape != (len(self.files),):
            raise ValueError(
                f"labels must have shape ({len(self.files)},); got {self.labels.shape}"
            )
        self.classes: tuple[str, ...] = tuple(classes)
        self.transform = transform
        self.mode = mode

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = to_chw_uint8(load_image(self.files[index], mode=self.mode,
                                        max_side=self.max_side))  # (C, H, W)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


class TorchvisionImageDataset(Dataset):
    """Wraps a torchvision dataset that yields ``(PIL image, label)`` to follow the contract above.

    ``base`` is the torchvision dataset, ``labels`` an int64 array, ``classes`` a tuple.
    """

    def __init__(
        self,
        base: Dataset,
        labels: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        transform: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        self.base = base
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes: tuple[str, ...] = tuple(classes)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        from torchvision.transforms.v2.functional import pil_to_tensor

        pil_image, label = self.base[index]
        image = pil_to_tensor(pil_image)  # (C, H, W) uint8
        if self.transform is not None:
            image = self.transform(image)
        return image, int(label)


def _photo_files() -> dict[str, Path]:
    if not paths.photos_dir().is_dir():
        raise DataError(
            f"photo folder {paths.photos_dir()} is missing; regenerate it with "
            "`python3 scripts/make_assets.py`"
        )
    files: dict[str, Path] = {}
    for path in sorted(paths.photos_dir().iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            if path.stem in files:
                raise DataError(f"two photos share the name {path.stem!r} in {paths.photos_dir()}")
            files[path.stem] = path
    return files


def list_photos() -> list[str]:
    """Sorted names (file stems) of the colour photos in ``assets/images/``."""
    return sorted(_photo_files())


def load_photo(name: str) -> np.ndarray:
    """The bundled photo ``name`` (see :func:`list_photos`) as uint8 ``(H, W, 3)``."""
    files = _photo_files()
    if name not in files:
        raise DataError(f"unknown photo {name!r}; valid names: {', '.join(sorted(files))}")
    return load_image(files[name], mode="RGB")


def load_photos() -> dict[str, np.ndarray]:
    """All bundled photos: name -> uint8 ``(H, W, 3)``, in sorted name order."""
    return {name: load_photo(name) for name in list_photos()}


def load_image_folder(
    path: str | Path,
    transform: Callable[[torch.Tensor], Any] | None = None,
    *,
    mode: str | None = "RGB",
    limits: WalkLimits = DEFAULT_LIMITS,
    max_side: int | None = None,
) -> ImageFileDataset:
    """Images in a folder, as an :class:`ImageFileDataset`.

    ``path/<class>/<image>`` (one sub-folder per class, its images found recursively like
    torchvision's ImageFolder) gives labels ``0..K-1`` in sorted class order; a flat
    ``path/<image>`` gives label ``-1`` and no classes. Extensions: ``IMAGE_EXTENSIONS``. Files
    are decoded on access, converted to RGB unless ``mode=None``. The folder is listed by
    :func:`~ssl_core.data.walk.walk_images`: links leaving ``path`` are not followed, hidden
    entries are skipped, and ``limits`` bounds the files, depth and seconds of the listing
    (:class:`~ssl_core.data.walk.WalkLimitError` past them). ``max_side``: as
    :class:`ImageFileDataset`'s.
    """
    root = Path(path)
    layout = (
        f"either {root}/<class>/<image> (one sub-folder per class) or {root}/<image> (flat), "
        f"with images ending in {', '.join(IMAGE_EXTENSIONS)}"
    )
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder; expected {layout}")
    top_images, scanned = scan_image_folder(root, limits=limits)
    class_dirs = [d for d, _ in scanned]
    per_class = [found for _, found in scanned]
    nested = [d for d, found in zip(class_dirs, per_class, strict=True) if found]

    if nested and top_images:
        raise DataError(
            f"{root} has both images at the top ({top_images[0].name}, ...) and class "
            f"sub-folders ({nested[0].name}, ...); expected {layout}"
        )
    if nested:
        # Like torchvision's find_classes, but hidden folders (.git, .ipynb_checkpoints) are not
        # classes, and a class folder without images is an error, as there.
        empty = [d.name for d, found in zip(class_dirs, per_class, strict=True) if not found]
        if empty:
            raise DataError(f"Found no valid file for the classes {', '.join(empty)}; "
                            f"expected {layout}")
        files = [f for found in per_class for f in found]
        labels = [i for i, found in enumerate(per_class) for _ in found]
        return ImageFileDataset(files, labels, [d.name for d in class_dirs], transform, mode=mode,
                                max_side=max_side)
    if top_images:
        return ImageFileDataset(top_images, [-1] * len(top_images), (), transform, mode=mode,
                                max_side=max_side)
    raise DataError(f"no images found in {root}; expected {layout}")


def _open_torchvision(what: str, folder: Path, names: Sequence[str], layout: str,
                      make: Callable[[], Any]) -> Any:
    """``make()`` (a torchvision dataset) once ``folder`` holds ``names``; DataError naming the
    missing files, or saying why torchvision could not read them, with the ``layout`` expected."""
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)}; expected {layout}")
    try:
        return make()
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        raise DataError(f"{what} in {folder} is unreadable: {error}; expected {layout}") from error


def load_cifar10(
    path: str | Path,
    train: bool = True,
    transform: Callable[[torch.Tensor], Any] | None = None,
) -> TorchvisionImageDataset:
    """CIFAR-10 from ``path/cifar-10-batches-py`` (torchvision's layout; never downloads).

    Items are ``((3, 32, 32) uint8 tensor, label)``. torchvision verifies each file's MD5. The
    batches are Python pickles: only load files you trust.
    """
    from torchvision.datasets import CIFAR10

    folder = Path(path) / CIFAR10.base_folder
    names = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list]
    names.append(CIFAR10.meta["filename"])
    layout = (
        f"{folder}/ holding the pickled batches {', '.join(names)} "
        "(the python version of CIFAR-10, cifar-10-python.tar.gz, unpacked)"
    )
    base = _open_torchvision("CIFAR-10", folder, names, layout,
                             lambda: CIFAR10(root=str(path), train=train, download=False))
    return TorchvisionImageDataset(base, base.targets, base.classes, transform)


def load_stl10(
    path: str | Path,
    split: str = "train",
    transform: Callable[[torch.Tensor], Any] | None = None,
) -> TorchvisionImageDataset:
    """STL-10 from ``path/stl10_binary`` (torchvision's layout; never downloads).

    ``split`` is ``"train"``, ``"test"``, ``"unlabeled"`` or ``"train+unlabeled"``; unlabelled
    images have label ``-1``. Items are ``((3, 96, 96) uint8 tensor, label)``. torchvision
    verifies each file's MD5.
    """
    from torchvision.datasets import STL10

    if split not in STL10.splits:
        raise ValueError(f"split must be one of {STL10.splits}; got {split!r}")
    folder = Path(path) / STL10.base_folder
    names = [name for name, _ in STL10.train_list + STL10.test_list]
    layout = (
        f"{folder}/ holding {', '.join(names)} and class_names.txt "
        "(stl10_binary.tar.gz unpacked)"
    )
    base = _open_torchvision("STL-10", folder, names, layout,
                             lambda: STL10(root=str(path), split=split, download=False))
    return TorchvisionImageDataset(base, base.labels, getattr(base, "classes", ()), transform)


# ----------------------------------------------------------------------------------------------
# Fixed random subsets
# ----------------------------------------------------------------------------------------------


def draw_order(total: int, *, seed: int = 0) -> np.ndarray:
    """The order in which :func:`subset_indices` draws ``range(total)`` with ``seed``: its first
    ``n`` entries are the subset of size ``n`` (unsorted), int64 ``(total,)``."""
    if total < 1:
        raise ValueError(f"total must be >= 1 (there must be items to choose from); got {total}")
    return np.random.default_rng(seed).permutation(total).astype(np.int64)


def subset_indices(total: int, n: int, *, seed: int = 0) -> np.ndarray:
    """``min(n, total)`` distinct indices of ``range(total)``, drawn with ``seed``, sorted (int64).

    The draw is nested: for one seed, the first 500 chosen are inside the first 2,000, so a
    growing subset keeps the items it had.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    order = draw_order(total, seed=seed)  # (total,)
    return np.sort(order[: min(n, total)])


def array_subset(dataset: Any, n: int | None = None, *, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` arrays of an in-memory dataset (:class:`ArrayImageDataset`), or of
    its fixed random subset of ``n`` items (:func:`subset_indices`; None: all of it)."""
    images, labels = dataset.images, np.asarray(dataset.labels)
    if n is not None and n < len(labels):
        keep = subset_indices(len(labels), n, seed=seed)
        images, labels = images[keep], labels[keep]
    return np.asarray(images), labels
