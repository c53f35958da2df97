"""Where a transformers model's weights are: a local folder, or a snapshot in the Hugging Face
hub cache (downloaded there only when asked). Safetensors only; a missing model raises
:class:`ModelNotAvailableError` at once, saying where it looked and how to get the files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "KNOWN_MODELS",
    "SAFETENSORS_FILES",
    "ModelNotAvailableError",
    "hf_hub_cache_dir",
    "list_local_models",
    "resolve_model_dir",
    "weights_stamp",
]

# The hub models this loader is made for (load_hf_encoder takes any DINOv2 / ViT-MAE folder);
# list_local_models reports the cached ones in this order, smallest first.
KNOWN_MODELS: tuple[str, ...] = (
    "facebook/dinov2-small",  # ViT-S/14, 22M parameters, D = 384: the quick one on a CPU
    "facebook/dinov2-base",  # ViT-B/14, 86M parameters, D = 768
    "facebook/vit-mae-base",  # ViT-B/16 encoder + 8-layer decoder, D = 768; reconstructs pixels
)

SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
_PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_HUB_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")


class ModelNotAvailableError(FileNotFoundError):
    """The weights asked for are not on this machine (or not as safetensors); none were fetched."""


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment now (not at import time).

    Same precedence as huggingface_hub: ``HF_HUB_CACHE``, then ``HF_HOME/hub``, then
    ``$XDG_CACHE_HOME/huggingface/hub``, then ``~/.cache/huggingface/hub``. huggingface_hub freezes
    these at its import; reading them per call lets a process (or a test) point elsewhere later.
    """
    env = os.environ
    hub_cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if hub_cache:
        return Path(hub_cache).expanduser()
    hf_home = env.get("HF_HOME")
    if not hf_home:
        xdg = env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        hf_home = os.path.join(xdg, "huggingface")
    return Path(hf_home).expanduser() / "hub"


def _cached_snapshot(repo_id: str, cache_dir: Path) -> Path | None:
    """The cached snapshot folder of ``repo_id``'s main revision that holds its config, or None."""
    if not cache_dir.is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache  # filesystem only, never the network

    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir)
    return Path(found).parent if isinstance(found, str) else None


def _has_any(directory: Path, names: tuple[str, ...]) -> bool:
    return any((directory / name).is_file() for name in names)


def _check_model_dir(directory: Path, *, what: str) -> Path:
    """``directory`` if it holds a config and safetensors weights; else say what is missing."""
    if not (directory / "config.json").is_file():
        raise ModelNotAvailableError(
            f"{what} has no config.json, so it is not a saved transformers model. Save one with "
            "model.save_pretrained(DIR), or pass a hub id such as 'facebook/dinov2-small'."
        )
    if _has_any(directory, SAFETENSORS_FILES):
        return directory
    if _has_any(directory, _PICKLE_FILES):
        raise ModelNotAvailableError(
            f"{what} holds only pickled weights (pytorch_model.bin); SSL Explorer loads "
            "safetensors only, because unpickling a file can run arbitrary code. Get the "
            "model.safetensors file of the same model (e.g. `hf download REPO_ID --include "
            "'*.safetensors' '*.json'`), or convert once in a trusted environment with "
            "Model.from_pretrained(DIR).save_pretrained(NEW_DIR)."
        )
    raise ModelNotAvailableError(
        f"{what} has a config.json but no model.safetensors (or model.safetensors.index.json)."
    )


def _how_to_get(repo_id: str) -> str:
    return (
        f"To get it: on a machine with internet run `hf download {repo_id} --include '*.json' "
        "'*.safetensors'` (older huggingface_hub: `huggingface-cli download ...`) and copy the "
        "cache folder here (point HF_HOME or HF_HUB_CACHE at it); or add `--local-dir DIR` and "
        "pass DIR instead of the id; or allow a download now with local_only=False."
    )


def resolve_model_dir(
    name_or_path: str | os.PathLike[str],
    *,
    local_only: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The local folder to load ``name_or_path`` from: the directory itself, or the hub snapshot.

    A path to an existing directory is used as is. Anything else is read as a hub id and looked up
    in the Hugging Face cache (``cache_dir``, default :func:`hf_hub_cache_dir`); with
    ``local_only=False`` a missing model is downloaded there first (json and safetensors files
    only). Raises :class:`ModelNotAvailableError` naming what was looked for and how to get it;
    with ``local_only=True`` nothing touches the network, so this fails in milliseconds.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return _check_model_dir(path, what=f"directory {str(path)!r}")
    if not _HUB_ID.match(text) or text.startswith((".", "~")):
        raise ModelNotAvailableError(
            f"no directory {text!r} (resolved to {str(path.absolute())!r}); pass a folder holding "
            "config.json and model.safetensors, or a hub id such as 'facebook/dinov2-small'."
        )
    cache = Path(cache_dir).expanduser() if cache_dir is not None else hf_hub_cache_dir()
    snapshot = _cached_snapshot(text, cache)
    if snapshot is None and not local_only:
        snapshot = _download(text, cache)
    if snapshot is None:
        raise ModelNotAvailableError(
            f"{text!r} is neither a local directory nor in the Hugging Face cache at "
            f"{str(cache)!r} (looked for the config.json and model.safetensors of the repo's main "
            f"revision; no download was tried because local_only=True). {_how_to_get(text)}"
        )
    return _check_model_dir(snapshot, what=f"cached hub model {text!r} at {str(snapshot)!r}")


def _download(repo_id: str, cache: Path) -> Path:
    """Fetch ``repo_id``'s json and safetensors files into ``cache``; only with local_only=False."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id,
            cache_dir=cache,
            allow_patterns=["*.json", "*.safetensors"],
        )
    except Exception as exc:  # network down, unknown repo, gated repo, disk full, ...
        raise ModelNotAvailableError(
            f"could not download {repo_id!r} into {str(cache)!r}: {exc}. {_how_to_get(repo_id)}"
        ) from exc
    return Path(folder)


def list_local_models(cache_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Which of :data:`KNOWN_MODELS` the local hub cache holds with safetensors weights.

    Reads the filesystem only, no network: cheap enough to ask on every listing of models.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else hf_hub_cache_dir()
    present = []
    for repo_id in KNOWN_MODELS:
        snapshot = _cached_snapshot(repo_id, cache)
        if snapshot is not None and _has_any(snapshot, SAFETENSORS_FILES):
            present.append(repo_id)
    return present


def weights_stamp(
    name_or_path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
) -> str:
    """A string that changes when the local weights of ``name_or_path`` change: the resolved
    folder and its model.safetensors' mtime and size ("missing" when not on this machine). For
    cache keys, so that a model re-fetched (or cut short) in the cache is loaded again."""
    try:
        directory = resolve_model_dir(name_or_path, local_only=True, cache_dir=cache_dir)
    except (ModelNotAvailableError, ValueError, OSError):
        return "missing"
    weights = directory / "model.safetensors"
    try:
        stat = weights.stat()
    except OSError:
        return str(directory)
    return f"{directory}:{stat.st_mtime_ns}:{stat.st_size}"
