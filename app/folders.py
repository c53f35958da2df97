"""Image folders on the server: only under the roots the operator names, picked from a list.

Reading a folder of the server's disk is off unless whoever starts the server names roots in
``SSL_EXPLORER_FOLDER_ROOTS`` (folders separated by ``os.pathsep``, ``:`` on Linux). A user then
picks one of the folders under those roots from a list (:func:`folder_choices`: each root and
its sub-folders a few levels down, listed by a bounded scan that follows no link out of its
root); a choice is named by its root's folder name and the path below it (``photos/cats``),
never by a server path, and a value that is not on the list (from a URL) is refused before
anything is read, without saying whether such a path exists. Reading the chosen folder is
bounded too (:data:`READ_LIMITS`: files, depth, seconds; ``ssl_core.data.walk``), and its
error messages name the choice, not the path behind it (:func:`public_message`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ssl_core.data import WalkLimits, is_within

__all__ = [
    "FOLDER_ROOTS_ENV",
    "NOT_OFFERED",
    "OFF_MESSAGE",
    "READ_LIMITS",
    "FolderChoice",
    "folder_choices",
    "folder_roots",
    "public_message",
    "resolve_choice",
]

FOLDER_ROOTS_ENV = "SSL_EXPLORER_FOLDER_ROOTS"
CHOICE_DEPTH = 2  # sub-folders offered below each root
MAX_CHOICES = 200  # folders offered at most, all roots together
LIST_SECONDS = 1.0  # listing the choices stops after this long
READ_LIMITS = WalkLimits(max_files=20_000, max_depth=6, max_seconds=10.0)
OFF_MESSAGE = (
    "Reading image folders is switched off on this server. Whoever runs it can offer folders "
    f"under chosen roots with the environment variable {FOLDER_ROOTS_ENV} (see the README).")
NOT_OFFERED = ("That folder is not one this server offers; pick one from the list "
               "(folders under the roots its operator chose).")


@dataclass(frozen=True)
class FolderChoice:
    """One folder a user may pick: ``key`` is what the list and the URL show (the root's folder
    name and the path below it); ``path`` and ``root`` are real paths, never shown."""

    key: str
    path: str
    root: str


def folder_roots(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The operator's roots: real paths of the existing folders named in
    :data:`FOLDER_ROOTS_ENV`, in order, without repeats; empty when unset (folders off)."""
    raw = (os.environ if environ is None else environ).get(FOLDER_ROOTS_ENV, "")
    roots: list[str] = []
    for part in raw.split(os.pathsep):
        part = part.strip()
        if not part or not os.path.isabs(part):  # "~" or a relative path: ambiguous, skipped
            continue
        real = os.path.realpath(part)
        if os.path.isdir(real) and real not in roots:
            roots.append(real)
    return tuple(roots)


def _root_labels(roots: tuple[str, ...]) -> list[str]:
    labels: list[str] = []
    for i, root in enumerate(roots):
        label = os.path.basename(root) or f"root{i + 1}"
        labels.append(label if label not in labels else f"{label}-{i + 1}")
    return labels


def folder_choices(roots: tuple[str, ...], *, depth: int = CHOICE_DEPTH,
                   max_choices: int = MAX_CHOICES, seconds: float = LIST_SECONDS
                   ) -> list[FolderChoice]:
    """Each root and its sub-folders down to ``depth`` levels, as :class:`FolderChoice` s: hidden
    folders and links leaving the root left out, at most ``max_choices`` in all, listed for at
    most ``seconds``."""
    deadline = time.monotonic() + seconds
    choices: list[FolderChoice] = []
    for root, label in zip(roots, _root_labels(roots), strict=True):
        queue = [(root, label, 0)]
        while queue and len(choices) < max_choices and time.monotonic() < deadline:
            folder, key, level = queue.pop(0)
            choices.append(FolderChoice(key, folder, root))
            if level >= depth:
                continue
            try:
                with os.scandir(folder) as it:
                    entries = sorted((e for e in it if not e.name.startswith(".")),
                                     key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                try:
                    if not entry.is_dir():
                        continue
                    real = os.path.realpath(entry.path)
                except OSError:
                    continue
                if is_within(real, root) and real != root:
                    queue.append((real, f"{key}/{entry.name}", level + 1))
    return choices


def resolve_choice(key: str, choices: list[FolderChoice]) -> FolderChoice | None:
    """The choice named ``key``, checked again (its real path still inside its root, still a
    folder: the disk may have changed since the list was made); None for anything else."""
    for choice in choices:
        if choice.key == key:
            real = os.path.realpath(choice.path)
            if is_within(real, choice.root) and os.path.isdir(real):
                return FolderChoice(choice.key, real, choice.root)
            return None
    return None


def public_message(message: str, choice: FolderChoice) -> str:
    """``message`` (a library error about the chosen folder) with the server paths behind the
    choice replaced by the choice's name."""
    for real, shown in ((choice.path, choice.key), (choice.root, choice.key.split("/")[0])):
        message = message.replace(real, shown)
    return message.replace(str(Path.home()), "~")


def folder_stamp(path: str) -> str:
    """The folder's mtime (ns) as a cache key part, so that a changed folder is read again."""
    try:
        return str(os.stat(path).st_mtime_ns)
    except OSError:
        return "missing"
