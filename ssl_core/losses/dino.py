"""DINO self-distillation: the loss and the teacher centre.

DINO (Caron et al., 2021, "Emerging Properties in Self-Supervised Vision Transformers") trains a
student network to match a teacher network's output distribution across crops of one image. The
teacher is an exponential moving average (EMA) of the student; nothing else stops the pair from
collapsing, except two operations on the teacher's output:

- *centring* subtracts a running mean of the teacher logits (stops one dimension from dominating,
  but on its own pushes the teacher towards the uniform distribution);
- *sharpening* divides by a low teacher temperature (pushes towards one-hot, the opposite way).

Each alone collapses; together they balance. The teacher's schedules and EMA update are in
:mod:`ssl_core.losses.dino_teacher`; :mod:`ssl_core.losses.dino_collapse` measures which way a
run is going (`collapse_diagnostics`) and turns a history of those numbers into one sentence
(`collapse_verdict`). The helpers that validate and pair the views are public so that those
modules score a step exactly as the loss does.

Semantics follow facebookresearch/dino (`DINOLoss`, `update_center`, the teacher EMA loop and
`cosine_scheduler`); where this module deviates it says so in the docstring.

Shapes: B = batch, K = head output dimension ("prototypes"), V_t = teacher views (the global crops,
usually 2), V_s = student views (the same global crops first, then the local crops).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "MIN_TEMP",
    "DINOCenter",
    "DINOLoss",
    "DINOLossConfig",
    "as_float32",
    "check_center",
    "check_temperature",
    "dino_loss",
    "dino_pairs",
    "entropy",
    "entropy_from_logits",
    "finite_log_softmax",
    "pair_cross_entropy",
    "resolve_views",
    "teacher_probs",
    "teacher_temp_at",
]

Views = Tensor | Sequence[Tensor]


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------


def as_float32(x: Tensor) -> Tensor:
    """Upcast half precision to float32 (softmax of logits / 0.04 overflows fp16); keep fp64."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _stack_views(views: Views, *, name: str) -> Tensor:
    """Turn (V, B, K), a single (B, K) view or a sequence of (B, K) tensors into (V, B, K)."""
    if isinstance(views, Tensor):
        if views.dim() == 2:
            return views.unsqueeze(0)  # (1, B, K)
        if views.dim() == 3:
            return views
        raise ValueError(
            f"{name} must be (V, B, K) or (B, K) or a sequence of (B, K) tensors; got a tensor of "
            f"shape {tuple(views.shape)}"
        )
    views = list(views)
    if not views:
        raise ValueError(f"{name} is an empty sequence; pass at least one (B, K) view")
    shapes = {tuple(v.shape) for v in views}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(
            f"every view in {name} must be a (B, K) tensor of the same shape (local crops are "
            f"batched like global ones); got shapes {[tuple(v.shape) for v in views]}"
        )
    return torch.stack(views)  # (V, B, K)


def _check_nonempty(views: Tensor, *, name: str) -> None:
    if views.shape[1] == 0 or views.shape[2] == 0:
        raise ValueError(
            f"{name} has an empty batch or output dimension: (V, B, K) = {tuple(views.shape)}"
        )


# Smallest accepted temperature: below about 1e-38 the float32 logits / temp overflow and the loss
# is NaN; 1e-6 keeps it finite with room to spare.
MIN_TEMP: Final = 1e-6


def check_temperature(value: float, name: str) -> None:
    """ValueError naming ``name`` unless ``value`` is a finite temperature >= :data:`MIN_TEMP`."""
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite temperature; got {value}")
    if value < MIN_TEMP:
        raise ValueError(
            f"{name}={value:g} is too small: the logits / {name} would overflow and the loss "
            f"become NaN; use {name} >= {MIN_TEMP:g}"
        )


def check_center(center: Tensor, k: int) -> None:
    """ValueError unless ``center`` is (1, K) or (K,) for logits of K dimensions."""
    if center.shape not in ((1, k), (k,)):
        raise ValueError(
            f"center must have shape (1, K) or (K,) with K={k} (the logits' last dimension); got "
            f"{tuple(center.shape)}"
        )


