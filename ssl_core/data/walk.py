"""A bounded, link-safe walk of an image folder.

:func:`walk_images` lists the image files under a root the way torchvision's ``ImageFolder``
does (sorted, recursively), with three differences that matter when the folder is not yours:

- it never follows a link out of the root: a link (to a file or a folder) whose target, after
  ``os.path.realpath``, lies outside the root is skipped, and a folder reached twice (a link to
  ``..``) is walked once;
- it stops at :class:`WalkLimits`: files found, folder depth and seconds; past a limit it raises
  :class:`WalkLimitError` (a :class:`~ssl_core.data.decode.DataError`) saying which, instead of
  walking on;
- hidden entries (``.git``, ``.ipynb_checkpoints``) are skipped.

The default limits suit a dataset on a local disk (a million files, 32 levels, no time limit);
a caller serving untrusted requests passes tighter ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ssl_core.data.decode import IMAGE_EXTENSIONS, DataError

__all__ = ["DEFAULT_LIMITS", "WalkLimitError", "WalkLimits", "is_within", "scan_image_folder",
           "walk_images"]


@dataclass(frozen=True)
class WalkLimits:
    """How far :func:`walk_images` may go: image files found, folder depth below the root
    (0 = the root's own files only), wall seconds (None: no limit), and ``cancelled``, asked
    at every entry: once it returns True the walk stops (whoever asked for it has gone)."""

    max_files: int = 1_000_000
    max_depth: int = 32
    max_seconds: float | None = None
    cancelled: Callable[[], bool] | None = None

    def __post_init__(self) -> None:
        if self.max_files < 1 or self.max_depth < 0:
            raise ValueError(f"max_files must be >= 1 and max_depth >= 0; got {self}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0 or None; got {self.max_seconds}")


DEFAULT_LIMITS = WalkLimits()


class WalkLimitError(DataError):
    """A walk went past one of its :class:`WalkLimits`."""


def is_within(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``root`` or lies under it, both as given (resolve them first)."""
    path, root = os.fspath(path), os.fspath(root)
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives, or a mix of absolute and relative paths
        return False


class _Budget:
    def __init__(self, limits: WalkLimits) -> None:
        self.limits = limits
        self.found = 0
        self.deadline = (None if limits.max_seconds is None
                         else time.monotonic() + limits.max_seconds)

    def tick(self) -> None:
        if self.limits.cancelled is not None and self.limits.cancelled():
            raise WalkLimitError("the listing was cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise WalkLimitError(f"still listing files after {self.limits.max_seconds:g} s; "
                                 "name a smaller folder")

    def count(self) -> None:
        self.found += 1
        if self.found > self.limits.max_files:
            raise WalkLimitError(f"more than {self.limits.max_files:,} image files; name a "
                                 "smaller folder")


def _entries(folder: str, real_root: str, budget: _Budget) -> tuple[list[str], list[str]]:
    """(image files, sub-folders) of ``folder``, sorted by name, hidden ones and links leaving
    ``real_root`` left out; paths as walked (not resolved)."""
    files, folders = [], []
    try:
        with os.scandir(folder) as it:
            listed = sorted(it, key=lambda e: e.name)
    except OSError as error:
        raise DataError(f"cannot list {folder}: {error.strerror or error}") from error
    for entry in listed:
        budget.tick()
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_symlink() and not is_within(os.path.realpath(entry.path), real_root):
                continue  # a link out of the root: never followed
            if entry.is_dir():
                folders.append(entry.path)
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                files.append(entry.path)
        except OSError:  # vanished, or unreadable metadata: skipped like a non-image
            continue
    return files, folders


def walk_images(root: str | os.PathLike[str], *, limits: WalkLimits = DEFAULT_LIMITS,
                depth: int = 0, _state: tuple[str, _Budget, set[str]] | None = None
                ) -> list[Path]:
    """Image files under ``root`` (extensions :data:`IMAGE_EXTENSIONS`), recursively, sorted
    folder by folder (a folder's files, then its sub-folders in name order).

    Links are followed only while their target stays inside ``root`` (resolved with
    ``os.path.realpath``); each real folder is walked once. Raises :class:`WalkLimitError`
    past ``limits`` and :class:`DataError` when ``root`` cannot be listed.
    """
    if _state is None:
        real_root = os.path.realpath(root)
        _state = (real_root, _Budget(limits), set())
    real_root, budget, seen = _state
    real = os.path.realpath(root)
    if real in seen or not is_within(real, real_root):
        return []
    seen.add(real)
    files, folders = _entries(os.fspath(root), real_root, budget)
    out = []
    for file in files:
        budget.count()
        out.append(Path(file))
    if folders and depth >= budget.limits.max_depth:
        raise WalkLimitError(f"folders nested deeper than {budget.limits.max_depth} levels; "
                             "name a shallower folder")
    for folder in folders:
        out += walk_images(folder, depth=depth + 1, _state=_state)
    return out


def scan_image_folder(root: str | os.PathLike[str], *, limits: WalkLimits = DEFAULT_LIMITS
                      ) -> tuple[list[Path], list[tuple[Path, list[Path]]]]:
    """The layout of an image folder in one bounded walk: ``(root's own image files,
    [(sub-folder, the image files under it, recursively), ...])``, sorted, hidden entries and
    links leaving ``root`` left out; one :class:`WalkLimits` budget for the whole walk."""
    real_root = os.path.realpath(root)
    state = (real_root, _Budget(limits), {real_root})
    files, folders = _entries(os.fspath(root), real_root, state[1])
    for _ in files:
        state[1].count()
    if folders and limits.max_depth < 1:
        raise WalkLimitError("sub-folders are not allowed here (max_depth 0)")
    per_folder = [(Path(f), walk_images(f, depth=1, _state=state)) for f in folders]
    return [Path(f) for f in files], per_folder
