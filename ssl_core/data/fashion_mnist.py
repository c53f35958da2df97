"""Fashion-MNIST: the bundled stratified subset, or the full 60,000 / 10,000 images.

- ``source="bundled"``: the subset committed in the assets (``paths.fashion_mnist_file()``:
  20,000 train images, 2,000 per class, and all 10,000 test images; made by
  ``scripts/make_assets.py``), works offline;
- ``source="full"``: torchvision's ``ROOT/FashionMNIST/raw`` layout, or a folder holding the four
  idx files (Debian's package ``dataset-fashion-mnist``), downloaded through torchvision only
  when asked (``download=True``, failing fast when offline);
- ``source="auto"``: full when present, else bundled.

Decoded arrays are cached in memory (keyed by file, modification time and size) and read-only.
"""

from __future__ import annotations

import functools
import gzip
import socket
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_core import paths
from ssl_core.data.datasets import ArrayImageDataset
from ssl_core.data.decode import DataError

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "load_fashion_mnist",
    "read_idx",
]

# Where Debian's package `dataset-fashion-mnist` installs the original gzipped idx files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_FASHION_LAYOUT = (
    "ROOT/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (torchvision's "
    "layout), or a folder holding those four files directly (like Debian's package "
    f"dataset-fashion-mnist in {DEBIAN_FASHION_MNIST_DIR})"
)
_BUNDLED_KEYS = ("train_images", "train_labels", "test_images", "test_labels",
                 "train_source_index")
_NETWORK_PROBE_TIMEOUT_S = 1.5


def read_idx(path: str | Path) -> np.ndarray:
    """Read a uint8 idx file (``*-ubyte`` or ``*-ubyte.gz``) as a read-only array.

    The idx header is two zero bytes, a type byte (0x08 = uint8), a byte with the number of
    dimensions, then each dimension as a big-endian uint32. Returns e.g. ``(60000, 28, 28)``
    for images and ``(60000,)`` for labels.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise DataError(f"cannot read idx file {path}: {error.strerror or error}") from error
    return _read_idx_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    # mtime and size are part of the cache key so that a replaced file is read again.
    layout = "an idx file: 0x00 0x00 0x08 <ndim> then ndim big-endian uint32 sizes, then uint8 data"
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = Path(path).read_bytes()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path} (expected {layout}): {error}") from error
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08 or data[3] == 0:
        raise DataError(f"{path} is not a uint8 idx file (header {data[:4]!r}); expected {layout}")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{path} is truncated inside its header; expected {layout}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header_size != expected:
        raise DataError(
            f"{path} declares shape {shape} ({expected} bytes of data) but holds "
            f"{len(data) - header_size}; the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)  # read-only


def _find_fashion_files(directory: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) idx files of ``split`` in ``directory`` (plain or .gz), or None."""
    found = []
    for name in _FASHION_FILES[split]:
        candidates = [directory / name, directory / f"{name}.gz"]
        match = next((c for c in candidates if c.is_file()), None)
        if match is None:
            return None
        found.append(match)
    return found[0], found[1]


def _fashion_search_dirs(root: str | Path | None) -> list[Path]:
    if root is None:
        return [paths.data_dir() / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST_DIR]
    root = Path(root)
    return [root / "FashionMNIST" / "raw", root]


def _can_reach(host: str, port: int, timeout: float) -> OSError | None:
    """Try a TCP connection (DNS included) for at most ``timeout`` s; the error, or None if it
    connected. Runs in a daemon thread because name resolution ignores socket timeouts."""
    outcome: dict[str, OSError | None] = {}

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["error"] = None
        except OSError as error:
            outcome["error"] = error

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" not in outcome:
        return TimeoutError(f"no answer within {timeout} s")
    return outcome["error"]


def _download_fashion_mnist(root: Path) -> None:
    """Download the four idx files into ROOT/FashionMNIST/raw through torchvision; fail fast
    (seconds, not a long network timeout) with a clear message when the network is
    unreachable."""
    from torchvision.datasets import FashionMNIST

    url = urllib.parse.urlsplit(FashionMNIST.mirrors[0])
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    error = _can_reach(host, port, _NETWORK_PROBE_TIMEOUT_S)
    if error is not None:
        raise DataError(
            f"cannot download Fashion-MNIST into {root}: no network connection to {host}:{port} "
            f"({error}); this machine looks offline. Use source='bundled', or copy the files "
            f"into {_FASHION_LAYOUT}"
        )
    try:
        FashionMNIST(root=str(root), train=True, download=True)
    except RuntimeError as error:
        raise DataError(f"downloading Fashion-MNIST into {root} failed: {error}") from error


