"""Which images the representation pages show: the point-set picker and its cached sets.

A :class:`DatasetSpec` (kind, size, folder) names a point set of :mod:`lesson.points` (the
bundled Fashion-MNIST test subset, crops of the bundled photos, or one of the image folders the
operator offers, :mod:`app.folders`); :func:`points` loads it through ``st.cache_data``, keyed
on plain values (the kind, the size, the folder's name in the list and its modification time).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import streamlit as st

from app import folders, training
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


@st.cache_data(show_spinner=False, ttl=30)
def _folder_choices(roots: tuple[str, ...]) -> list[folders.FolderChoice]:
    return folders.folder_choices(roots)


def offered_folders() -> list[folders.FolderChoice]:
    """The folders users may pick (:func:`app.folders.folder_choices` of the operator's roots),
    listed again at most every 30 s."""
    roots = folders.folder_roots()
    return _folder_choices(roots) if roots else []


@st.cache_data(show_spinner="Loading the images…", max_entries=8)
def cached_point_set(kind: str, n: int, path: str, stamp: str) -> PointSet:
    """:func:`lesson.points.load_point_set`, cached; for ``"folder"``, ``path`` is the key of
    one of :func:`offered_folders` and ``stamp`` its modification time (a changed folder
    reloads), read within :data:`app.folders.READ_LIMITS`. The arguments are
    :func:`point_set_key`. Raises DataError naming the choice, never a server path."""
    if kind != "folder":
        return load_point_set(kind, n)
    choice = folders.resolve_choice(path, offered_folders())
    if choice is None:
        raise DataError(folders.NOT_OFFERED if folders.folder_roots() else folders.OFF_MESSAGE)
    try:
        # the listing stops as soon as the page is gone (a rerun, a closed tab)
        limits = dataclasses.replace(folders.READ_LIMITS, cancelled=training.run_abandoned)
        point_set = load_point_set(kind, n, choice.path, limits=limits)
    except DataError as error:
        raise DataError(folders.public_message(str(error), choice)) from None
    return dataclasses.replace(point_set, name=folders.public_message(point_set.name, choice))


def point_set_key(spec: DatasetSpec) -> tuple[str, int, str, str]:
    """``(kind, n, folder choice, folder stamp)``: what names ``spec``'s points in a cache."""
    if spec.kind != "folder":
        return spec.kind, int(spec.n), "", ""
    choice = folders.resolve_choice(spec.path, offered_folders())
    return spec.kind, int(spec.n), spec.path, folders.folder_stamp(choice.path) if choice else ""


def points(spec: DatasetSpec) -> PointSet:
    """The point set ``spec`` names (cached). Raises ``DataError`` for a folder that is not
    offered (or when folders are off)."""
    if spec.kind == "folder":
        if not folders.folder_roots():
            raise DataError(folders.OFF_MESSAGE)
        if folders.resolve_choice(spec.path, offered_folders()) is None:
            raise DataError(folders.NOT_OFFERED)
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
    or a select slider over ``sizes``) and ``{key}_folder`` (a selectbox over the folders the
    operator offers, :mod:`app.folders`; a value from the URL that is not among them is
    replaced, with a warning that repeats nothing of it); returns the :class:`DatasetSpec`."""
    kind = st.radio("Images", DATASETS, key=f"{key}_data", horizontal=True,
                    format_func=DATASET_LABELS.get)
    if sizes:
        n = st.select_slider("Number of images", sizes, key=f"{key}_n",
                             format_func=lambda size: f"{size:,}")
    else:
        n = st.slider("Number of images", 50, max_n, step=step, key=f"{key}_n")
    path = ""
    if kind == "folder":
        path = _folder_picker(key)
    elif kind == "photos":
        st.caption("Random crops of the 16 bundled photos; a crop's class is its photo.")
    return DatasetSpec(kind, int(n), path)


def _folder_picker(key: str) -> str:
    """The ``{key}_folder`` selectbox over :func:`offered_folders`; "" when none is offered."""
    if not folders.folder_roots():
        st.info(folders.OFF_MESSAGE, icon=":material/info:")
        return ""
    keys = [choice.key for choice in offered_folders()]
    if not keys:
        st.info("No folder can be read under the roots this server offers.",
                icon=":material/info:")
        return ""
    asked = st.session_state.get(f"{key}_folder")
    if asked not in keys:
        if asked:
            st.warning(folders.NOT_OFFERED, icon=":material/warning:")
        st.session_state[f"{key}_folder"] = keys[0]
    return str(st.selectbox("Folder (one sub-folder per class, or flat)", keys,
                            key=f"{key}_folder"))
