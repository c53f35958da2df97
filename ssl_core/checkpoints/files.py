"""The checkpoint file format: safetensors for tensors, JSON for everything else, never pickle.

A checkpoint is a directory::

    model.safetensors     the weights (a flat state dict)
    config.json           how to rebuild the model: method, backbone name and kwargs, configs, data
    metrics.jsonl         one JSON object per logged step (written by the trainer)
    train_state.safetensors + train_state.json   optimizer state and step, for resuming

`torch.load` and `pickle` can run arbitrary code hidden in a file, so this module never calls them:
a `.pt`, `.pth`, `.bin`, `.ckpt` or `.pkl` file is refused with a message saying why, and so is any
file whose bytes are not a safetensors header, whatever its name.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
TRAIN_STATE_FILE = "train_state.safetensors"
TRAIN_STATE_JSON = "train_state.json"

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar")
# safetensors starts with an 8-byte little-endian header length followed by a JSON object.
_MAX_HEADER = 100_000_000


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, of the wrong format or inconsistent."""


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (a crash never leaves half a config)."""
    _atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing {path.name} in {path.parent}: a checkpoint directory holds "
                              f"{WEIGHTS_FILE} and {CONFIG_FILE}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from err


def check_safetensors_file(path: str | Path) -> Path:
    """Refuse anything that is not a readable safetensors file, before any byte is deserialised."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"refusing to load {path}: '{path.suffix}' files are pickles, and unpickling a file "
            "can run any code it contains. SSL Explorer loads only safetensors weights with a JSON "
            "config; convert a trusted pickle yourself with safetensors.torch.save_file."
        )
    if not path.is_file():
        raise CheckpointError(f"no weights file at {path}: expected a '{WEIGHTS_FILE}' "
                              "(safetensors) beside a config.json")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path} is empty or truncated ({size} bytes): not a safetensors "
                                  "file")
        (header_len,) = struct.unpack("<Q", head)
        first = handle.read(1)
    if header_len > min(size - 8, _MAX_HEADER) or first != b"{":
        raise CheckpointError(f"{path} is not a safetensors file (bad header); if it is a pickle "
                              "(.pt/.pth) it is refused on purpose: pickles can run code")
    return path


def save_tensors(path: str | Path, tensors: Mapping[str, torch.Tensor],
                 metadata: Mapping[str, str] | None = None) -> None:
    """Save a flat {name: tensor} mapping as safetensors, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or non-contiguous storage: store independent contiguous copies.
    flat = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(flat, tmp, metadata=dict(metadata) if metadata else None)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file, with clear errors for a wrong or truncated file."""
    path = check_safetensors_file(path)
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} could not be read as safetensors ({err}); the file may be "
                              "truncated: re-download or re-create it") from err


def save_checkpoint(directory: str | Path, *, state_dict: Mapping[str, torch.Tensor],
                    config: Mapping[str, Any]) -> Path:
    """Write `model.safetensors` + `config.json` into `directory` (created if needed)."""
    directory = Path(directory)
    save_tensors(directory / WEIGHTS_FILE, state_dict, metadata={"format": "pt"})
    write_json(directory / CONFIG_FILE, dict(config))
    return directory


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint directory (or its `model.safetensors`): (state_dict, config)."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        check_safetensors_file(path)  # raises the explanation
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} (expected a directory holding "
                              f"{WEIGHTS_FILE} and {CONFIG_FILE})")
    directory = path if path.is_dir() else path.parent
    weights = path if path.is_file() else directory / WEIGHTS_FILE
    config = read_json(directory / CONFIG_FILE)
    return load_tensors(weights, device=device), config


# --- optimizer state: nested dicts of tensors and numbers, flattened to safetensors + JSON -------

def save_train_state(directory: str | Path, *, optimizer_state: Mapping[str, Any],
                     extra: Mapping[str, Any] | None = None,
                     tensors: Mapping[str, torch.Tensor] | None = None) -> None:
    """Save an optimizer `state_dict()` (and other resumable state) without pickle.

    Tensors go to `train_state.safetensors` under `opt.<param_id>.<name>` (and `extra.<name>` for
    `tensors`); the rest (param groups, scalars, step counters) to `train_state.json`.
    """
    flat: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in optimizer_state["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                flat[f"opt.{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    for name, value in (tensors or {}).items():
        flat[f"extra.{name}"] = value
    directory = Path(directory)
    save_tensors(directory / TRAIN_STATE_FILE, flat)
    write_json(directory / TRAIN_STATE_JSON, {
        "param_groups": optimizer_state["param_groups"],
        "scalars": scalars,
        "extra": dict(extra or {}),
    })


def load_train_state(directory: str | Path
                     ) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    """Inverse of `save_train_state`: (optimizer_state_dict, extra, extra_tensors)."""
    directory = Path(directory)
    flat = load_tensors(directory / TRAIN_STATE_FILE)
    meta = read_json(directory / TRAIN_STATE_JSON)
    state: dict[int, dict[str, Any]] = {}
    extra_tensors: dict[str, torch.Tensor] = {}
    for key, value in flat.items():
        kind, rest = key.split(".", 1)
        if kind == "opt":
            pid, name = rest.split(".", 1)
            state.setdefault(int(pid), {})[name] = value
        else:
            extra_tensors[rest] = value
    for pid, entry in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}, meta["extra"], extra_tensors