def _load_bundled_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        stat = path.stat()
    except OSError as error:
        raise DataError(
            f"bundled Fashion-MNIST file {path} is missing ({error.strerror}); regenerate it "
            "with `python3 scripts/make_assets.py`"
        ) from error
    return _load_npz_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load_npz_cached(path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    layout = (
        "an .npz with uint8 train_images (N, 28, 28), train_labels (N,), test_images (M, 28, 28), "
        "test_labels (M,) and integer train_source_index (N,)"
    )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as error:  # np.load raises OSError, ValueError, zipfile.BadZipFile, ...
        raise DataError(f"cannot read {path}: {error}; expected {layout}") from error
    missing = [key for key in _BUNDLED_KEYS if key not in arrays]
    if missing:
        raise DataError(f"{path} lacks {missing}; expected {layout}")
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if (
            images.dtype != np.uint8
            or images.ndim != 3
            or labels.dtype != np.uint8
            or labels.shape != images.shape[:1]
        ):
            raise DataError(
                f"{path}: {split}_images {images.dtype}{images.shape} / {split}_labels "
                f"{labels.dtype}{labels.shape} do not match; expected {layout}"
            )
    for array in arrays.values():
        array.flags.writeable = False  # shared by every caller through the cache
    return arrays


def load_fashion_mnist(
    split: str = "train",
    source: str = "bundled",
    root: str | Path | None = None,
    download: bool = False,
    transform: Callable[[torch.Tensor], Any] | None = None,
) -> ArrayImageDataset:
    """Fashion-MNIST as an :class:`ArrayImageDataset` of ``(1, 28, 28)`` uint8 images.

    Args:
        split: ``"train"`` or ``"test"``.
        source: ``"bundled"``: the committed subset (20,000 train = 2,000 per class, all 10,000
            test), works offline. ``"full"``: all 60,000 / 10,000 from ``root`` (torchvision's
            ``ROOT/FashionMNIST/raw`` or a folder with the four idx files), or, with
            ``root=None``, from ``paths.data_dir()/FashionMNIST/raw`` or Debian's
            ``/usr/share/datasets/fashion-mnist``.
            ``"auto"``: full when present, else bundled.
        root: where to look for (and download) the full data.
        download: fetch the full data through torchvision into ``root`` (default
            ``paths.data_dir()``) when it is absent; gives up after a short connection probe
            with a clear message when offline.
        transform: applied to each ``(1, 28, 28)`` uint8 tensor.

    Decoded arrays are cached in memory, so repeated calls share them (read-only).
    """
    if split not in _FASHION_FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if source not in ("bundled", "full", "auto"):
        raise ValueError(f"source must be 'bundled', 'full' or 'auto'; got {source!r}")

    if source in ("full", "auto"):
        dirs = _fashion_search_dirs(root)
        files = next((f for d in dirs if (f := _find_fashion_files(d, split))), None)
        if files is None and download:
            _download_fashion_mnist(Path(root) if root is not None else paths.data_dir())
            files = next((f for d in dirs if (f := _find_fashion_files(d, split))), None)
        if files is not None:
            images, labels = read_idx(files[0]), read_idx(files[1])
            if (
                images.ndim != 3
                or images.shape[1:] != (28, 28)
                or labels.shape != images.shape[:1]
                or (labels.size and labels.max() >= len(FASHION_MNIST_CLASSES))
            ):
                raise DataError(
                    f"{files[0]} {images.shape} and {files[1]} {labels.shape} are not "
                    "Fashion-MNIST: expected images (N, 28, 28) and labels (N,) in 0..9"
                )
            return ArrayImageDataset(images, labels, FASHION_MNIST_CLASSES, transform)
        if source == "full":
            looked = ", ".join(str(d) for d in dirs)
            wanted = " and ".join(f"{name}[.gz]" for name in _FASHION_FILES[split])
            raise DataError(
                f"full Fashion-MNIST {split} files ({wanted}) not found; looked in {looked}. "
                f"Expected {_FASHION_LAYOUT}. Pass download=True (needs network) or use "
                "source='bundled'."
            )

    arrays = _load_bundled_arrays(paths.fashion_mnist_file())
    return ArrayImageDataset(
        arrays[f"{split}_images"], arrays[f"{split}_labels"], FASHION_MNIST_CLASSES, transform
    )


