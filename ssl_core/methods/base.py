"""The hooks every method shares, written once.

A method overrides :meth:`training_step` and whichever hook it needs (DINO: the EMA update after
each optimiser step and the epoch for its temperature warm-up); the rest are the defaults here.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


def require_feature_backbone(backbone: nn.Module, method: str) -> None:
    """Stop unless ``backbone`` has ``forward_features(x) -> (B, D)`` and ``embed_dim``: what a
    method that trains on pooled features (SimCLR, DINO) needs of it."""
    if not hasattr(backbone, "forward_features") or not hasattr(backbone, "embed_dim"):
        raise ValueError(
            f"{method} needs a backbone with forward_features(x) -> (B, D) and embed_dim; got "
            f"{type(backbone).__name__}"
        )


class MethodBase(nn.Module):
    """Defaults for the :class:`ssl_core.methods.Method` protocol."""

    def training_step(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError

    def forward(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """Same as :meth:`training_step`, so DDP / Fabric wrappers (which hook forward) sync."""
        return self.training_step(batch)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Everything that requires grad."""
        return [p for p in self.parameters() if p.requires_grad]

    def on_before_optimizer_step(self) -> None:
        """Nothing to change in the gradients (after backward, before clipping and the step)
        unless the method says so."""

    def on_train_step_end(self, step: int, total_steps: int) -> dict[str, float]:
        """Nothing to do after an optimiser step unless the method keeps EMA state."""
        return {}

    def set_epoch(self, epoch: float) -> None:
        """No schedule depends on the epoch unless the method says so."""
