"""Losses for self-supervised vision: InfoNCE (SimCLR), DINO's self-distillation, MAE's
masked-patch reconstruction. Pure functions plus small stateful modules (the DINO centre)."""

from ssl_core.losses.dino import DINOCenter, DINOLoss, DINOLossConfig, dino_loss, dino_pairs
from ssl_core.losses.dino_collapse import collapse_diagnostics, collapse_verdict
from ssl_core.losses.dino_teacher import cosine_momentum, ema_update
from ssl_core.losses.infonce import info_nce, info_nce_diagnostics
from ssl_core.losses.mae import mae_loss, per_patch_error

__all__ = [
    "DINOCenter",
    "DINOLoss",
    "DINOLossConfig",
    "collapse_diagnostics",
    "collapse_verdict",
    "cosine_momentum",
    "dino_loss",
    "dino_pairs",
    "ema_update",
    "info_nce",
    "info_nce_diagnostics",
    "mae_loss",
    "per_patch_error",
]
