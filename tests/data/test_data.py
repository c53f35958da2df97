"""Tests for ssl_core.data: bundled assets, loaders for data on disk, safe image decoding."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image, ImageFile

from ssl_core import paths
from ssl_core.checkpoints import file_sha256
from ssl_core.data import (
    DEBIAN_FASHION_MNIST_DIR,
    FASHION_MNIST_CLASSES,
    ArrayImageDataset,
    DataError,
    decode_image,
    draw_order,
    list_photos,
    load_cifar10,
    load_fashion_mnist,
    load_image,
    load_image_folder,
    load_photo,
    load_photos,
    load_stl10,
    read_idx,
    subset_indices,
)

HAS_DEBIAN_FASHION = (DEBIAN_FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the idx format (header: 0 0 0x08 ndim, big-endian sizes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        struct.pack(">I", n) for n in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_fake_fashion(folder: Path, *, n_train: int = 6, n_test: int = 4, gz: bool = False):
    """Tiny Fashion-MNIST idx files in ``folder``; returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
        else:
            (folder / name).write_bytes(idx_bytes(array))
    return arrays


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width x height`` RGB pixels but holds no pixel data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------------------------
# bundled Fashion-MNIST
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> dict[str, np.ndarray]:
    with np.load(paths.fashion_mnist_file(), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def test_bundled_file_is_one_compact_npz():
    assert paths.fashion_mnist_file().stat().st_size <= 16 * 1024 * 1024


def test_bundled_arrays_have_documented_shapes_and_dtypes(bundled):
    assert bundled["train_images"].shape == (20000, 28, 28)
    assert bundled["test_images"].shape == (10000, 28, 28)
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        assert bundled[key].dtype == np.uint8, key
    assert bundled["train_labels"].shape == (20000,)
    assert bundled["test_labels"].shape == (10000,)
    assert tuple(bundled["classes"]) == FASHION_MNIST_CLASSES


def test_bundled_train_is_stratified_and_traceable(bundled):
    assert np.bincount(bundled["train_labels"], minlength=10).tolist() == [2000] * 10
    assert np.bincount(bundled["test_labels"], minlength=10).tolist() == [1000] * 10
    index = bundled["train_source_index"]
    assert index.shape == (20000,)
    assert np.all(np.diff(index) > 0), "source indices must be unique and sorted"
    assert index.min() >= 0 and index.max() < 60000


@pytest.mark.skipif(not HAS_DEBIAN_FASHION, reason="Debian package dataset-fashion-mnist absent")
def test_bundled_subset_maps_to_the_original_debian_data(bundled):
    full_train = load_fashion_mnist("train", source="full", root=DEBIAN_FASHION_MNIST_DIR)
    full_test = load_fashion_mnist("test", source="full", root=DEBIAN_FASHION_MNIST_DIR)
    assert len(full_train) == 60000 and len(full_test) == 10000
    index = bundled["train_source_index"]
    np.testing.assert_array_equal(full_train.images[index], bundled["train_images"])
    np.testing.assert_array_equal(full_train.labels[index], bundled["train_labels"])
    np.testing.assert_array_equal(full_test.images, bundled["test_images"])
    np.testing.assert_array_equal(full_test.labels, bundled["test_labels"])


def test_load_fashion_mnist_bundled_items_follow_the_contract():
    calls = []

    def transform(image: torch.Tensor) -> torch.Tensor:
        calls.append(image.shape)
        return image.float() / 255

    train = load_fashion_mnist("train")
    test = load_fashion_mnist("test", transform=transform)
    assert (len(train), len(test)) == (20000, 10000)
    assert train.classes == FASHION_MNIST_CLASSES
    image, label = train[3]
    assert image.dtype == torch.uint8 and image.shape == (1, 28, 28)
    assert isinstance(label, int) and label == int(train.labels[3])
    np.testing.assert_array_equal(image[0].numpy(), train.images[3])
    scaled, _ = test[0]
    assert calls == [torch.Size([1, 28, 28])] and scaled.dtype == torch.float32
    assert float(scaled.max()) <= 1.0


def test_load_fashion_mnist_caches_decoded_arrays():
    first, second = load_fashion_mnist("train"), load_fashion_mnist("train")
    assert first.images is second.images
    assert not first.images.flags.writeable, "cached arrays are shared, so read-only"
    original = int(first.images[0, 0, 0])
    image, _ = first[0]
    image[0, 0, 0] = 255 - original  # the item is a fresh copy: writing to it is harmless
    assert int(first.images[0, 0, 0]) == original


# ----------------------------------------------------------------------------------------------
# full Fashion-MNIST from a path
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_full_loader_reads_torchvision_layout(tmp_path, gz):
    arrays = write_fake_fashion(tmp_path / "FashionMNIST" / "raw", gz=gz)
    train = load_fashion_mnist("train", source="full", root=tmp_path)
    test = load_fashion_mnist("test", source="full", root=tmp_path)
    np.testing.assert_array_equal(train.images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(train.labels, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(test.images, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(test.labels, arrays["t10k-labels-idx1-ubyte"])
    assert train.classes == FASHION_MNIST_CLASSES


def test_full_loader_accepts_a_folder_holding_the_files(tmp_path):
    arrays = write_fake_fashion(tmp_path, gz=True)  # Debian's layout: files directly in ROOT
    test = load_fashion_mnist("test", source="full", root=tmp_path)
    np.testing.assert_array_equal(test.images, arrays["t10k-images-idx3-ubyte"])


def test_auto_prefers_full_data_and_falls_back_to_bundled(tmp_path):
    write_fake_fashion(tmp_path / "FashionMNIST" / "raw", n_train=6)
    assert len(load_fashion_mnist("train", source="auto", root=tmp_path)) == 6
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(load_fashion_mnist("train", source="auto", root=empty)) == 20000


def test_full_loader_missing_names_path_and_layout(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path))) as info:
        load_fashion_mnist("train", source="full", root=tmp_path)
    assert "FashionMNIST/raw" in str(info.value)
    assert "train-images-idx3-ubyte" in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00\x0d\x03" + b"\x00" * 12, "not a uint8 idx file"),  # float type code
        (b"hello", "not a uint8 idx file"),
        (idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-5], "truncated or corrupt"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated inside its header"),
    ],
)
def test_malformed_idx_file_names_the_file(tmp_path, content, message):
    write_fake_fashion(tmp_path)
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        load_fashion_mnist("train", source="full", root=tmp_path)
    assert str(bad) in str(info.value)


