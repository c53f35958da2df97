"""Build the bundled data in assets/ and write assets/PROVENANCE.md.

    python3 scripts/make_assets.py            # writes assets/fashion_mnist.npz, assets/images/*
    python3 scripts/make_assets.py --out DIR  # same files under DIR (to check reproducibility)

Inputs, all local (no network):
- Debian's package ``dataset-fashion-mnist``: the original gzipped idx files;
- colour photos shipped inside the scikit-image, scikit-learn and matplotlib wheels;
- the sample photos of Debian's package ``darknet``. It need not be installed: unpack it with
  ``apt-get download darknet && dpkg -x darknet_*.deb /tmp/x_darknet`` and pass
  ``--darknet-dir /tmp/x_darknet/usr/share/darknet/data``
  ``--darknet-copyright /tmp/x_darknet/usr/share/doc/darknet/copyright``.

Every bundled photo has a stated licence, and the script stops if the text it quotes as
evidence for a licence is no longer in the cited source.

Outputs are deterministic: the .npz is a zip written with fixed timestamps (np.savez_compressed
would stamp the current time), and images are re-encoded with fixed settings, so re-running with
the same library versions gives byte-identical files and the same SHA-256 in PROVENANCE.md.

One script, read top to bottom (over 400 lines): the photo catalogue with each licence's
evidence, the checks of that evidence, the two builders (Fashion-MNIST subset, photos) and the
PROVENANCE.md writer. It runs once per asset change and is kept whole so that what was bundled,
why it may be, and how it was made are read in one place.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import importlib.metadata
import inspect
import io
import re
import shlex
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:  # run as a script: make ssl_core importable
    sys.path.insert(0, _REPO_ROOT)

from ssl_core import paths  # noqa: E402  (the repo root is put on sys.path just above)
from ssl_core.checkpoints import file_sha256  # noqa: E402
from ssl_core.data import (  # noqa: E402
    DEBIAN_FASHION_MNIST_DIR,
    FASHION_MNIST_CLASSES,
    read_idx,
)

SEED = 0  # the stratified subset depends on it; changing it changes the committed file
PER_CLASS = 2000  # training images kept per class (10 classes -> 20,000)
MAX_NPZ_BYTES = 16 * 1024 * 1024
MAX_SIDE = 512  # photos are downscaled so that their long side is at most this
JPEG_SETTINGS = {"format": "JPEG", "quality": 95, "subsampling": 0, "optimize": True}
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # earliest time a zip can hold
COMMAND = "python3 scripts/make_assets.py"
DEBIAN_COPYRIGHT = Path("/usr/share/doc/dataset-fashion-mnist/copyright")

# Debian's package darknet: where an installed copy keeps its sample photos and copyright file.
DARKNET_DATA_DIR = Path("/usr/share/darknet/data")
DARKNET_COPYRIGHT = Path("/usr/share/doc/darknet/copyright")
DARKNET_UNPACK = "apt-get download darknet && dpkg -x darknet_*.deb /tmp/x_darknet"
DARKNET_HOW_TO_GET = (
    f"get it without installing it: `{DARKNET_UNPACK}`, then pass "
    "--darknet-dir /tmp/x_darknet/usr/share/darknet/data "
    "--darknet-copyright /tmp/x_darknet/usr/share/doc/darknet/copyright "
    "(or `apt-get install darknet` and keep the defaults)"
)
# The stanza of the copyright file covering the photos (`Files: *`); the script stops if it
# changes. Of the three licences offered we use MIT, whose notice PROVENANCE.md reproduces.
DARKNET_STANZA = (
    "Files: *\nCopyright: 2018 Joseph Redmon <pjreddie@gmail.com>\n"
    "License: GPL-3.0+ or MIT or WTFPL"
)


@dataclass(frozen=True)
class Photo:
    """One bundled photo: where it comes from and the licence statement we read for it."""

    name: str  # output file stem, the name `ssl_core.data.load_photo` takes
    distribution: str  # the installed wheel holding it, or "darknet" (the Debian package)
    module: str | None  # an importable module whose folder holds the file; None for darknet
    file: str  # path relative to that module's folder (or to the darknet data folder)
    credit: str
    licence: str
    licence_source: str  # the installed file (or page) the licence statement was read from
    evidence: str | None  # text that must appear in that source, else the script stops
    evidence_doc: str | None = None  # dotted name of the function whose docstring holds it


def _skimage(name: str, file: str, *, function: str, credit: str, licence: str,
             evidence: str | None) -> Photo:
    """A photo from scikit-image's wheel; its licence is stated in ``skimage.data.<function>``."""
    return Photo(
        name=name,
        distribution="scikit-image",
        module="skimage.data",
        file=file,
        credit=credit,
        licence=licence,
        licence_source=f"docstring of skimage.data.{function} (skimage/data/_fetchers.py)",
        evidence=evidence,
        evidence_doc=f"skimage.data.{function}",
    )


