"""Models rebuilt from a checkpoint: the trained method, its encoder, and its random-init twin.

``config.json`` holds the method spec the trainer wrote (``method``, ``method_config``,
``backbone``, ``backbone_kwargs``: :func:`ssl_core.methods.method_spec`), which is enough to
rebuild the architecture; the weights come from ``model.safetensors``. The random-init twin is
the same backbone with fresh weights: the bar pretraining has to clear in every comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ssl_core.checkpoints.files import CheckpointError, load_checkpoint

__all__ = ["load_encoder", "load_method", "method_spec_of", "random_init_encoder"]

_SPEC_KEYS = ("method", "backbone")


def method_spec_of(config: Mapping[str, Any], *, where: str | Path = "config.json"
                   ) -> dict[str, Any]:
    """The method spec inside a checkpoint's ``config.json`` (as a dict), defaults filled in.

    Raises :class:`CheckpointError` naming ``where`` when ``method`` or ``backbone`` is missing.
    """
    missing = [key for key in _SPEC_KEYS if key not in config]
    if missing:
        raise CheckpointError(
            f"{where}: config.json lacks {missing}; a method checkpoint stores the method spec "
            "(method, method_config, backbone, backbone_kwargs) written by ssl_core.train"
        )
    return {"method_config": {}, "backbone_kwargs": {}} | {
        key: config[key] for key in ("method", "method_config", "backbone", "backbone_kwargs")
        if key in config
    }


def load_method(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the pretraining method saved in a checkpoint directory, weights loaded, eval mode.

    The module is built with ``ssl_core.methods.method_from_spec`` and the weights are loaded
    strictly (every tensor must match). Building does not disturb the global random state.
    """
    from ssl_core.methods import method_from_spec

    state, config = load_checkpoint(path, device="cpu")
    spec = method_spec_of(config, where=path)
    with torch.random.fork_rng(devices=[]):  # the weights are replaced: spare the global RNG
        method = method_from_spec(spec)
    try:
        method.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: the weights do not fit the {config['method']} method with backbone "
            f"{config['backbone']!r} described in config.json ({err})"
        ) from err
    return method.to(device).eval()


def load_encoder(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The encoder to evaluate from a method checkpoint (``forward_features(x) -> (B, D)``).

    That is the method's ``encoder``: DINO's teacher backbone, the backbone for the others.
    Returned in eval mode on ``device``.
    """
    return load_method(path, device=device).encoder.eval()


def random_init_encoder(config: Mapping[str, Any], *, seed: int = 0) -> torch.nn.Module:
    """The checkpoint's backbone with fresh weights drawn under ``seed``, eval mode, no grads.

    ``config`` is the checkpoint's ``config.json``. The weights equal those of the encoder of
    ``method_from_spec(spec)`` built under the same seed (the backbone is built first, and
    DINO's teacher starts as its copy); the global random state is left as it was.
    """
    from ssl_core.models.registry import build_backbone

    spec = method_spec_of(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_backbone(str(spec["backbone"]), **dict(spec["backbone_kwargs"]))
    return encoder.eval().requires_grad_(False)