def test_idx_with_wrong_image_size_is_rejected(tmp_path):
    write_fake_fashion(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((6, 27, 27), np.uint8)))
    with pytest.raises(DataError, match=r"expected images \(N, 28, 28\) and labels"):
        load_fashion_mnist("train", source="full", root=tmp_path)


def test_idx_labels_outside_the_ten_classes_are_rejected(tmp_path):
    write_fake_fashion(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([0, 1, 10, 2], np.uint8)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*labels \(N,\) in 0\.\.9"):
        load_fashion_mnist("test", source="full", root=tmp_path)


def test_broken_gzip_is_a_data_error(tmp_path):
    write_fake_fashion(tmp_path, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="cannot read .*train-labels-idx1-ubyte.gz"):
        load_fashion_mnist("train", source="full", root=tmp_path)


def test_read_idx_rereads_a_replaced_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.array([1, 2, 3], np.uint8)))
    first = read_idx(path)
    assert read_idx(path) is first  # cached
    path.write_bytes(idx_bytes(np.array([4, 5, 6, 7], np.uint8)))
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    np.testing.assert_array_equal(read_idx(path), [4, 5, 6, 7])


def test_bundled_file_missing_or_malformed(tmp_path, monkeypatch):
    missing = tmp_path / "nothing.npz"
    monkeypatch.setattr(paths, "fashion_mnist_file", lambda: missing)
    with pytest.raises(DataError, match=r"nothing\.npz.*make_assets\.py"):
        load_fashion_mnist("train")
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("not a zip")
    monkeypatch.setattr(paths, "fashion_mnist_file", lambda: garbage)
    with pytest.raises(DataError, match=r"garbage\.npz.*train_images \(N, 28, 28\)"):
        load_fashion_mnist("train")
    partial = tmp_path / "partial.npz"
    np.savez(partial, train_images=np.zeros((2, 28, 28), np.uint8))
    monkeypatch.setattr(paths, "fashion_mnist_file", lambda: partial)
    with pytest.raises(DataError, match=r"partial\.npz lacks .*train_labels"):
        load_fashion_mnist("train")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"split": "val"}, "split must be 'train' or 'test'"), ({"source": "web"}, "source must be")],
)
def test_fashion_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_fashion_mnist(**kwargs)


