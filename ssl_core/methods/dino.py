"""DINO (Caron et al. 2021): self-distillation with no labels, a student and an EMA teacher.

    views (2 global + K local crops) -> student backbone + DINO head -> student logits (V_s, B, K)
    global crops only -> teacher backbone + head (no grad) -> teacher logits (V_t, B, K)
    -> centre + sharpen the teacher, cross-entropy over pairs of different crops (DINOLoss)
    after the optimiser step: teacher <- m * teacher + (1 - m) * student, m on a cosine schedule

The teacher starts as a copy of the student, never receives gradients (``requires_grad=False``)
and stays in eval mode even when ``.train()`` is called on the method. It is the network to
evaluate after training (``encoder``), as in the paper.

Collapse controls, to study the two collapses (see ``ssl_core.losses.dino_collapse``):

- ``centering=False`` keeps the centre at zero (sharpening alone: one dimension takes over).
- ``sharpening=False`` sets the teacher temperature to the student's (``student_temp``), so the
  teacher is no sharper than the student (centring alone: the teacher drifts to uniform).
  ``teacher_temp`` and the warm-up are then ignored. Setting ``teacher_temp = warmup_teacher_temp =
  student_temp`` by hand is the same thing.

Every step's metrics carry ``collapse_diagnostics`` of the logits already computed for the loss,
so the live collapse plots cost no extra forward pass.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ssl_core.losses.dino import DINOLoss, DINOLossConfig
from ssl_core.losses.dino_collapse import collapse_diagnostics
from ssl_core.losses.dino_teacher import cosine_momentum, ema_update
from ssl_core.methods.base import MethodBase, require_feature_backbone
from ssl_core.models.heads import DINOHead

__all__ = ["DINO", "DINOConfig", "MultiCropBranch", "split_views"]


@dataclass(frozen=True)
class DINOConfig:
    """DINO's settings. Defaults are the official ones, scaled down for small backbones."""

    # K, the number of prototypes. Official 65536 for ImageNet; 256-4096 for small datasets. A
    # tiny K makes one-dimension collapse easier to see, a huge one costs memory in the head.
    out_dim: int = 1024
    head_hidden_dim: int = 512  # official 2048; 512 is plenty for D = 128-192 backbones
    head_bottleneck_dim: int = 128  # official 256
    head_layers: int = 3  # official 3
    norm_last_layer: bool = True  # unit prototypes, official; False trains faster, less stable
    head_use_bn: bool = False  # official: False for ViTs, True for ResNets
    student_temp: float = 0.1  # rarely tuned
    teacher_temp: float = 0.04  # final teacher temperature; 0.04-0.07, above ~0.07 collapses
    warmup_teacher_temp: float = 0.04  # start of the linear warm-up; the paper warms 0.04 -> 0.07
    warmup_teacher_temp_epochs: int = 0  # 30 with teacher_temp=0.07; 0 = no warm-up
    center_momentum: float = 0.9  # EMA of the centre; higher = slower centre
    centering: bool = True  # False: no centring (sharpening alone: one dimension takes over)
    # False: teacher temperature = student_temp, no sharpening (the centring-only arm).
    sharpening: bool = True
    # Teacher EMA momentum, cosine from base to final over the run. Official 0.996 for 100+
    # epochs; use 0.99 (or lower) for short runs, or the teacher barely leaves its initialisation.
    momentum_base: float = 0.996
    momentum_final: float = 1.0
    n_global: int = 2  # leading views that are global crops: the teacher sees only these
    # Epochs during which the student head's last layer (the prototypes) gets no update, as the
    # official --freeze_last_layer (default 1 there): while the rest of the network is random,
    # prototypes that move freely can settle where every image scores the same, and the pair
    # collapses to uniform. 0 = never frozen.
    freeze_last_layer_epochs: float = 0.0

    def __post_init__(self) -> None:
        for name in ("out_dim", "head_hidden_dim", "head_bottleneck_dim", "head_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if isinstance(self.n_global, bool) or not isinstance(self.n_global, int):
            raise ValueError(f"n_global must be an int >= 1; got {self.n_global!r}")
        if self.n_global < 1:
            raise ValueError(
                f"n_global must be >= 1 (the teacher needs at least one global crop); got "
                f"{self.n_global}"
            )
        for name in ("momentum_base", "momentum_final"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {getattr(self, name)}")
        if not self.freeze_last_layer_epochs >= 0:
            raise ValueError(
                f"freeze_last_layer_epochs must be >= 0; got {self.freeze_last_layer_epochs!r}"
            )
        if self.momentum_base > self.momentum_final:
            raise ValueError(
                f"momentum_base ({self.momentum_base}) must be <= momentum_final "
                f"({self.momentum_final}): the teacher slows down over training, not up"
            )
        self.loss_config()  # validates the temperatures, warm-up and centre momentum

    def loss_config(self) -> DINOLossConfig:
        """The loss settings, with ``sharpening=False`` resolved to teacher temp = student temp."""
        teacher_temp, warmup_temp, warmup_epochs = (
            (self.teacher_temp, self.warmup_teacher_temp, self.warmup_teacher_temp_epochs)
            if self.sharpening
            else (self.student_temp, self.student_temp, 0)
        )
        return DINOLossConfig(
            out_dim=self.out_dim,
            student_temp=self.student_temp,
            teacher_temp=teacher_temp,
            warmup_teacher_temp=warmup_temp,
            warmup_teacher_temp_epochs=warmup_epochs,
            center_momentum=self.center_momentum,
            centering=self.centering,
        )


def split_views(batch: Any) -> list[Tensor]:
    """The crops of a DINO batch as a list of ``(B, C, h_v, w_v)`` tensors, labels dropped.

    Accepted forms: ``[g1, g2, l1, ..., lK]`` (globals first), ``(views, y)`` with ``views`` a
    list or tuple of crops, or the flat list with a trailing 1-D labels tensor ``[..., y]``.
    A single ``(B, C, H, W)`` tensor is one view.
    """
    if isinstance(batch, Tensor):
        views: list[Any] = [batch]
    elif isinstance(batch, Sequence) and len(batch) > 0:
        views = list(batch)
        if len(views) == 2 and isinstance(views[0], Sequence):  # (views, y)
            views = list(views[0])
        elif len(views) > 1 and isinstance(views[-1], Tensor) and views[-1].ndim == 1:
            views = views[:-1]  # trailing labels
    else:
        views = []
    if not views or not all(
        isinstance(v, Tensor) and v.ndim == 4 and v.is_floating_point() for v in views
    ):
        raise ValueError(
            "a DINO batch is a list of (B, C, h, w) float crops, global crops first, optionally "
            "followed by labels or wrapped as (views, labels)"
        )
    if len({v.shape[0] for v in views}) != 1:
        raise ValueError(
            f"every crop must hold the same B images; got batch sizes {[v.shape[0] for v in views]}"
        )
    return views


class MultiCropBranch(nn.Module):
    """Backbone + DINO head over a list of crops of different sizes (DINO's MultiCropWrapper).

    Consecutive crops of the same resolution share one backbone pass; the head runs once on all
    features. ``forward(views: list of V (B, C, h_v, w_v)) -> (V, B, K)``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, views: Sequence[Tensor]) -> Tensor:
        batch = views[0].shape[0]
        feats: list[Tensor] = []
        start = 0
        while start < len(views):
            end = start + 1
            while end < len(views) and views[end].shape[-2:] == views[start].shape[-2:]:
                end += 1
            group = torch.cat(list(views[start:end]))  # (n * B, C, h, w), one resolution
            feats.append(self.backbone.forward_features(group))  # (n * B, D)
            start = end
        logits = self.head(torch.cat(feats))  # (V * B, K)
        return logits.reshape(len(views), batch, -1)  # (V, B, K)


class DINO(MethodBase):
    """DINO around any backbone with ``forward_features(x) -> (B, D)`` and ``embed_dim``.

    ``training_step(views) -> (loss, metrics)``; metrics are ``loss``, ``teacher_temp`` and every
    field of :class:`~ssl_core.losses.dino_collapse.CollapseDiagnostics` (``teacher_entropy``,
    ``max_entropy``, ``marginal_entropy``, ``kl_teacher_student``, ``output_std``,
    ``output_std_ref``, ``dominant_dim_share``, ``argmax_mode_share``, ``effective_rank``; its
    ``loss`` field equals the loss), so a list of them feeds ``collapse_verdict`` directly.
    The centre is updated in training mode only (``DINOLoss``). After each optimiser step the
    trainer calls :meth:`on_train_step_end`, which moves the teacher by EMA.
    """

    name: ClassVar[str] = "dino"

    def __init__(self, backbone: nn.Module, config: DINOConfig | None = None) -> None:
        super().__init__()
        require_feature_backbone(backbone, "DINO")
        self.config = config if config is not None else DINOConfig()
        cfg = self.config
        head = DINOHead(
            backbone.embed_dim,
            cfg.out_dim,
            hidden_dim=cfg.head_hidden_dim,
            bottleneck_dim=cfg.head_bottleneck_dim,
            n_layers=cfg.head_layers,
            norm_last_layer=cfg.norm_last_layer,
            use_bn=cfg.head_use_bn,
        )
        self.student = MultiCropBranch(backbone, head)
        self.teacher = copy.deepcopy(self.student)  # same start, as the official code
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.loss_fn = DINOLoss(cfg.loss_config())
        self.epoch = 0.0  # fractional epochs, for the teacher-temperature warm-up

    @property
    def backbone(self) -> nn.Module:
        """The student backbone (the one the optimiser trains)."""
        return self.student.backbone

    @property
    def encoder(self) -> nn.Module:
        """The module to evaluate: the teacher backbone (better than the student, as the paper)."""
        return self.teacher.backbone

    def train(self, mode: bool = True) -> DINO:
        """Set train/eval mode on the student and the loss; the teacher always stays in eval."""
        super().train(mode)
        self.teacher.eval()
        return self

    def teacher_temp(self) -> float:
        """The teacher temperature at the current epoch (warm-up and ``sharpening`` applied)."""
        return self.loss_fn.teacher_temp(self.epoch)

    def training_step(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """DINO loss over all (teacher global crop, other student crop) pairs.

        See :func:`split_views` for the batch forms; the first ``n_global`` crops are the global
        ones (the teacher's input).
        """
        views = split_views(batch)
        n_global = self.config.n_global
        if len(views) < n_global:
            raise ValueError(
                f"DINO needs at least n_global={n_global} global crops per batch; got "
                f"{len(views)} view(s)"
            )
        with torch.no_grad():
            teacher_logits = self.teacher(views[:n_global])  # (V_t, B, K)
        student_logits = self.student(views)  # (V_s, B, K)
        teacher_temp = self.teacher_temp()
        # Diagnostics first: they must see the centre the loss uses, before DINOLoss updates it.
        diagnostics = collapse_diagnostics(
            teacher_logits=teacher_logits,
            student_logits=student_logits.detach(),
            center=self.loss_fn.centering.center,
            teacher_temp=teacher_temp,
            student_temp=self.config.student_temp,
            n_global=n_global,
        )
        loss = self.loss_fn(
            student_logits=student_logits,
            teacher_logits=teacher_logits,
            epoch=self.epoch,
            n_global=n_global,
        )
        metrics = diagnostics.to_dict() | {"loss": loss.item(), "teacher_temp": teacher_temp}
        return loss, metrics


    def trainable_parameters(self) -> list[nn.Parameter]:
        """The student's backbone and head parameters that require grad (never the teacher's)."""
        return [p for p in self.student.parameters() if p.requires_grad]

    def momentum(self, step: int, total_steps: int) -> float:
        """Teacher EMA momentum after optimiser step ``step`` of ``total_steps`` (cosine)."""
        return cosine_momentum(
            step, total_steps, base=self.config.momentum_base, final=self.config.momentum_final
        )

    def last_layer_frozen(self) -> bool:
        """Whether the student head's last layer is frozen at the current epoch."""
        return self.epoch < self.config.freeze_last_layer_epochs

    def on_before_optimizer_step(self) -> None:
        """Drop the gradients of the student head's last layer while it is frozen
        (``freeze_last_layer_epochs``), as the official ``cancel_gradients_last_layer``: AdamW
        then skips those parameters (no step, no weight decay)."""
        if self.last_layer_frozen():
            for param in self.student.head.last_layer.parameters():
                param.grad = None

    @torch.no_grad()
    def on_train_step_end(self, step: int, total_steps: int) -> dict[str, float]:
        """EMA update of the teacher after an optimiser step; returns ``{"momentum": m}``.

        ``teacher_p <- m * teacher_p + (1 - m) * student_p`` for every parameter. Buffers
        (BatchNorm running statistics) are copied from the student: the teacher runs in eval mode,
        so without this a BatchNorm teacher would normalise with its initial statistics forever.
        """
        m = self.momentum(step, total_steps)
        ema_update(self.teacher, self.student, m)
        student_buffers = dict(self.student.named_buffers())
        for name, buffer in self.teacher.named_buffers():
            buffer.copy_(student_buffers[name])
        return {"momentum": m}

    def set_epoch(self, epoch: float) -> None:
        """Set the (fractional) epoch the teacher-temperature warm-up reads."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0; got {epoch}")
        self.epoch = float(epoch)
