"""Self-supervised methods (SimCLR, DINO, MAE, UNet-MAE): ``nn.Module``s the trainer drives.

Every method follows one protocol, :class:`Method`:

- ``name`` ("simclr", "dino", "mae", "unet_mae") and ``config``, a frozen dataclass
  (JSON-serialisable with ``dataclasses.asdict``);
- ``backbone`` (the network the optimiser trains) and ``encoder`` (the one to evaluate, with
  ``forward_features(x) -> (B, D)``: the backbone, except DINO's teacher backbone);
- ``training_step(batch) -> (loss, metrics)``: a scalar loss with grad and a dict of floats;
  ``forward`` is the same call, so DDP / Fabric wrappers sync gradients;
- ``trainable_parameters()``, ``on_before_optimizer_step()`` (DINO's frozen last layer),
  ``on_train_step_end(step, total_steps) -> dict`` (DINO's teacher EMA) and ``set_epoch(epoch)``
  (DINO's teacher-temperature warm-up and last-layer freeze).

Batches (float32 images in [0, 1], already augmented; a trailing labels tensor is ignored):
simclr ``(x1, x2)``; dino ``[g1, g2, l1, ..., lK]`` (global crops first); mae and unet_mae ``x``.

``build_method("mae", backbone="vit_tiny_p4_28", config={"mask_ratio": 0.6})`` builds a method
from names; ``method_spec(method)`` is the JSON a checkpoint stores, and ``method_from_spec(spec)``
rebuilds the same architecture from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from torch import Tensor, nn

from ssl_core.methods.dino import DINO, DINOConfig
from ssl_core.methods.mae import MAE, MAEConfig
from ssl_core.methods.masked import Reconstruction
from ssl_core.methods.masked_unet import UNetMAE, UNetMAEConfig
from ssl_core.methods.simclr import SimCLR, SimCLRConfig
from ssl_core.models.registry import backbone_config, build_backbone

__all__ = [
    "CONFIGS",
    "DINO",
    "METHODS",
    "METHOD_LABELS",
    "MAE",
    "DINOConfig",
    "MAEConfig",
    "Method",
    "Reconstruction",
    "SimCLR",
    "SimCLRConfig",
    "UNetMAE",
    "UNetMAEConfig",
    "build_method",
    "method_from_spec",
    "method_spec",
    "resolve_config",
]

METHODS: dict[str, type[nn.Module]] = {
    "simclr": SimCLR,
    "dino": DINO,
    "mae": MAE,
    "unet_mae": UNetMAE,
}
METHOD_LABELS: dict[str, str] = {  # how people write the names
    "simclr": "SimCLR",
    "dino": "DINO",
    "mae": "MAE",
    "unet_mae": "U-Net MAE",
}
CONFIGS: dict[str, type] = {
    "simclr": SimCLRConfig,
    "dino": DINOConfig,
    "mae": MAEConfig,
    "unet_mae": UNetMAEConfig,
}


@runtime_checkable
class Method(Protocol):
    """What the trainer, the checkpoints and the evaluation rely on (see the module docstring)."""

    name: ClassVar[str]
    config: Any

    @property
    def encoder(self) -> nn.Module: ...

    def training_step(self, batch: Any) -> tuple[Tensor, dict[str, float]]: ...

    def trainable_parameters(self) -> list[nn.Parameter]: ...

    def on_before_optimizer_step(self) -> None: ...

    def on_train_step_end(self, step: int, total_steps: int) -> dict[str, float]: ...

    def set_epoch(self, epoch: float) -> None: ...


def _check_name(name: str) -> None:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")


def resolve_config(name: str, config: Mapping[str, Any] | Any | None = None) -> Any:
    """The method's config dataclass from ``None`` (defaults), a dict of fields or an instance."""
    _check_name(name)
    config_cls = CONFIGS[name]
    if config is None:
        return config_cls()
    if isinstance(config, config_cls):
        return config
    if isinstance(config, Mapping):
        fields = sorted(f.name for f in dataclasses.fields(config_cls))
        unknown = sorted(set(config) - set(fields))
        if unknown:
            raise ValueError(
                f"{config_cls.__name__} has no field(s) {unknown}; valid fields: "
                f"{', '.join(fields)}"
            )
        return config_cls(**config)
    raise ValueError(
        f"config for {name!r} must be None, a dict or a {config_cls.__name__}; got "
        f"{type(config).__name__}"
    )


def build_method(
    name: str,
    *,
    backbone: str,
    backbone_kwargs: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | Any | None = None,
) -> nn.Module:
    """Build method ``name`` around the registry backbone ``backbone`` (with overrides).

    ``build_method("dino", backbone="vit_tiny_p4_28", backbone_kwargs={"depth": 2},
    config={"out_dim": 256})``. The method remembers the backbone's name and its fully resolved
    config, so :func:`method_spec` and :func:`method_from_spec` rebuild the same architecture even
    if the registry's defaults change later. Unknown names or fields raise ValueError listing the
    valid ones.
    """
    _check_name(name)
    cfg = resolve_config(name, config)
    kwargs = dict(backbone_kwargs or {})
    resolved = backbone_config(backbone, **kwargs)  # validates the name and the overrides
    method = METHODS[name](build_backbone(backbone, **resolved), cfg)
    method.backbone_spec = {"backbone": backbone, "backbone_kwargs": resolved}
    return method


def method_spec(method: nn.Module) -> dict[str, Any]:
    """JSON-ready description that rebuilds ``method`` with :func:`method_from_spec`.

    ``{"method": name, "method_config": asdict(config), "backbone": registry name,
    "backbone_kwargs": {...}}``, where backbone_kwargs is the backbone's full resolved config.
    Only methods made by :func:`build_method` know their backbone's registry name.
    """
    name = getattr(method, "name", None)
    if name not in METHODS or not isinstance(method, METHODS[name]):
        raise ValueError(f"not a known method: {type(method).__name__}")
    backbone_spec = getattr(method, "backbone_spec", None)
    if backbone_spec is None:
        raise ValueError(
            f"this {type(method).__name__} was built without build_method, so its backbone has "
            "no registry name; build it with build_method(name, backbone=...)"
        )
    return {
        "method": name,
        "method_config": dataclasses.asdict(method.config),
        "backbone": backbone_spec["backbone"],
        "backbone_kwargs": dict(backbone_spec["backbone_kwargs"]),
    }


def method_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """Rebuild a method (fresh weights) from :func:`method_spec`'s dict."""
    missing = sorted({"method", "method_config", "backbone", "backbone_kwargs"} - set(spec))
    if missing:
        raise ValueError(f"method spec lacks {missing}; pass the dict method_spec() returned")
    return build_method(
        spec["method"],
        backbone=spec["backbone"],
        backbone_kwargs=spec["backbone_kwargs"],
        config=spec["method_config"],
    )