# ----------------------------------------------------------------------------------------------
# download: only on request, failing fast offline
# ----------------------------------------------------------------------------------------------


class FakeFashionMNIST:
    """Stands in for torchvision's FashionMNIST: 'downloads' tiny files to ROOT/FashionMNIST/raw."""

    mirrors = torchvision.datasets.FashionMNIST.mirrors
    calls: list[tuple[str, bool, bool]] = []

    def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
        FakeFashionMNIST.calls.append((root, train, download))
        write_fake_fashion(Path(root) / "FashionMNIST" / "raw", n_train=8, gz=True)


@pytest.fixture
def forbid_torchvision_download(monkeypatch):
    class Forbidden(FakeFashionMNIST):
        def __init__(self, *args, **kwargs) -> None:
            raise AssertionError("torchvision must not run when the network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", Forbidden)


def test_download_fails_fast_when_offline(tmp_path, monkeypatch, forbid_torchvision_download):
    def refuse(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(DataError, match=r"offline") as info:
        load_fashion_mnist("train", source="full", root=tmp_path, download=True)
    assert "network" in str(info.value) and str(tmp_path) in str(info.value)


@pytest.mark.slow
def test_download_gives_up_on_a_hanging_connection(
    tmp_path, monkeypatch, forbid_torchvision_download
):
    """It gives up while the connection attempt still hangs (its own probe timeout), rather than
    waiting for the attempt to return."""
    release, returned = threading.Event(), threading.Event()

    def hang(*args, **kwargs):
        release.wait(10)
        returned.set()
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        with pytest.raises(DataError, match="no answer within 1.5 s"):
            load_fashion_mnist("test", source="full", root=tmp_path, download=True)
        assert not returned.is_set()
    finally:
        release.set()


def test_download_runs_torchvision_then_reads_its_layout(tmp_path, monkeypatch):
    probed = []

    class Connection:
        def close(self) -> None:
            pass

    def connect(address, timeout=None):
        probed.append((address, timeout))
        return Connection()

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeFashionMNIST)
    FakeFashionMNIST.calls.clear()
    train = load_fashion_mnist("train", source="full", root=tmp_path, download=True)
    assert len(train) == 8
    assert FakeFashionMNIST.calls == [(str(tmp_path), True, True)]
    mirror = urllib.parse.urlsplit(FakeFashionMNIST.mirrors[0])  # http://fashion-mnist.s3...
    assert probed == [((mirror.hostname, mirror.port or 80), 1.5)]
    load_fashion_mnist("test", source="full", root=tmp_path, download=True)
    assert len(FakeFashionMNIST.calls) == 1, "files already present: no second download"


def test_failed_download_is_a_data_error(tmp_path, monkeypatch):
    class Connection:
        def close(self) -> None:
            pass

    class Broken(FakeFashionMNIST):
        def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Connection())
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", Broken)
    with pytest.raises(DataError, match=r"downloading Fashion-MNIST into .* failed: Error"):
        load_fashion_mnist("train", source="full", root=tmp_path, download=True)


def test_no_network_is_touched_without_download(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no connection may be attempted without download=True")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(DataError, match="not found"):
        load_fashion_mnist("train", source="full", root=tmp_path)


# ----------------------------------------------------------------------------------------------
# ArrayImageDataset
# ----------------------------------------------------------------------------------------------


def test_array_dataset_moves_channels_first():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 5, 4, 3), dtype=np.uint8)  # (N, H, W, C)
    dataset = ArrayImageDataset(images, [0, 1, -1], ("a", "b"))
    image, label = dataset[1]
    assert image.shape == (3, 5, 4) and image.dtype == torch.uint8 and label == 1
    for c in range(3):
        np.testing.assert_array_equal(image[c].numpy(), images[1, :, :, c])
    assert dataset[2][1] == -1 and len(dataset) == 3