def resolve_views(
    student_logits: Views, teacher_logits: Views, n_global: int | None
) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
    """Validate and stack both sides of a DINO step, as :func:`dino_loss` takes them; return
    student (V_s, B, K), teacher (V_t, B, K) and the :func:`dino_pairs` they make."""
    student = _stack_views(student_logits, name="student_logits")  # (V_s, B, K)
    teacher = _stack_views(teacher_logits, name="teacher_logits")  # (V_t, B, K)
    _check_nonempty(student, name="student_logits")
    _check_nonempty(teacher, name="teacher_logits")
    if student.shape[1:] != teacher.shape[1:]:
        raise ValueError(
            f"student and teacher views must share (B, K); got student views of "
            f"{tuple(student.shape[1:])} and teacher views of {tuple(teacher.shape[1:])}"
        )
    pairs = dino_pairs(teacher.shape[0], student.shape[0], n_global=n_global)
    return student, teacher, pairs


# ----------------------------------------------------------------------------------------------
# Pure maths
# ----------------------------------------------------------------------------------------------


def dino_pairs(
    n_teacher_views: int, n_student_views: int, *, n_global: int | None = None
) -> list[tuple[int, int]]:
    """The (teacher view i, student view j) pairs that DINO's loss averages over.

    Student view j is the same crop as teacher view i only when j == i < n_global; those pairs are
    skipped (predicting a crop from itself teaches nothing). `n_global` defaults to
    min(n_teacher_views, n_student_views), which is the official `if v == iq: continue`. Pass
    n_global=0 when the teacher saw crops the student did not.

    With 2 global crops and K local crops: 2 * (2 + K) - 2 pairs.
    """
    if n_teacher_views < 1 or n_student_views < 1:
        raise ValueError(
            f"need at least one teacher view and one student view; got n_teacher_views="
            f"{n_teacher_views}, n_student_views={n_student_views}"
        )
    shared_max = min(n_teacher_views, n_student_views)
    shared = shared_max if n_global is None else n_global
    if not 0 <= shared <= shared_max:
        raise ValueError(
            f"n_global (the leading student views that are the teacher's crops) must be in "
            f"[0, {shared_max}]; got {n_global}"
        )
    pairs = [
        (i, j)
        for i in range(n_teacher_views)
        for j in range(n_student_views)
        if not (i == j and i < shared)
    ]
    if not pairs:
        raise ValueError(
            f"no (teacher, student) pair of different crops: {n_teacher_views} teacher view(s), "
            f"{n_student_views} student view(s), the first {shared} shared. Add local crops, or "
            f"pass n_global=0 if the teacher's crop differs from the student's"
        )
    return pairs


def teacher_probs(teacher_logits: Tensor, center: Tensor, teacher_temp: float) -> Tensor:
    """Centred and sharpened teacher distribution softmax((t - c) / tau_t), detached.

    teacher_logits: (..., K); center: (1, K) or (K,). Returns (..., K), rows sum to 1, no grad.
    """
    check_temperature(teacher_temp, "teacher_temp")
    check_center(center, teacher_logits.shape[-1])
    t = as_float32(teacher_logits.detach())
    c = center.detach().to(t.dtype)
    return F.softmax((t - c) / teacher_temp, dim=-1)  # (..., K)


