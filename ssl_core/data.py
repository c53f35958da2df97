"""Datasets for SSL Explorer: bundled Fashion-MNIST and photos, folders, CIFAR-10 and STL-10.

Every dataset returned here follows one contract, so views, training and evaluation need not care
where images came from:

- ``dataset[i] -> (image, label)`` with ``image`` a ``torch.uint8`` tensor ``(C, H, W)`` (``C = 1``
  for grayscale, 3 for colour) passed through the dataset's ``transform`` when one is given, and
  ``label`` a Python ``int`` (``-1`` for unlabelled images);
- ``dataset.labels``: ``np.ndarray`` of int64, shape ``(N,)``; ``dataset.classes``: tuple of class
  names (empty when there are none).

Sources:

- :func:`load_fashion_mnist` -- the stratified subset committed in ``assets/fashion_mnist.npz``
  (``source="bundled"``, works offline, made by ``scripts/make_assets.py``), or the full
  60,000 / 10,000 images from torchvision's layout or the Debian package ``dataset-fashion-mnist``
  (``source="full"``), or whichever is present (``source="auto"``).
- :func:`list_photos` / :func:`load_photo` -- the colour photos in ``assets/images/``.
- :func:`load_image_folder`, :func:`load_cifar10`, :func:`load_stl10` -- data a user has on disk.
- :func:`decode_image` / :func:`load_image` -- safe decoding of untrusted image bytes (uploads).

Missing or malformed data raises :class:`DataError`, whose message names the path and the layout
that was expected.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import socket
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

__all__ = [
    "ASSETS_DIR",
    "BUNDLED_FASHION_MNIST",
    "DATA_DIR",
    "DEBIAN_FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "PHOTOS_DIR",
    "ArrayImageDataset",
    "DataError",
    "ImageFileDataset",
    "TorchvisionImageDataset",
    "decode_image",
    "file_sha256",
    "list_photos",
    "load_cifar10",
    "load_fashion_mnist",
    "load_image",
    "load_image_folder",
    "load_photo",
    "load_photos",
    "load_stl10",
    "read_idx",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
BUNDLED_FASHION_MNIST = ASSETS_DIR / "fashion_mnist.npz"
PHOTOS_DIR = ASSETS_DIR / "images"
# Default root for user data and downloads (git-ignored): DATA_DIR/FashionMNIST/raw/...
DATA_DIR = REPO_ROOT / "data"
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
# torchvision.datasets.folder.IMG_EXTENSIONS (so folders behave like ImageFolder) plus .gif:
# Pillow decodes it (an animated GIF gives its first frame), and phones share GIFs.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif",
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


class DataError(ValueError):
    """Data is missing, malformed or unsafe; the message names the path and the expected layout."""


# ----------------------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------------------


def _to_chw_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) uint8 array -> a fresh, writable uint8 tensor (C, H, W)."""
    if image.ndim == 2:
        return torch.from_numpy(image[None].copy())  # (1, H, W)
    return torch.from_numpy(np.moveaxis(image, -1, 0).copy())  # (C, H, W)


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
        image = _to_chw_tensor(self.images[index])  # (C, H, W) uint8
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


class ImageFileDataset(Dataset):
    """Image files decoded on access with :func:`load_image`.

    ``dataset[i] -> (image (C, H, W) uint8 tensor or transform(image), int label)``; ``files``
    lists the paths, ``labels`` their labels (``-1`` = unlabelled), ``classes`` the class names.
    ``mode="RGB"`` converts every image to 3 channels (so batches stack); ``None`` keeps each
    file's own channels (1 for grayscale, 3 for colour).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        labels: Sequence[int] | np.ndarray,
        classes: Sequence[str] = (),
        transform: Callable[[torch.Tensor], Any] | None = None,
        *,
        mode: str | None = "RGB",
    ) -> None:
        self.files = [Path(f) for f in files]
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
        image = _to_chw_tensor(load_image(self.files[index], mode=self.mode))  # (C, H, W)
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


# ----------------------------------------------------------------------------------------------
# Fashion-MNIST
# ----------------------------------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
        return [DATA_DIR / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST_DIR]
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
    (about 1.5 s) with a clear message when the network is unreachable."""
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
            ``ROOT/FashionMNIST/raw`` or a folder with the four idx files), or, with ``root=None``,
            from ``DATA_DIR/FashionMNIST/raw`` or Debian's ``/usr/share/datasets/fashion-mnist``.
            ``"auto"``: full when present, else bundled.
        root: where to look for (and download) the full data.
        download: fetch the full data through torchvision into ``root`` (default ``DATA_DIR``)
            when it is absent; fails within about 1.5 s with a clear message when offline.
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
            _download_fashion_mnist(Path(root) if root is not None else DATA_DIR)
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

    arrays = _load_bundled_arrays(BUNDLED_FASHION_MNIST)
    return ArrayImageDataset(
        arrays[f"{split}_images"], arrays[f"{split}_labels"], FASHION_MNIST_CLASSES, transform
    )