@pytest.mark.parametrize(
    ("images", "labels", "classes", "message"),
    [
        (np.zeros((2, 4, 4), np.float32), [0, 0], (), "uint8 array"),
        (np.zeros((2, 4), np.uint8), [0, 0], (), "uint8 array"),
        (np.zeros((2, 4, 4), np.uint8), [0], (), r"labels must have shape \(2,\)"),
        (np.zeros((2, 4, 4), np.uint8), [0, 2], ("a", "b"), r"labels must lie in \[-1, 1\]"),
    ],
)
def test_array_dataset_rejects_bad_inputs(images, labels, classes, message):
    with pytest.raises(ValueError, match=message):
        ArrayImageDataset(images, labels, classes)


# ----------------------------------------------------------------------------------------------
# bundled photos
# ----------------------------------------------------------------------------------------------


def test_photos_are_at_least_sixteen_colour_images():
    names = list_photos()
    assert len(names) >= 16 and names == sorted(names)
    photos = load_photos()
    assert list(photos) == names
    for name, photo in photos.items():
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, name
        assert max(photo.shape[:2]) <= 512, name
        spread = photo.astype(np.int16).max(axis=2) - photo.astype(np.int16).min(axis=2)
        assert spread.mean() > 5, f"{name} looks grayscale"


def test_photo_files_stay_small():
    total = sum(p.stat().st_size for p in paths.photos_dir().iterdir())
    assert total <= 4 * 1024 * 1024


def test_unknown_photo_lists_valid_names():
    with pytest.raises(DataError, match=r"unknown photo 'lena'; valid names: .*astronaut"):
        load_photo("lena")


