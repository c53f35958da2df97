"""Checkpoints: the file format, the models rebuilt from one, and the catalogue of a folder of them.

- :mod:`~ssl_core.checkpoints.files`: ``model.safetensors`` + ``config.json`` (+ metrics and a
  resumable train state), read and written without pickle;
- :mod:`~ssl_core.checkpoints.models`: :func:`load_method`, :func:`load_encoder` and the
  random-init twin :func:`random_init_encoder`;
- :mod:`~ssl_core.checkpoints.catalogue`: :func:`list_checkpoints` / :func:`checkpoint_info`
  (what each directory says about itself: method, backbone, input geometry, run, sha256) and
  :func:`checkpoint_stamp` for cache keys.

Everything is importable from ``ssl_core.checkpoints``.
"""

from ssl_core.checkpoints.catalogue import (
    CheckpointInfo,
    checkpoint_info,
    checkpoint_names,
    checkpoint_stamp,
    find_checkpoint,
    list_checkpoints,
    read_metrics,
)
from ssl_core.checkpoints.files import (
    CONFIG_FILE,
    METRICS_FILE,
    PICKLE_SUFFIXES,
    TRAIN_STATE_FILE,
    TRAIN_STATE_JSON,
    WEIGHTS_FILE,
    CheckpointError,
    check_safetensors_file,
    file_sha256,
    load_checkpoint,
    load_tensors,
    load_train_state,
    read_json,
    save_checkpoint,
    save_tensors,
    save_train_state,
    write_json,
)
from ssl_core.checkpoints.models import (
    load_encoder,
    load_method,
    method_spec_of,
    random_init_encoder,
)

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "PICKLE_SUFFIXES",
    "TRAIN_STATE_FILE",
    "TRAIN_STATE_JSON",
    "WEIGHTS_FILE",
    "CheckpointError",
    "CheckpointInfo",
    "check_safetensors_file",
    "checkpoint_info",
    "checkpoint_names",
    "checkpoint_stamp",
    "file_sha256",
    "find_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_encoder",
    "load_method",
    "load_tensors",
    "load_train_state",
    "method_spec_of",
    "random_init_encoder",
    "read_json",
    "read_metrics",
    "save_checkpoint",
    "save_tensors",
    "save_train_state",
    "write_json",
]
