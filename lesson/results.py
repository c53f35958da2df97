"""Measured results of the lesson's experiments: JSON files in ``assets/results/``.

The experiments (``python -m lesson.experiments.<name>``) write them with :func:`save_result`; the
app's pages and ``outputs/results.md`` read them with :func:`load_result`. Each file is one JSON
object with the measured data plus a ``"provenance"`` block: the command that produced it, when,
how long it took, on what machine, and the library versions, so that every figure the app shows
can be traced to the code and the run that measured it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ssl_core import paths


class ResultMissingError(FileNotFoundError):
    """A result file that was never produced (or was deleted); the message names its script."""


def _check_name(name: str) -> None:
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(
            f"result names are letters, digits, '_' and '-' (e.g. 'dino_collapse'); got {name!r}"
        )


def result_path(name: str, *, directory: str | Path | None = None) -> Path:
    """The file of result ``name``: ``<directory or paths.results_dir()>/<name>.json``."""
    _check_name(name)
    return Path(directory or paths.results_dir()) / f"{name}.json"


def machine_description() -> dict[str, Any]:
    """Where a measurement ran: CPUs, torch threads, GPU (if any), Python and torch versions."""
    import torch

    description: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        description["gpu"] = torch.cuda.get_device_name(0)
    return description


def save_result(
    name: str,
    data: Mapping[str, Any],
    *,
    command: str | Sequence[str] | None = None,
    wall_time_s: float | None = None,
    directory: str | Path | None = None,
) -> Path:
    """Write ``data`` (JSON-serialisable) as result ``name`` with a provenance block; returns the
    path. ``command`` defaults to the current process's command line. The write is atomic (a
    reader never sees half a file)."""
    if "provenance" in data:
        raise ValueError("'provenance' is written by save_result; remove it from data")
    if command is None:
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name:  # run as `python -m package.module`
            command = ["python3", "-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]]
        else:
            command = [Path(sys.executable).name, *sys.argv]
    if not isinstance(command, str):
        command = " ".join(str(part) for part in command)
    provenance: dict[str, Any] = {
        "command": command,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
    }
    if wall_time_s is not None:
        provenance["wall_time_s"] = round(float(wall_time_s), 2)
    payload = {**data, "provenance": provenance}
    text = json.dumps(payload, indent=1, allow_nan=False) + "\n"
    path = result_path(name, directory=directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be read by anyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_result(name: str, *, directory: str | Path | None = None) -> dict[str, Any]:
    """Result ``name`` as a dict (with its ``"provenance"``).

    Raises :class:`ResultMissingError` when the file does not exist (the message says which
    script makes it) and ``ValueError`` when it is not valid JSON.
    """
    path = result_path(name, directory=directory)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"result file {path} is not UTF-8 text ({error.reason}); re-run its script"
        ) from error
    except FileNotFoundError:
        raise ResultMissingError(
            f"no measured result {name!r} at {path}; it is produced by "
            f"`python3 -m lesson.experiments.{name}`"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"result file {path} is not valid JSON ({error}); re-run its script"
        ) from error
    if not isinstance(data, dict):
        raise ValueError(f"result file {path} holds a {type(data).__name__}, not a JSON object")
    return data


def available_results(*, directory: str | Path | None = None) -> list[str]:
    """Names of the results present, sorted."""
    folder = Path(directory or paths.results_dir())
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


class Stopwatch:
    """``with Stopwatch() as clock: ...; clock.seconds``: wall time of a block."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def measure_and_save(
    name: str,
    compute: Callable[[], Mapping[str, Any]],
    *,
    argv: Sequence[str] | None,
    prog: str,
    directory: str | Path | None = None,
) -> int:
    """The tail of an experiment's ``main``: run ``compute``, save its result as ``name`` with
    the command ``python3 -m lesson.experiments.<name> <argv>`` and the wall time, and return
    an exit code (2 with a one-line message when the data, a checkpoint or an argument is bad).
    """
    from ssl_core.checkpoints import CheckpointError
    from ssl_core.data import DataError

    started = time.perf_counter()
    try:
        result = compute()
    except (CheckpointError, DataError, ValueError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    args = list(argv if argv is not None else sys.argv[1:])
    command = " ".join(["python3", "-m", f"lesson.experiments.{name}", *args])
    path = save_result(name, result, command=command,
                       wall_time_s=time.perf_counter() - started, directory=directory)
    print(f"[{name}] wrote {path}", file=sys.stderr)
    return 0