def test_provenance_matches_the_committed_files():
    provenance = (paths.fashion_mnist_file().parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert file_sha256(paths.fashion_mnist_file()) in provenance
    for path in paths.photos_dir().iterdir():
        assert f"`{path.name}`" in provenance and file_sha256(path) in provenance, path.name
    assert "python3 scripts/make_assets.py" in provenance
    generated = next(line for line in provenance.splitlines() if line.startswith("Generated by"))
    assert "--darknet-dir" in generated and "--darknet-copyright" in generated, generated


def provenance_photo_licences() -> dict[str, str]:
    """Bundled file name -> licence cell of the photo table in PROVENANCE.md."""
    provenance = (paths.fashion_mnist_file().parent / "PROVENANCE.md").read_text(encoding="utf-8")
    lines = provenance.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| photo |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    column = header.index("licence")
    licences = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(header), line
        licences[cells[0].strip("`")] = cells[column]
    return licences


def test_every_bundled_photo_has_a_stated_licence_in_provenance():
    licences = provenance_photo_licences()
    files = sorted(path.name for path in paths.photos_dir().iterdir())
    assert sorted(licences) == files, "one table row per bundled photo, no more, no less"
    for name, licence in licences.items():
        assert licence and "not stated" not in licence.lower(), f"{name}: {licence!r}"
        assert "unknown" not in licence.lower(), f"{name}: {licence!r}"
    for name in ("dog", "eagle", "giraffe", "horses", "kite", "person"):
        assert licences[f"{name}.jpg"].startswith("MIT"), name


@pytest.fixture(scope="module")
def make_assets():
    """scripts/make_assets.py as a module (it only defines things on import)."""
    path = paths.checkout_root() / "scripts" / "make_assets.py"
    spec = importlib.util.spec_from_file_location("make_assets", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_asset_script_makes_exactly_the_bundled_photos_each_with_a_licence(make_assets):
    assert sorted(photo.name for photo in make_assets.PHOTOS) == list_photos()
    for photo in make_assets.PHOTOS:
        assert photo.licence and "not stated" not in photo.licence.lower(), photo.name
        assert photo.licence_source, photo.name
    darknet = [p for p in make_assets.PHOTOS if p.distribution == "darknet"]
    assert len(darknet) == 6
    assert all(p.evidence == make_assets.DARKNET_STANZA for p in darknet)


def test_asset_script_without_darknet_says_how_to_get_it(make_assets, tmp_path):
    out = tmp_path / "out"
    args = ["--out", str(out), "--darknet-dir", str(tmp_path / "no_data"),
            "--darknet-copyright", str(tmp_path / "no_copyright")]
    with pytest.raises(SystemExit, match=r"no_data/dog\.jpg \(--darknet-dir\)") as info:
        make_assets.main(args)
    message = str(info.value)
    assert "no_copyright (--darknet-copyright)" in message
    assert "apt-get download darknet && dpkg -x darknet_*.deb /tmp/x_darknet" in message
    assert not out.exists(), "nothing may be written before the inputs are checked"


def fake_darknet(folder: Path, *, stanza: str) -> Path:
    """A darknet tree: empty sample photos, a copyright file holding ``stanza``; its path."""
    (folder / "data").mkdir(parents=True)
    for name in ("dog", "eagle", "giraffe", "horses", "kite", "person"):
        (folder / "data" / f"{name}.jpg").write_bytes(b"")
    copyright_file = folder / "doc" / "copyright"
    copyright_file.parent.mkdir()
    copyright_file.write_text(
        f"Format: x\n\n{stanza}\n\nLicense: MIT\n Permission is granted.\n .\n"
        " THE SOFTWARE IS PROVIDED.\n\nLicense: WTFPL\n Do it.\n",
        encoding="utf-8",
    )
    return copyright_file


def test_asset_script_stops_when_the_darknet_licence_changes(make_assets, tmp_path):
    pytest.importorskip("skimage")  # the other photos' licences are checked first
    pytest.importorskip("sklearn")
    changed = make_assets.DARKNET_STANZA.replace("GPL-3.0+ or MIT or WTFPL", "GPL-3.0+")
    copyright_file = fake_darknet(tmp_path, stanza=changed)
    out = tmp_path / "out"
    args = ["--out", str(out), "--darknet-dir", str(tmp_path / "data"),
            "--darknet-copyright", str(copyright_file)]
    with pytest.raises(SystemExit, match=r"licence evidence for 'dog' not found in .*copyright"):
        make_assets.main(args)
    assert not out.exists()


def test_darknet_version_and_mit_notice_are_read_from_the_package(make_assets, tmp_path):
    copyright_file = fake_darknet(tmp_path, stanza=make_assets.DARKNET_STANZA)
    source = make_assets.DarknetSource(data_dir=tmp_path / "data", copyright=copyright_file)
    with pytest.raises(SystemExit, match="no Debian changelog next to .*apt-get download darknet"):
        make_assets.darknet_version(source)
    doc = copyright_file.parent
    (doc / "changelog.Debian.gz").write_bytes(gzip.compress(b"darknet (1.0-2) unstable; u\n"))
    assert make_assets.darknet_version(source) == (
        "1.0-2", "/usr/share/doc/darknet/changelog.Debian.gz"
    )
    binnmu = b"darknet (1.0-2+b4) sid; urgency=low, binary-only=yes\n"
    (doc / "changelog.Debian.amd64.gz").write_bytes(gzip.compress(binnmu))
    assert make_assets.darknet_version(source)[0] == "1.0-2+b4", "a binNMU log wins"
    assert make_assets.darknet_mit_notice(source) == [
        "Permission is granted.", "", "THE SOFTWARE IS PROVIDED."
    ]


# ----------------------------------------------------------------------------------------------
# image folders
# ----------------------------------------------------------------------------------------------


def test_image_folder_with_class_subfolders(tmp_path):
    for cls, colour in (("dog", (0, 0, 255)), ("cat", (0, 255, 0))):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (6, 4), colour).save(tmp_path / cls / "1.png")
        Image.new("L", (6, 4), 100).save(tmp_path / cls / "2.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / ".ipynb_checkpoints").mkdir()  # hidden folders are not classes
    Image.new("RGB", (6, 4)).save(tmp_path / ".ipynb_checkpoints" / "1.png")
    dataset = load_image_folder(tmp_path)
    assert dataset.classes == ("cat", "dog")
    assert dataset.labels.tolist() == [0, 0, 1, 1]
    image, label = dataset[0]
    assert image.shape == (3, 4, 6) and image.dtype == torch.uint8 and label == 0
    assert image[:, 0, 0].tolist() == [0, 255, 0]
    assert dataset[1][0].shape == (3, 4, 6), "mode='RGB' makes gray files 3-channel"
    native = load_image_folder(tmp_path, mode=None, transform=lambda x: x.shape)
    assert native[1][0] == (1, 4, 6)


def test_flat_image_folder_has_no_classes(tmp_path):
    for i in range(3):
        Image.new("RGB", (5, 5), (i, i, i)).save(tmp_path / f"{i}.jpg")
    dataset = load_image_folder(tmp_path)
    assert len(dataset) == 3 and dataset.classes == ()
    assert dataset.labels.tolist() == [-1, -1, -1]
    assert dataset[2][1] == -1 and dataset[2][0].shape == (3, 5, 5)


def test_image_folder_with_an_empty_class_folder_is_an_error(tmp_path):
    (tmp_path / "full").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "full" / "x.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty.*<class>/<image>"):
        load_image_folder(tmp_path)


def test_image_folder_errors_name_path_and_layout(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*<class>/<image>"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(DataError, match=re.escape(f"no images found in {tmp_path}")):
        load_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "a" / "x.png")
    Image.new("RGB", (2, 2)).save(tmp_path / "top.png")
    with pytest.raises(DataError, match="both images at the top"):
        load_image_folder(tmp_path)


def test_corrupt_file_in_folder_fails_on_access_naming_it(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    dataset = load_image_folder(tmp_path)
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "broken.png"))):
        dataset[0]


