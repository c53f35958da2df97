"""Which images the representation pages show: the point-set picker and its cached sets.

A :class:`DatasetSpec` (kind, size, folder) names a point set of :mod:`lesson.points` (the
bundled Fashion-MNIST test subset, crops of the bundled photos, or an image folder the user
names); :func:`points` loads it through ``st.cache_data``, keyed on plain values (the kind,
the size, the folder and its modification time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.state import Param
from lesson.points import POINT_SETS, PointSet, load_point_set
from ssl_core.data import DataError

__all__ = ["DATASETS", "DatasetSpec", "PointSet", "dataset_params", "dataset_picker", "points"]

DATASETS = POINT_SETS
DATASET_LABELS = {"fashion": "Fashion-MNIST (test)", "photos": "Photo crops",
                  "folder": "Image folder"}


@dataclass(frozen=True)
class DatasetSpec:
    """Which points: ``kind`` in :data:`DATASETS`, how many, and the folder for ``"folder"``."""

    kind: str
    n: int
    path: str = ""


def folder_stamp(path: str) -> str:
    """The folder's mtime (ns) as a cache key part, so that a changed folder is read again."""
    folder = Path(path).expanduser()
    try:
        return str(folder.stat().st_mtime_ns)
    except OSError:
        return "missing"


@st.cache_data(show_spinner="Loading the images…", max_entries=8)
def cached_point_set(kind: str, n: int, path: str, stamp: str) -> PointSet:
    """:func:`lesson.points.load_point_set`, cached; ``stamp`` is :func:`folder_stamp` of
    ``path`` (or ""), so a changed folder reloads. The arguments are :func:`point_set_key`."""
    return load_point_set(kind, n, path)


def point_set_key(spec: DatasetSpec) -> tuple[str, int, str, str]:
    """``(kind, n, folder, folder stamp)``: what names ``spec``'s points in a cache."""
    path = spec.path.strip() if spec.kind == "folder" else ""
    return spec.kind, int(spec.n), path, folder_stamp(path) if path else ""


def points(spec: DatasetSpec) -> PointSet:
    """The point set ``spec`` names (cached). Raises ``DataError`` for a bad folder."""
    if spec.kind == "folder" and not spec.path.strip():
        raise DataError("name an image folder first (a path on the machine running the app)")
    return cached_point_set(*point_set_key(spec))


def dataset_params(key: str, *, default_n: int, max_n: int,
                   sizes: tuple[int, ...] | None = None) -> tuple[Param, ...]:
    """The shareable state of ``dataset_picker(key=key)`` (``sizes``: as there)."""
    return (Param(f"{key}_data", "fashion", options=POINT_SETS),
            Param(f"{key}_n", default_n, lo=50, hi=max_n, choices=sizes),
            Param(f"{key}_folder", ""))


def dataset_picker(*, key: str, max_n: int, step: int = 50,
                   sizes: tuple[int, ...] | None = None) -> DatasetSpec:
    """Widgets ``{key}_data`` (radio), ``{key}_n`` (a slider from 50 to ``max_n`` by ``step``,
    or a select slider over ``sizes``) and ``{key}_folder`` (text input, for an image folder);
    returns the :class:`DatasetSpec`."""
    kind = st.radio("Images", DATASETS, key=f"{key}_data", horizontal=True,
                    format_func=DATASET_LABELS.get)
    if sizes:
        n = st.select_slider("Number of images", sizes, key=f"{key}_n",
                             format_func=lambda size: f"{size:,}")
    else:
        n = st.slider("Number of images", 50, max_n, step=step, key=f"{key}_n")
    path = ""
    if kind == "folder":
        path = st.text_input("Folder on this machine", key=f"{key}_folder",
                             placeholder="/data/my_images (one sub-folder per class, or flat)")
    elif kind == "photos":
        st.caption("Random crops of the 16 bundled photos; a crop's class is its photo.")
    return DatasetSpec(kind, int(n), path)