def entropy(p: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy -sum p log p in nats along `dim`, with 0 log 0 = 0. (..., K) -> (...)."""
    return 0.0 - torch.xlogy(p, p).sum(dim)  # 0.0 - x rather than -x: no "-0.0" in reports


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of softmax(logits) computed from log_softmax (finite at any temperature)."""
    log_p = F.log_softmax(logits, dim=-1)  # (..., K)
    return 0.0 - (log_p.exp() * log_p).sum(-1)


def finite_log_softmax(logits: Tensor) -> Tensor:
    """log_softmax with -inf clamped to the most negative finite value, so 0 * log 0 stays 0."""
    log_p = F.log_softmax(logits, dim=-1)
    return log_p.clamp_min(torch.finfo(log_p.dtype).min)


def pair_cross_entropy(
    p_teacher: Tensor, log_p_student: Tensor, pairs: list[tuple[int, int]]
) -> Tensor:
    """Batch-mean cross-entropy for each pair: p_teacher (V_t, B, K), log_p_student (V_s, B, K)."""
    batch = p_teacher.shape[1]
    ce = -torch.einsum("ibk,jbk->ij", p_teacher, log_p_student) / batch  # (V_t, V_s)
    ti = torch.tensor([i for i, _ in pairs], device=ce.device)
    sj = torch.tensor([j for _, j in pairs], device=ce.device)
    return ce[ti, sj]  # (n_pairs,)


def dino_loss(
    *,
    student_logits: Views,
    teacher_logits: Views,
    center: Tensor,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
    n_global: int | None = None,
) -> Tensor:
    """DINO's cross-entropy between teacher and student distributions over crops, a scalar.

    student_logits: (V_s, B, K) or a sequence of V_s (B, K) tensors, global views first, then
        local crops. Gradients flow through these only.
    teacher_logits: (V_t, B, K) (or a sequence of (B, K)) for the teacher's global views; detached.
    center: (1, K) or (K,) running mean of teacher logits (zeros = no centring).
    n_global: how many leading student views are the teacher's crops (default min(V_t, V_s)).

    Teacher: p_t = softmax((t - center) / teacher_temp); student: log p_s = log_softmax(s /
    student_temp). Each pair (i, j) from `dino_pairs` contributes the batch mean of
    sum_k -p_t[i] log p_s[j]; the loss is the mean over pairs (as the official code divides by
    n_loss_terms). Computed in float32 (or float64 if given). Does not update the centre: call
    `DINOCenter.update(teacher_logits)` after, or use `DINOLoss`, which does both.
    """
    check_temperature(student_temp, "student_temp")
    student, teacher, pairs = resolve_views(student_logits, teacher_logits, n_global)
    p_t = teacher_probs(teacher, center, teacher_temp)  # (V_t, B, K), detached
    log_p_s = finite_log_softmax(as_float32(student) / student_temp)  # (V_s, B, K)
    return pair_cross_entropy(p_t.to(log_p_s.dtype), log_p_s, pairs).mean()


def teacher_temp_at(
    epoch: float, *, teacher_temp: float, warmup_teacher_temp: float, warmup_epochs: int
) -> float:
    """Teacher temperature after a linear warm-up, as the official per-epoch schedule.

    Official: np.linspace(warmup_teacher_temp, teacher_temp, warmup_epochs) for the first
    `warmup_epochs` epochs, then teacher_temp. So the final value is reached at epoch
    warmup_epochs - 1; integer epochs match the official array exactly, fractional epochs (a live
    run counting in steps) interpolate. warmup_epochs=0 means no warm-up.
    """
    check_temperature(teacher_temp, "teacher_temp")
    check_temperature(warmup_teacher_temp, "warmup_teacher_temp")
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0; got {warmup_epochs}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0; got {epoch}")
    if epoch >= warmup_epochs:
        return teacher_temp
    if warmup_epochs == 1:  # np.linspace(a, b, 1) == [a]
        return warmup_teacher_temp
    progress = epoch / (warmup_epochs - 1)
    return warmup_teacher_temp + (teacher_temp - warmup_teacher_temp) * min(progress, 1.0)


# ----------------------------------------------------------------------------------------------
# Stateful pieces
# ----------------------------------------------------------------------------------------------


class DINOCenter(nn.Module):
    """The running centre of teacher logits, a (1, K) buffer updated by EMA.

    `enabled=False` keeps the centre at zero and makes `update` a no-op: dino_loss then sees no
    centring (sharpening alone, which collapses to one dimension).
    """

    center: Tensor

    def __init__(self, out_dim: int, *, momentum: float = 0.9, enabled: bool = True) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"out_dim must be >= 1; got {out_dim}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"center momentum must be in [0, 1]; got {momentum}")
        self.momentum = momentum
        self.enabled = enabled
        self.register_buffer("center", torch.zeros(1, out_dim))  # (1, K)

    def extra_repr(self) -> str:
        return f"out_dim={self.center.shape[1]}, momentum={self.momentum}, enabled={self.enabled}"

    @torch.no_grad()
    def update(self, teacher_logits: Views) -> None:
        """center <- m * center + (1 - m) * mean of teacher_logits over views and batch.

        teacher_logits: (V_t, B, K), (N, K) or a sequence of (B, K). Under torch.distributed (when
        available and initialised) the mean is over all ranks' rows: sum and row count are
        all-reduced together, so ranks with unequal batches are weighted correctly (the official
        code assumes equal batches). In one process no communication happens.
        """
        if not self.enabled:
            return
        rows = _stack_views(teacher_logits, name="teacher_logits").detach()
        _check_nonempty(rows, name="teacher_logits")
        rows = rows.reshape(-1, rows.shape[-1])  # (V_t * B, K)
        k = self.center.shape[1]
        if rows.shape[1] != k:
            raise ValueError(f"teacher_logits have K={rows.shape[1]}; this centre has K={k}")
        rows = as_float32(rows)
        count = rows.new_tensor([rows.shape[0]])
        sum_count = torch.cat([rows.sum(0), count])  # (K + 1,): column sums, then the row count
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sum_count)
        batch_center = (sum_count[:k] / sum_count[k]).unsqueeze(0)  # (1, K)
        self.center.mul_(self.momentum).add_(
            (1.0 - self.momentum) * batch_center.to(self.center.dtype)
        )