# ----------------------------------------------------------------------------------------------
# CIFAR-10 and STL-10 through torchvision
# ----------------------------------------------------------------------------------------------


def write_fake_cifar10(root: Path) -> dict[str, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    written = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        rows = rng.integers(0, 256, (2, 3072), dtype=np.uint8)  # (N, 3*32*32), CHW per row
        labels = [i % 10, (i + 1) % 10]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rows, "labels": labels, "batch_label": name}, f)
        written[name] = rows
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{k}" for k in range(10)]}, f)
    return written


@pytest.fixture
def skip_md5(monkeypatch):
    """Our fakes are not the official files, so let torchvision skip its MD5 checks."""
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(torchvision.datasets.STL10, "_check_integrity", lambda self: True)


def test_cifar10_from_local_files(tmp_path, skip_md5):
    written = write_fake_cifar10(tmp_path)
    train = load_cifar10(tmp_path)
    test = load_cifar10(tmp_path, train=False, transform=lambda x: x.float())
    assert (len(train), len(test)) == (10, 2)
    assert train.classes == tuple(f"c{k}" for k in range(10))
    assert train.labels.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    image, label = train[3]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32) and label == 2
    np.testing.assert_array_equal(image.numpy(), written["data_batch_2"][1].reshape(3, 32, 32))
    assert test[0][0].dtype == torch.float32


def test_cifar10_missing_or_corrupt(tmp_path):
    with pytest.raises(DataError, match=r"cifar-10-batches-py lacks data_batch_1.*batches\.meta"):
        load_cifar10(tmp_path)
    write_fake_cifar10(tmp_path)  # right names, wrong MD5: torchvision's check must fail
    with pytest.raises(DataError, match=r"unreadable: Dataset not found or corrupted"):
        load_cifar10(tmp_path)


def write_fake_stl10(root: Path) -> dict[str, np.ndarray]:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    images = {
        split: rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
        for split, n in (("train", 2), ("test", 1), ("unlabeled", 1))
    }
    for split, array in images.items():
        # STL-10 stores every channel column-major: (N, C, W, H) in C order.
        (folder / f"{split}_X.bin").write_bytes(array.transpose(0, 1, 3, 2).tobytes())
    (folder / "train_y.bin").write_bytes(bytes([3, 10]))  # 1-based labels
    (folder / "test_y.bin").write_bytes(bytes([1]))
    (folder / "class_names.txt").write_text("\n".join(f"s{k}" for k in range(10)) + "\n")
    (folder / "fold_indices.txt").write_text("0 1\n" * 10)
    return images