def _sklearn(name: str, file: str, *, credit: str, evidence: str) -> Photo:
    """A photo from scikit-learn's wheel; its licence is stated in images/README.txt."""
    return Photo(
        name=name,
        distribution="scikit-learn",
        module="sklearn.datasets.images",
        file=file,
        credit=credit,
        licence="CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/): attribution required",
        licence_source="sklearn/datasets/images/README.txt",
        evidence=evidence,
    )


def _darknet(name: str) -> Photo:
    """A sample photo of Debian's package darknet, under the MIT option of its copyright file."""
    return Photo(
        name=name,
        distribution="darknet",
        module=None,
        file=f"{name}.jpg",
        credit="darknet sample image (github.com/pjreddie/darknet, data/"
        f"{name}.jpg); Debian's copyright file: Copyright 2018 Joseph Redmon; the original "
        "photographer is not recorded",
        licence="MIT (the copyright file offers GPL-3.0+ or MIT or WTFPL for `Files: *`; we use "
        "MIT, notice reproduced below)",
        licence_source=str(DARKNET_COPYRIGHT),
        evidence=DARKNET_STANZA,
    )


PHOTOS: tuple[Photo, ...] = (
    _skimage(
        "astronaut", "astronaut.png", function="astronaut",
        credit="NASA (astronaut Eileen Collins)", licence="public domain",
        evidence="No known copyright restrictions, released into the public domain.",
    ),
    _skimage(
        "chelsea", "chelsea.png", function="chelsea",
        credit="Stefan van der Walt", licence="CC0",
        evidence="CC0 by the photographer (Stefan van der Walt).",
    ),
    _skimage(
        "coffee", "coffee.png", function="coffee",
        credit="Rachel Michetti, courtesy of Pikolo Espresso Bar", licence="CC0",
        evidence="CC0 by the photographer (Rachel Michetti).",
    ),
    _skimage(
        "rocket", "rocket.jpg", function="rocket",
        credit="SpaceX (DSCOVR launch on Falcon 9)", licence="public domain",
        evidence="released in the public domain",
    ),
    _skimage(
        "hubble_deep_field", "hubble_deep_field.jpg", function="hubble_deep_field",
        credit="NASA (Hubble eXtreme Deep Field)", licence="public domain",
        evidence="may be freely used in the public domain",
    ),
    _skimage(
        "immunohistochemistry", "ihc.png", function="immunohistochemistry",
        credit="Center for Microscopy And Molecular Imaging (CMMI)",
        licence="no known copyright restrictions",
        evidence="No known copyright restrictions.",
    ),
    _skimage(
        "retina", "retina.jpg", function="retina",
        credit="Mikael Häggström (Wikimedia Commons)", licence="CC0 1.0",
        evidence="Creative Commons CC0 1.0 Universal Public Domain Dedication",
    ),
    _sklearn(
        "china", "china.jpg",
        credit="danielbuechele (Flickr), retrieved by Robert Layton",
        evidence="Image: china.jpg\nReleased under a creative commons license. [1]",
    ),
    _sklearn(
        "flower", "flower.jpg",
        credit="vultilion (Flickr; the README's attribution line says danielbuechele but "
        "links https://www.flickr.com/photos/vultilion/), retrieved by Robert Layton",
        evidence="Image: flower.jpg\nReleased under a creative commons license. [1]",
    ),
    Photo(
        name="grace_hopper",
        distribution="matplotlib",
        module="matplotlib",
        file="mpl-data/sample_data/grace_hopper.jpg",
        credit="portrait of Grace Murray Hopper (photographer not recorded in matplotlib)",
        licence="public domain, per matplotlib PR #1599, which added it as a public domain "
        "image; the installed matplotlib has no licence note for it (see matplotlib issue #4930)",
        licence_source="https://github.com/matplotlib/matplotlib/pull/1599",
        evidence=None,
    ),
    # scream.jpg, the package's seventh image, is a photo of Munch's painting: left out.
    *(_darknet(name) for name in ("dog", "eagle", "giraffe", "horses", "kite", "person")),
)


