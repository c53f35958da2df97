"""Measured results of the lesson's experiments: JSON files in ``assets/results/``, and their types.

Each file is one JSON object with the measured data plus a ``"provenance"`` block: the command
that produced it, when, how long it took, on what machine, and the library versions, so that
every figure a page shows can be traced to the code and the run that measured it.

Files: :func:`save_result` / :func:`load_result` (plain JSON), :func:`available_results`.

Types: each experiment declares its result as a :class:`Result` subclass (fields typed with
plain types, ``X | None``, ``list[X]``, ``dict[str, X]`` and nested :class:`Record` s), and that
class is the one reader of its file: the pages and ``scripts/make_report.py`` call
``XResult.load()`` and use attributes, so a file of the wrong shape fails in one place with one
message (:class:`ResultFormatError`) instead of a ``KeyError`` deep in a figure.

- :meth:`Record.from_json` converts a JSON object field by field (an int where a float is
  declared is accepted; a missing field takes its default or is an error); keys the class does
  not declare are kept in ``extra`` when the class has that field, else ignored.
- :meth:`Record.to_json` is the inverse; a field left at None is not written.
- :class:`Result` adds the file's name, a ``schema_version`` (files written before versions
  existed read as version 1), the ``provenance`` block, and :meth:`Result.load` /
  :meth:`Result.save`; :func:`measure_and_save` is the tail of an experiment's ``main``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

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


class ResultFormatError(ValueError):
    """A result file whose content does not have the shape its reader expects."""


def _convert(value: Any, hint: Any, where: str) -> Any:
    """``value`` (parsed JSON) as the type ``hint`` declares; ResultFormatError if it is not."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(value, option, where)
            except ResultFormatError as error:
                errors.append(str(error))
        raise ResultFormatError(errors[0] if errors else f"{where}: unexpected {value!r}")
    if isinstance(hint, type) and issubclass(hint, Record):
        if not isinstance(value, Mapping):
            raise ResultFormatError(f"{where}: expected an object, got {type(value).__name__}")
        return hint.from_json(value, where=where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ResultFormatError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ResultFormatError(f"{where}: expected an object, got {type(value).__name__}")
        _, item = typing.get_args(hint)
        return {str(k): _convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ResultFormatError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ResultFormatError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint in (str, bool):
        if not isinstance(value, hint):
            raise ResultFormatError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    raise TypeError(f"{where}: field type {hint!r} is not supported by lesson.records")


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    return value


class Record:
    """Mixin for frozen, keyword-only dataclasses read from and written to JSON."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str | None = None) -> Self:
        """The record of a JSON object (see the module docstring for the rules)."""
        where = where or cls.__name__
        if not isinstance(data, Mapping):
            raise ResultFormatError(f"{where}: expected an object, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values: dict[str, Any] = {}
        for name, spec in fields.items():
            if name == "extra":
                continue
            if name in data:
                values[name] = _convert(data[name], hints[name], f"{where}.{name}")
            elif (spec.default is dataclasses.MISSING
                  and spec.default_factory is dataclasses.MISSING):
                raise ResultFormatError(f"{where} lacks {name!r}")
        if "extra" in fields:
            values["extra"] = {k: v for k, v in data.items() if k not in fields}
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this record (fields left at None are not written)."""
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, spec.name)
            if spec.name == "extra":
                out |= dict(value)
            elif value is not None:
                out[spec.name] = _to_json(value)
        return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class Provenance(Record):
    """Where a result came from: the command, when it finished, how long it took, on what."""

    command: str = "?"
    finished_utc: str | None = None
    wall_time_s: float | None = None
    machine: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result(Record):
    """A result file's content. Subclasses set ``NAME`` (the file: ``<results>/<NAME>.json``) and
    raise ``SCHEMA_VERSION`` when they change a field's meaning."""

    NAME: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    provenance: Provenance | None = None

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Self:
        """The result in ``<directory or the bundled results>/<NAME>.json``.

        Raises :class:`lesson.results.ResultMissingError` when the file is absent and
        :class:`ResultFormatError` (a ValueError) when it is not this result's JSON.
        """
        data = load_result(cls.NAME, directory=directory)
        version = data.get("schema_version", 1)
        if version != cls.SCHEMA_VERSION:
            raise ResultFormatError(
                f"{cls.NAME}.json has schema version {version!r}; this code reads version "
                f"{cls.SCHEMA_VERSION}: re-run `python3 -m lesson.experiments.{cls.NAME}`"
            )
        try:
            return cls.from_json(data, where=f"{cls.NAME}.json")
        except ResultFormatError as error:
            raise ResultFormatError(
                f"{error} (unexpected shape; re-run `python3 -m lesson.experiments.{cls.NAME}`)"
            ) from error

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.pop("provenance", None)  # written by save_result, not by the result itself
        return out | {"schema_version": self.SCHEMA_VERSION}

    def save(self, *, command: str | None = None, wall_time_s: float | None = None,
             directory: str | Path | None = None) -> Path:
        """Write this result (with a fresh provenance block) as ``<NAME>.json``."""
        return save_result(self.NAME, self.to_json(), command=command, wall_time_s=wall_time_s,
                           directory=directory)


def measure_and_save(
    kind: type[Result],
    compute: Callable[[], Mapping[str, Any]],
    *,
    argv: Sequence[str] | None,
    prog: str,
    directory: str | Path | None = None,
) -> int:
    """The tail of an experiment's ``main``: run ``compute`` (the result's JSON form), check it
    against ``kind``, save it as ``kind.NAME`` with the command ``python3 -m
    lesson.experiments.<name> <argv>`` and the wall time, and return an exit code (2 with a
    one-line message when the data, a checkpoint or an argument is bad).
    """
    from ssl_core.checkpoints import CheckpointError
    from ssl_core.data import DataError

    started = time.perf_counter()
    try:
        result = kind.from_json(compute())
    except (CheckpointError, DataError, ValueError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    args = list(argv if argv is not None else sys.argv[1:])
    command = " ".join(["python3", "-m", f"lesson.experiments.{kind.NAME}", *args])
    path = result.save(command=command, wall_time_s=time.perf_counter() - started,
                       directory=directory)
    print(f"[{kind.NAME}] wrote {path}", file=sys.stderr)
    return 0


def experiment_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The command line of ``python3 -m lesson.experiments.<name>``; the caller adds options."""
    return argparse.ArgumentParser(prog=f"python3 -m lesson.experiments.{name}",
                                   description=description)


def run_experiment_cli(
    kind: type[Result],
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    compute: Callable[[argparse.Namespace], Mapping[str, Any]],
) -> int:
    """An experiment's ``main``: parse ``argv`` (the parser has ``--results-dir``), then
    :func:`measure_and_save` what ``compute(args)`` returns."""
    args = parser.parse_args(argv)
    return measure_and_save(kind, lambda: compute(args), argv=argv, prog=parser.prog,
                            directory=args.results_dir)