def test_stl10_from_local_files(tmp_path, skip_md5):
    images = write_fake_stl10(tmp_path)
    train = load_stl10(tmp_path)
    assert len(train) == 2 and train.labels.tolist() == [2, 9]
    assert train.classes == tuple(f"s{k}" for k in range(10))
    image, label = train[1]
    assert image.dtype == torch.uint8 and image.shape == (3, 96, 96) and label == 9
    np.testing.assert_array_equal(image.numpy(), images["train"][1])
    unlabeled = load_stl10(tmp_path, split="unlabeled")
    assert len(unlabeled) == 1 and unlabeled[0][1] == -1
    np.testing.assert_array_equal(unlabeled[0][0].numpy(), images["unlabeled"][0])
    both = load_stl10(tmp_path, split="train+unlabeled")
    assert both.labels.tolist() == [2, 9, -1]
    assert load_stl10(tmp_path, split="test")[0][1] == 0


def test_stl10_errors(tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        load_stl10(tmp_path, split="val")
    with pytest.raises(DataError, match=r"stl10_binary lacks train_X\.bin.*class_names\.txt"):
        load_stl10(tmp_path)
    write_fake_stl10(tmp_path)
    with pytest.raises(DataError, match="unreadable"):
        load_stl10(tmp_path)


# ----------------------------------------------------------------------------------------------
# decoding untrusted bytes
# ----------------------------------------------------------------------------------------------


def test_decode_png_is_exact():
    rng = np.random.default_rng(4)
    array = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    decoded = decode_image(encode(Image.fromarray(array), "PNG"))
    np.testing.assert_array_equal(decoded, array)


def test_decode_jpeg_keeps_shape_and_colour():
    decoded = decode_image(encode(Image.new("RGB", (16, 8), (200, 30, 40)), "JPEG", quality=95))
    assert decoded.shape == (8, 16, 3) and decoded.dtype == np.uint8
    np.testing.assert_allclose(decoded.reshape(-1, 3).mean(0), [200, 30, 40], atol=4)


def test_decode_grayscale_and_forced_modes():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    png = encode(Image.fromarray(gray), "PNG")
    np.testing.assert_array_equal(decode_image(png), gray)
    rgb = decode_image(png, mode="RGB")
    assert rgb.shape == (3, 4, 3) and np.all(rgb == gray[..., None])
    colour = encode(Image.new("RGB", (4, 3), (10, 20, 30)), "PNG")
    assert decode_image(colour, mode="L").shape == (3, 4)
    with pytest.raises(ValueError, match="mode must be"):
        decode_image(png, mode="CMYK")


def test_decode_rgba_composites_on_white():
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red stays red
    rgba[0, 1] = (0, 0, 0, 0)  # transparent -> white
    rgba[0, 2] = (0, 0, 0, 128)  # half black -> mid gray
    decoded = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert decoded.shape == (1, 3, 3)
    assert decoded[0, 0].tolist() == [255, 0, 0]
    assert decoded[0, 1].tolist() == [255, 255, 255]
    assert decoded[0, 2].tolist() == [round(255 * (1 - 128 / 255))] * 3


def test_decode_la_composites_on_white():
    la = np.array([[[0, 0], [40, 255]]], np.uint8)  # (1, 2, 2): (value, alpha)
    decoded = decode_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert decoded.tolist() == [[255, 40]]


def test_decode_cmyk_jpeg_gives_rgb():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    decoded = decode_image(encode(cmyk, "JPEG", quality=95))
    assert decoded.shape == (8, 8, 3)
    red, green, blue = decoded.reshape(-1, 3).mean(0)
    assert red > 240 and green < 15 and blue < 15


def test_decode_16bit_png_scales_to_8bit():
    values = np.array([[0, 257 * 100, 65535, 32768]], dtype=np.uint16)
    png = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(png)).mode.startswith("I;16")
    assert decode_image(png).tolist() == [[0, 100, 255, 128]]


def test_decode_palette_gif_and_first_frame():
    palette_image = Image.new("P", (4, 4), 1)
    palette_image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    decoded = decode_image(encode(palette_image, "GIF"))
    assert decoded.shape == (4, 4, 3) and decoded[0, 0].tolist() == [10, 200, 30]
    frames = [Image.new("RGB", (5, 5), (255, 0, 0)), Image.new("RGB", (5, 5), (0, 0, 255))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)
    assert Image.open(io.BytesIO(gif)).n_frames == 2
    first = decode_image(gif)
    assert first[0, 0, 0] > 200 and first[0, 0, 2] < 50