# ----------------------------------------------------------------------------------------------
# Decoding untrusted images
# ----------------------------------------------------------------------------------------------


def _composite_on_white(image: Image.Image, mode: str) -> np.ndarray:
    """Alpha-composite an ``LA`` / ``RGBA`` image on white -> (H, W) or (H, W, 3) uint8."""
    pixels = np.asarray(image.convert(mode), dtype=np.float32)  # (H, W, 2 or 4)
    colour, alpha = pixels[..., :-1], pixels[..., -1:] / 255.0
    blended = colour * alpha + 255.0 * (1.0 - alpha)
    out = np.rint(blended).astype(np.uint8)
    return out[..., 0] if mode == "LA" else out


def _to_uint8_array(image: Image.Image) -> np.ndarray:
    """A decoded PIL image in any mode -> (H, W) uint8 (grayscale) or (H, W, 3) uint8."""
    mode = image.mode
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"))
    if mode.startswith("I;16"):
        values = np.asarray(image).astype(np.uint32)
        return ((values * 255 + 32767) // 65535).astype(np.uint8)  # 65535 -> 255, rounded
    if mode in ("I", "F"):
        # 32-bit int / float: assume 8-bit range if it fits, else 16-bit range.
        values = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
        scale = 255.0 / 65535.0 if values.max() > 255 else 1.0
        return np.rint(values * scale).astype(np.uint8)
    if mode in ("LA", "La"):
        return _composite_on_white(image, "LA")
    if mode == "P":
        mode = "RGBA" if "transparency" in image.info else "RGB"
        image = image.convert(mode)
    if mode in ("RGBA", "RGBa", "PA"):
        return _composite_on_white(image, "RGBA")
    return np.asarray(image.convert("RGB"))  # RGB, CMYK, YCbCr, LAB, HSV, RGBX, ...


def decode_image(
    data: bytes, *, max_pixels: int = 40_000_000, mode: str | None = None
) -> np.ndarray:
    """Decode untrusted image bytes (an upload) -> uint8 ``(H, W, 3)`` colour or ``(H, W)`` gray.

    The header is checked against ``max_pixels`` before any pixel is decoded (decompression
    bombs); EXIF orientation is applied; an animated image gives its first frame; CMYK, palette
    and the like become RGB; alpha is composited on white; 16-bit images are scaled to 8 bits.
    ``mode="RGB"`` or ``"L"`` forces 3 channels or 1. Pillow's own global pixel limit
    (``Image.MAX_IMAGE_PIXELS``) still applies on top of ``max_pixels``.

    Raises:
        DataError: empty, truncated, corrupt, not an image, or larger than ``max_pixels``.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1; got {max_pixels}")
    if mode not in (None, "RGB", "L"):
        raise ValueError(f"mode must be None, 'RGB' or 'L'; got {mode!r}")
    data = bytes(data)
    if not data:
        raise DataError("cannot decode image: the data is empty (0 bytes)")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size  # from the header; nothing decoded yet
                if width * height > max_pixels:
                    raise DataError(
                        f"image is {width}x{height} = {width * height:,} pixels, more than "
                        f"max_pixels={max_pixels:,}: refusing to decode (possible "
                        "decompression bomb); downscale it or raise max_pixels"
                    )
                opened.seek(0)  # first frame of an animation
                opened.load()
                image = ImageOps.exif_transpose(opened)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(f"refusing to decode a possible decompression bomb: {error}") from error
    except UnidentifiedImageError as error:
        raise DataError(
            f"not a recognised image format ({len(data)} bytes starting {data[:8]!r}); "
            "expected PNG, JPEG, GIF, WebP, BMP, TIFF or another format Pillow reads"
        ) from error
    except ImportError:
        raise
    except Exception as error:  # untrusted input: any failure inside the decoder is bad data
        raise DataError(
            f"corrupt or truncated image data ({len(data)} bytes): "
            f"{type(error).__name__}: {error}"
        ) from error

    array = _to_uint8_array(image)
    if mode == "RGB" and array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)  # (H, W, 3)
    elif mode == "L" and array.ndim == 3:
        array = np.asarray(Image.fromarray(array, "RGB").convert("L"))  # (H, W)
    return np.ascontiguousarray(array)


def load_image(
    path: str | Path, *, max_pixels: int = 40_000_000, mode: str | None = None
) -> np.ndarray:
    """Decode an image file with :func:`decode_image`; errors name the path."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read image file {path}: {error.strerror or error}") from error
    try:
        return decode_image(data, max_pixels=max_pixels, mode=mode)
    except DataError as error:
        raise DataError(f"{path}: {error}") from error