@dataclass(frozen=True)
class DarknetSource:
    """Where the unpacked (or installed) darknet package keeps what the script reads."""

    data_dir: Path  # holds dog.jpg, eagle.jpg, ...
    copyright: Path  # Debian's machine-readable copyright file


def check_darknet(source: DarknetSource) -> None:
    """Stop with a message saying how to get the package unless its files are all there."""
    missing = [
        f"{source.data_dir / p.file} (--darknet-dir)" for p in PHOTOS
        if p.distribution == "darknet" and not (source.data_dir / p.file).is_file()
    ]
    if not source.copyright.is_file():
        missing.append(f"{source.copyright} (--darknet-copyright)")
    if missing:
        raise SystemExit(
            f"Debian's package darknet is needed for its sample photos, but {', '.join(missing)} "
            f"is missing; {DARKNET_HOW_TO_GET}"
        )


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _module_dir(module: str) -> Path:
    return Path(importlib.import_module(module).__file__).resolve().parent


def _site_relative(path: Path) -> str:
    """``path`` relative to its site-packages folder (stable across machines)."""
    parts = path.parts
    cut = max(i for i, p in enumerate(parts) if p in ("site-packages", "dist-packages"))
    return "/".join(parts[cut + 1 :])


def _source_path(photo: Photo, darknet: DarknetSource) -> Path:
    if photo.module is None:
        return darknet.data_dir / photo.file
    return _module_dir(photo.module) / photo.file


def _shown_path(photo: Photo, source: Path) -> str:
    """Where the file lies inside its package, whatever folder it was unpacked to."""
    if photo.module is None:
        return str(DARKNET_DATA_DIR / photo.file)
    return _site_relative(source)


def _check_licence_evidence(photo: Photo, darknet: DarknetSource) -> None:
    if photo.evidence is None:
        return
    if photo.evidence_doc is not None:
        module, _, function = photo.evidence_doc.rpartition(".")
        text = inspect.getdoc(getattr(importlib.import_module(module), function)) or ""
    elif photo.module is None:
        text = darknet.copyright.read_text(encoding="utf-8")
    else:
        text = (_module_dir(photo.module) / "README.txt").read_text(encoding="utf-8")
    if _normalise(photo.evidence) not in _normalise(text):
        raise SystemExit(
            f"licence evidence for {photo.name!r} not found in {photo.licence_source}: "
            f"{photo.evidence!r}; re-read the licence before bundling this photo"
        )


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed zip metadata so the bytes depend only on data."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the host
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=9)
    tmp.replace(path)