@dataclass(frozen=True)
class DINOLossConfig:
    """Settings of DINO's loss. Defaults are the official ViT-S/16 ones."""

    out_dim: int  # K, head prototypes. Official 65536; 256-4096 is plenty for small datasets.
    student_temp: float = 0.1  # rarely tuned.
    teacher_temp: float = 0.04  # sharpening. 0.04-0.07; above ~0.07 training tends to collapse
    # to uniform. Lower = sharper targets.
    warmup_teacher_temp: float = 0.04  # start of the linear warm-up; the paper starts at 0.04 and
    # warms to 0.07 when teacher_temp=0.07.
    warmup_teacher_temp_epochs: int = 0  # 30 with teacher_temp=0.07; 0 = no warm-up.
    center_momentum: float = 0.9  # EMA of the centre; 0.9 official. Higher = slower centre.
    centering: bool = True  # False removes centring: the teacher collapses to one dimension.

    def __post_init__(self) -> None:
        if self.out_dim < 1:
            raise ValueError(f"out_dim must be >= 1; got {self.out_dim}")
        check_temperature(self.student_temp, "student_temp")
        check_temperature(self.teacher_temp, "teacher_temp")
        check_temperature(self.warmup_teacher_temp, "warmup_teacher_temp")
        if self.warmup_teacher_temp_epochs < 0:
            raise ValueError(
                f"warmup_teacher_temp_epochs must be >= 0; got {self.warmup_teacher_temp_epochs}"
            )
        if not 0.0 <= self.center_momentum <= 1.0:
            raise ValueError(f"center_momentum must be in [0, 1]; got {self.center_momentum}")


class DINOLoss(nn.Module):
    """Centre + teacher-temperature schedule + `dino_loss`, the piece a DINO training step calls.

    forward computes the loss with the current centre, then (in training mode only) updates the
    centre from the teacher logits, the official order. In eval mode the centre is left alone, so
    evaluating a loss for display never changes the state.
    """

    def __init__(self, config: DINOLossConfig) -> None:
        super().__init__()
        self.config = config
        self.centering = DINOCenter(
            config.out_dim, momentum=config.center_momentum, enabled=config.centering
        )

    def teacher_temp(self, epoch: float) -> float:
        """The teacher temperature at `epoch` (see `teacher_temp_at`)."""
        c = self.config
        return teacher_temp_at(
            epoch,
            teacher_temp=c.teacher_temp,
            warmup_teacher_temp=c.warmup_teacher_temp,
            warmup_epochs=c.warmup_teacher_temp_epochs,
        )

    def forward(
        self,
        *,
        student_logits: Views,
        teacher_logits: Views,
        epoch: float = 0,
        n_global: int | None = None,
    ) -> Tensor:
        """Scalar loss; shapes as `dino_loss`."""
        loss = dino_loss(
            student_logits=student_logits,
            teacher_logits=teacher_logits,
            center=self.centering.center,
            student_temp=self.config.student_temp,
            teacher_temp=self.teacher_temp(epoch),
            n_global=n_global,
        )
        if self.training:
            self.centering.update(teacher_logits)
        return loss