# ----------------------------------------------------------------------------------------------
# Bundled photos
# ----------------------------------------------------------------------------------------------


def _photo_files() -> dict[str, Path]:
    if not PHOTOS_DIR.is_dir():
        raise DataError(
            f"photo folder {PHOTOS_DIR} is missing; regenerate it with "
            "`python3 scripts/make_assets.py`"
        )
    files: dict[str, Path] = {}
    for path in sorted(PHOTOS_DIR.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            if path.stem in files:
                raise DataError(f"two photos share the name {path.stem!r} in {PHOTOS_DIR}")
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


# ----------------------------------------------------------------------------------------------
# Data from a path: image folders, CIFAR-10, STL-10
# ----------------------------------------------------------------------------------------------


def _is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def load_image_folder(
    path: str | Path,
    transform: Callable[[torch.Tensor], Any] | None = None,
    *,
    mode: str | None = "RGB",
) -> ImageFileDataset:
    """Images in a folder, as an :class:`ImageFileDataset`.

    ``path/<class>/<image>`` (one sub-folder per class, found like torchvision's ImageFolder)
    gives labels ``0..K-1`` in sorted class order; a flat ``path/<image>`` gives label ``-1``
    and no classes. Extensions: ``IMAGE_EXTENSIONS``. Files are decoded on access, converted to
    RGB unless ``mode=None``.
    """
    from torchvision.datasets.folder import make_dataset

    root = Path(path)
    layout = (
        f"either {root}/<class>/<image> (one sub-folder per class) or {root}/<image> (flat), "
        f"with images ending in {', '.join(IMAGE_EXTENSIONS)}"
    )
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder; expected {layout}")
    top_images = sorted(p for p in root.iterdir() if _is_image_file(p))
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    nested = [d for d in class_dirs if any(_is_image_file(p) for p in d.rglob("*"))]

    if nested and top_images:
        raise DataError(
            f"{root} has both images at the top ({top_images[0].name}, ...) and class "
            f"sub-folders ({nested[0].name}, ...); expected {layout}"
        )
    if nested:
        # Like torchvision's find_classes, but hidden folders (.git, .ipynb_checkpoints) are not
        # classes.
        classes = [d.name for d in class_dirs]
        class_to_idx = {name: i for i, name in enumerate(classes)}
        try:
            samples = make_dataset(root, class_to_idx, extensions=IMAGE_EXTENSIONS)
        except FileNotFoundError as error:  # a class folder without images
            raise DataError(f"{error}; expected {layout}") from error
        files, labels = zip(*samples, strict=True)
        return ImageFileDataset(files, labels, classes, transform, mode=mode)
    if top_images:
        return ImageFileDataset(top_images, [-1] * len(top_images), (), transform, mode=mode)
    raise DataError(f"no images found in {root}; expected {layout}")


def _check_layout(folder: Path, names: Sequence[str], layout: str) -> None:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)}; expected {layout}")


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
    _check_layout(folder, names, layout)
    try:
        base = CIFAR10(root=str(path), train=train, download=False)
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        raise DataError(
            f"CIFAR-10 in {folder} is unreadable: {error}; expected {layout}"
        ) from error
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
    _check_layout(folder, names, layout)
    try:
        base = STL10(root=str(path), split=split, download=False)
    except (RuntimeError, OSError, ValueError) as error:
        raise DataError(f"STL-10 in {folder} is unreadable: {error}; expected {layout}") from error
    return TorchvisionImageDataset(base, base.labels, getattr(base, "classes", ()), transform)