def test_decode_transparent_palette_png_composites_on_white():
    image = Image.new("P", (2, 1), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    decoded = decode_image(encode(image, "PNG", transparency=0))
    assert decoded.tolist() == [[[255, 255, 255], [0, 255, 0]]]


def test_decode_applies_exif_orientation():
    image = Image.new("RGB", (40, 20), (0, 0, 0))  # W=40, H=20
    image.paste((255, 0, 0), (0, 0, 10, 10))  # red block at the top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: display rotated 90 degrees clockwise
    decoded = decode_image(encode(image, "JPEG", quality=95, exif=exif))
    assert decoded.shape == (40, 20, 3), "orientation 6 swaps width and height"
    assert decoded[2:8, 12:18, 0].mean() > 200, "the top-left block moves to the top-right"
    assert decoded[2:8, 2:8, 0].mean() < 50


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"hello, this is plain text, not a picture", "not a recognised image format"),
        (np.random.default_rng(5).integers(0, 256, 500, dtype=np.uint8).tobytes(),
         "not a recognised image format"),
    ],
    ids=["empty", "text", "random"],
)
def test_decode_rejects_non_images(payload, message):
    with pytest.raises(DataError, match=message):
        decode_image(payload)


def test_decode_rejects_truncated_png():
    rng = np.random.default_rng(6)
    png = encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "PNG")
    with pytest.raises(DataError, match="corrupt or truncated"):
        decode_image(png[: len(png) // 2])


def test_decode_rejects_decompression_bombs_from_the_header(monkeypatch):
    bomb = png_header_only(20_000, 3_000)  # claims 6e7 pixels (180 MB decoded) in 57 bytes

    def no_decoding(self):
        raise AssertionError("pixels were decoded: the header check must come first")

    with monkeypatch.context() as patched:
        patched.setattr(ImageFile.ImageFile, "load", no_decoding)
        with pytest.raises(DataError,
                           match=r"20000x3000 = 60,000,000 pixels.*decompression bomb"):
            decode_image(bomb)
    small = encode(Image.new("RGB", (20, 10)), "PNG")
    with pytest.raises(DataError, match=r"200 pixels, more than max_pixels=199"):
        decode_image(small, max_pixels=199)
    assert decode_image(small, max_pixels=200).shape == (10, 20, 3)
    huge = png_header_only(100_000, 100_000)  # 1e10 pixels: beyond Pillow's own limit too
    with pytest.raises(DataError, match="decompression bomb"):
        decode_image(huge, max_pixels=10**12)


def test_load_image_errors_name_the_path(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope.png"))):
        load_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=re.escape(str(bad)) + ".*not a recognised"):
        load_image(bad)
    good = tmp_path / "good.png"
    Image.new("RGB", (3, 2), (1, 2, 3)).save(good)
    assert load_image(good).tolist() == [[[1, 2, 3]] * 3] * 2


def test_file_sha256(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert file_sha256(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 10_000)  # spans several 1 MiB chunks
    assert file_sha256(big) == hashlib.sha256(big.read_bytes()).hexdigest()


def test_subset_indices_sorted_distinct_and_nested():
    small, large = subset_indices(1000, 50, seed=3), subset_indices(1000, 400, seed=3)
    assert small.dtype == np.int64 and np.all(np.diff(small) > 0) and len(small) == 50
    assert set(small) <= set(large)
    assert not np.array_equal(small, subset_indices(1000, 50, seed=4))
    assert np.array_equal(subset_indices(7, 100), np.arange(7))
    with pytest.raises(ValueError, match="n must be >= 1"):
        subset_indices(10, 0)


def test_draw_order_is_the_nested_draw_of_subset_indices() -> None:
    order = draw_order(1000, seed=3)
    assert sorted(order.tolist()) == list(range(1000)) and order.dtype == np.int64
    for n in (1, 17, 500, 1000):
        np.testing.assert_array_equal(np.sort(order[:n]), subset_indices(1000, n, seed=3))
    with pytest.raises(ValueError, match="total must be >= 1"):
        draw_order(0)