def stratified_indices(labels: np.ndarray, *, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` indices of each label drawn without replacement, sorted ascending."""
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
        for c in range(len(FASHION_MNIST_CLASSES))
    ]
    return np.sort(np.concatenate(chosen))


def make_fashion_mnist(out_dir: Path) -> dict:
    source = {
        name: DEBIAN_FASHION_MNIST_DIR / f"{name}.gz"
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    }
    missing = [str(p) for p in source.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"missing {missing}: install Debian's package dataset-fashion-mnist")
    train_images = read_idx(source["train-images-idx3-ubyte"])  # (60000, 28, 28)
    train_labels = read_idx(source["train-labels-idx1-ubyte"])  # (60000,)
    test_images = read_idx(source["t10k-images-idx3-ubyte"])  # (10000, 28, 28)
    test_labels = read_idx(source["t10k-labels-idx1-ubyte"])  # (10000,)

    index = stratified_indices(train_labels, per_class=PER_CLASS, seed=SEED)  # (20000,)
    arrays = {
        "train_images": train_images[index],  # (20000, 28, 28) uint8
        "train_labels": train_labels[index],  # (20000,) uint8
        "test_images": test_images,
        "test_labels": test_labels,
        "train_source_index": index.astype(np.int32),  # rows of the original 60,000
        "classes": np.array(FASHION_MNIST_CLASSES),
    }
    path = out_dir / "fashion_mnist.npz"
    write_npz_deterministic(path, arrays)
    size = path.stat().st_size
    if size > MAX_NPZ_BYTES:
        raise SystemExit(f"{path} is {size:,} bytes, over the {MAX_NPZ_BYTES:,} byte budget")
    return {
        "path": path,
        "size": size,
        "sha256": file_sha256(path),
        "sources": {p: file_sha256(p) for p in source.values()},
        "train_counts": np.bincount(arrays["train_labels"], minlength=10).tolist(),
        "test_counts": np.bincount(test_labels, minlength=10).tolist(),
    }


def make_photo(photo: Photo, out_dir: Path, darknet: DarknetSource) -> dict:
    source = _source_path(photo, darknet)
    with Image.open(source) as opened:
        if opened.mode != "RGB":
            raise SystemExit(f"{source} is {opened.mode}, not a colour (RGB) photo")
        image = opened.convert("RGB")
    original = image.size
    scale = min(1.0, MAX_SIDE / max(original))
    if scale < 1.0:
        size = (max(1, round(original[0] * scale)), max(1, round(original[1] * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    path = out_dir / f"{photo.name}.jpg"
    image.save(path, **JPEG_SETTINGS)  # no EXIF / ICC copied: stable bytes
    return {
        "photo": photo,
        "source": _shown_path(photo, source),
        "source_sha256": file_sha256(source),
        "original": original,
        "size": image.size,
        "path": path,
        "bytes": path.stat().st_size,
        "sha256": file_sha256(path),
    }


def _version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


def darknet_version(source: DarknetSource) -> tuple[str, str]:
    """(version, file it was read from): the top entry of the package's Debian changelog.

    A binary-only rebuild (version ``...+bN``) is logged in ``changelog.Debian.<arch>.gz``,
    which takes precedence over the source changelog ``changelog.Debian.gz``.
    """
    doc_dir = source.copyright.parent
    candidates = sorted(doc_dir.glob("changelog.Debian.*.gz")) + [doc_dir / "changelog.Debian.gz"]
    for path in candidates:
        if path.is_file():
            with gzip.open(path, "rt", encoding="utf-8") as changelog:
                first = changelog.readline()
            match = re.match(r"darknet \(([^)]+)\)", first)
            if match is None:
                raise SystemExit(f"{path}: first line {first!r} is not `darknet (VERSION) ...`")
            return match.group(1), str(DARKNET_COPYRIGHT.parent / path.name)
    raise SystemExit(
        f"no Debian changelog next to {source.copyright} to read darknet's version from; "
        f"{DARKNET_HOW_TO_GET}"
    )


def darknet_mit_notice(source: DarknetSource) -> list[str]:
    """The `License: MIT` paragraph of the copyright file, as plain lines (Deb822 unfolded)."""
    text = source.copyright.read_text(encoding="utf-8")
    match = re.search(r"^License: MIT\n((?: .*\n?)+)", text, flags=re.MULTILINE)
    if match is None:
        raise SystemExit(f"{source.copyright} has no `License: MIT` paragraph; re-read it")
    return ["" if line.strip() == "." else line[1:] for line in match.group(1).splitlines()]


def _debian_version() -> str:
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "dataset-fashion-mnist"],
            capture_output=True, text=True, check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (dpkg-query unavailable)"
    return result.stdout.strip()


def render_provenance(
    fashion: dict, photos: list[dict], *, command: str, darknet: DarknetSource
) -> str:
    """PROVENANCE.md text; every number comes from the files just written."""
    classes = ", ".join(f"{i} {name}" for i, name in enumerate(FASHION_MNIST_CLASSES))
    darknet_ver, darknet_ver_file = darknet_version(darknet)
    lines = [
        "# Provenance of the bundled data",
        "",
        f"Generated by `{command}`",
        "(do not edit by hand; re-run the script). Re-running with the",
        "same library versions gives byte-identical files: the .npz is a zip with fixed",
        "timestamps, and the photos are re-encoded with fixed settings.",
        "",
        "Library versions used: "
        + ", ".join(
            f"{d} {_version(d)}"
            for d in ("numpy", "pillow", "scikit-image", "scikit-learn", "matplotlib")
        )
        + ".",
        "",
        f"Debian package `darknet` {darknet_ver} (version read from `{darknet_ver_file}`),",
        *(
            ["installed: its files were read where it puts them."]
            if (darknet.data_dir, darknet.copyright) == (DARKNET_DATA_DIR, DARKNET_COPYRIGHT)
            else [
                f"not installed but unpacked (`{DARKNET_UNPACK}`); its "
                f"`{DARKNET_DATA_DIR}` and `{DARKNET_COPYRIGHT}`",
                f"were read from `{darknet.data_dir}` and `{darknet.copyright}`.",
            ]
        ),
        "",
        "## Fashion-MNIST subset: `fashion_mnist.npz`",
        "",
        "- Source: Debian package `dataset-fashion-mnist` "
        f"{_debian_version()} (upstream https://github.com/zalandoresearch/fashion-mnist),",
        f"  files in `{DEBIAN_FASHION_MNIST_DIR}`.",
        "- Licence: MIT (Expat), Copyright 2017 Zalando SE; full text in",
        f"  `{DEBIAN_COPYRIGHT}` (`Files: *`, `License: Expat`).",
        f"- Contents: `train_images` ({sum(fashion['train_counts'])}, 28, 28) uint8, "
        "`train_labels` uint8,",
        f"  `test_images` ({sum(fashion['test_counts'])}, 28, 28) uint8 (the whole test set), "
        "`test_labels` uint8,",
        "  `train_source_index` int32 (row of each training image in the original 60,000),",
        "  `classes` (names).",
        f"- Training subset: stratified, exactly {PER_CLASS} images per class, drawn without "
        f"replacement with `numpy.random.default_rng({SEED})`,",
        "  class by class (0..9), then sorted by source index.",
        f"- Train counts per class: {fashion['train_counts']}; test counts: "
        f"{fashion['test_counts']}.",
        f"- Classes: {classes}.",
        f"- Bundled file: {fashion['size']:,} bytes, sha256 `{fashion['sha256']}`.",
        "",
        "Source files:",
        "",
        "| file | sha256 |",
        "|---|---|",
    ]
    lines += [f"| `{path.name}` | `{digest}` |" for path, digest in fashion["sources"].items()]
    total = sum(p["bytes"] for p in photos)
    lines += [
        "",
        f"## Photos: `images/` ({len(photos)} colour photos, {total:,} bytes)",
        "",
        "Read from the installed wheels or the darknet package, converted to RGB, downscaled "
        f"(Lanczos) so the long side is at most {MAX_SIDE} px",
        f"(aspect kept), saved as JPEG quality {JPEG_SETTINGS['quality']}, 4:4:4, no metadata. "
        "The licence column",
        "quotes what the cited source says; the script stops if that text is no longer there.",
        "",
        "| photo | source (wheel: path in site-packages; darknet: path in the package) "
        "| source sha256 | original -> bundled "
        "(w x h) | bytes | bundled sha256 | credit | licence | licence read in |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in photos:
        photo: Photo = p["photo"]
        version = darknet_ver if photo.module is None else _version(photo.distribution)
        lines.append(
            f"| `{p['path'].name}` | {photo.distribution} {version}, "
            f"`{p['source']}` | `{p['source_sha256']}` | {p['original'][0]}x{p['original'][1]}"
            f" -> {p['size'][0]}x{p['size'][1]} | {p['bytes']:,} | `{p['sha256']}` | "
            f"{photo.credit} | {photo.licence} | {photo.licence_source} |"
        )
    lines += [
        "",
        "scikit-learn's `README.txt` credits: china.jpg from "
        "https://www.flickr.com/photos/danielbuechele/6061409035/ ,",
        "flower.jpg from https://www.flickr.com/photos/vultilion/6056698931/ (both CC BY 2.0).",
        "",
        "The darknet photos ("
        + ", ".join(f"`{p['path'].name}`" for p in photos if p["photo"].module is None)
        + f") are covered by this stanza of `{DARKNET_COPYRIGHT}`:",
        "",
        *(f"    {line}" for line in DARKNET_STANZA.splitlines()),
        "",
        "We use them under the MIT licence; its notice, as given in that file:",
        "",
        *(f"    {line}".rstrip() for line in darknet_mit_notice(darknet)),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=paths.assets_dir(), help="output folder")
    parser.add_argument(
        "--darknet-dir", type=Path, default=DARKNET_DATA_DIR,
        help="folder holding darknet's sample photos (dog.jpg, ...)",
    )
    parser.add_argument(
        "--darknet-copyright", type=Path, default=DARKNET_COPYRIGHT,
        help="Debian's copyright file of the darknet package",
    )
    if argv is None:
        argv = sys.argv[1:]
    args = parser.parse_args(argv)
    command = shlex.join([*COMMAND.split(), *argv])
    darknet = DarknetSource(data_dir=args.darknet_dir, copyright=args.darknet_copyright)
    # Everything is checked before anything is written.
    check_darknet(darknet)
    for photo in PHOTOS:
        _check_licence_evidence(photo, darknet)
    darknet_version(darknet)
    darknet_mit_notice(darknet)

    out_dir: Path = args.out
    images_dir = out_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    fashion = make_fashion_mnist(out_dir)
    photos = [make_photo(photo, images_dir, darknet) for photo in PHOTOS]
    strays = sorted(
        p.name for p in images_dir.iterdir() if p not in {q["path"] for q in photos}
    )
    (out_dir / "PROVENANCE.md").write_text(
        render_provenance(fashion, photos, command=command, darknet=darknet), encoding="utf-8"
    )

    print(f"{fashion['path']}: {fashion['size']:,} bytes sha256 {fashion['sha256']}")
    print(f"  train per class {fashion['train_counts']}, test per class {fashion['test_counts']}")
    for p in photos:
        print(f"{p['path']}: {p['size'][0]}x{p['size'][1]} {p['bytes']:,} bytes")
    print(f"photos: {len(photos)} files, {sum(p['bytes'] for p in photos):,} bytes")
    if strays:
        print(f"warning: {images_dir} also holds files this script did not make: {strays}")


if __name__ == "__main__":
    main()
