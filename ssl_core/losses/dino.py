"""DINO self-distillation: the loss, the teacher centre, the EMA teacher and collapse diagnostics.

DINO (Caron et al., 2021, "Emerging Properties in Self-Supervised Vision Transformers") trains a
student network to match a teacher network's output distribution across crops of one image. The
teacher is an exponential moving average (EMA) of the student; nothing else stops the pair from
collapsing, except two operations on the teacher's output:

- *centring* subtracts a running mean of the teacher logits (stops one dimension from dominating,
  but on its own pushes the teacher towards the uniform distribution);
- *sharpening* divides by a low teacher temperature (pushes towards one-hot, the opposite way).

Each alone collapses; together they balance. `collapse_diagnostics` measures which way a run is
going and `collapse_verdict` turns a history of those numbers into one sentence.

Semantics follow facebookresearch/dino (`DINOLoss`, `update_center`, the teacher EMA loop and
`cosine_scheduler`); where this module deviates it says so in the docstring.

Shapes: B = batch, K = head output dimension ("prototypes"), V_t = teacher views (the global crops,
usually 2), V_s = student views (the same global crops first, then the local crops).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Final

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CollapseDiagnostics",
    "DINOCenter",
    "DINOLoss",
    "DINOLossConfig",
    "MIN_TEMP",
    "collapse_diagnostics",
    "collapse_verdict",
    "cosine_momentum",
    "dino_loss",
    "dino_pairs",
    "effective_rank",
    "ema_update",
    "entropy",
    "normalized_output_std",
    "teacher_probs",
    "teacher_temp_at",
]

Views = Tensor | Sequence[Tensor]


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------


def _as_float(x: Tensor) -> Tensor:
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
# is NaN; 1e-6 keeps it finite with room to spare (the sliders stop at 1e-3).
MIN_TEMP: Final = 1e-6


def _check_temp(value: float, name: str) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite temperature; got {value}")
    if value < MIN_TEMP:
        raise ValueError(
            f"{name}={value:g} is too small: the logits / {name} would overflow and the loss "
            f"become NaN; use {name} >= {MIN_TEMP:g}"
        )


def _check_center(center: Tensor, k: int) -> None:
    if center.shape not in ((1, k), (k,)):
        raise ValueError(
            f"center must have shape (1, K) or (K,) with K={k} (the logits' last dimension); got "
            f"{tuple(center.shape)}"
        )


def _resolve_views(
    student_logits: Views, teacher_logits: Views, n_global: int | None
) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
    """Validate and stack both sides; return student (V_s, B, K), teacher (V_t, B, K), pairs."""
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
    _check_temp(teacher_temp, "teacher_temp")
    _check_center(center, teacher_logits.shape[-1])
    t = _as_float(teacher_logits.detach())
    c = center.detach().to(t.dtype)
    return F.softmax((t - c) / teacher_temp, dim=-1)  # (..., K)


def entropy(p: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy -sum p log p in nats along `dim`, with 0 log 0 = 0. (..., K) -> (...)."""
    return 0.0 - torch.xlogy(p, p).sum(dim)  # 0.0 - x rather than -x: no "-0.0" in reports


def _entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of softmax(logits) computed from log_softmax (finite at any temperature)."""
    log_p = F.log_softmax(logits, dim=-1)  # (..., K)
    return 0.0 - (log_p.exp() * log_p).sum(-1)


def _finite_log_softmax(logits: Tensor) -> Tensor:
    """log_softmax with -inf clamped to the most negative finite value, so 0 * log 0 stays 0."""
    log_p = F.log_softmax(logits, dim=-1)
    return log_p.clamp_min(torch.finfo(log_p.dtype).min)


def _pair_cross_entropy(
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
    _check_temp(student_temp, "student_temp")
    student, teacher, pairs = _resolve_views(student_logits, teacher_logits, n_global)
    p_t = teacher_probs(teacher, center, teacher_temp)  # (V_t, B, K), detached
    log_p_s = _finite_log_softmax(_as_float(student) / student_temp)  # (V_s, B, K)
    return _pair_cross_entropy(p_t.to(log_p_s.dtype), log_p_s, pairs).mean()


def teacher_temp_at(
    epoch: float, *, teacher_temp: float, warmup_teacher_temp: float, warmup_epochs: int
) -> float:
    """Teacher temperature after a linear warm-up, as the official per-epoch schedule.

    Official: np.linspace(warmup_teacher_temp, teacher_temp, warmup_epochs) for the first
    `warmup_epochs` epochs, then teacher_temp. So the final value is reached at epoch
    warmup_epochs - 1; integer epochs match the official array exactly, fractional epochs (a live
    run counting in steps) interpolate. warmup_epochs=0 means no warm-up.
    """
    _check_temp(teacher_temp, "teacher_temp")
    _check_temp(warmup_teacher_temp, "warmup_teacher_temp")
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


def cosine_momentum(step: int, total_steps: int, base: float = 0.996, final: float = 1.0) -> float:
    """Teacher EMA momentum on DINO's cosine schedule: `base` at step 0, `final` at total_steps.

    m(step) = final - (final - base) * (1 + cos(pi * step / total_steps)) / 2, non-decreasing when
    base <= final. (The official `cosine_scheduler` divides by the number of iterations, so its
    last value stops one step short of `final`; here step == total_steps gives `final` exactly.)
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1; got {total_steps}")
    if not 0 <= step <= total_steps:
        raise ValueError(f"step must be in [0, total_steps={total_steps}]; got {step}")
    for name, value in (("base", base), ("final", final)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} momentum must be in [0, 1]; got {value}")
    return final - (final - base) * (1.0 + math.cos(math.pi * step / total_steps)) / 2.0


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In place: teacher_p = momentum * teacher_p + (1 - momentum) * student_p, per parameter.

    Parameters are matched by name; names and shapes must agree (ValueError otherwise).
    Only parameters are averaged, as in the official loop. Buffers (BatchNorm running statistics)
    are NOT copied: the teacher keeps its own, which it updates from its own forward passes in
    train mode. A teacher in eval mode with BatchNorm therefore uses stale statistics; prefer
    LayerNorm heads (DINO's ViTs) or put the teacher in train mode.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1] (1 freezes the teacher); got {momentum}")
    t_params = dict(teacher.named_parameters())
    s_params = dict(student.named_parameters())
    if t_params.keys() != s_params.keys():
        only_t = sorted(t_params.keys() - s_params.keys())
        only_s = sorted(s_params.keys() - t_params.keys())
        raise ValueError(
            f"teacher and student parameter names differ (build the teacher as a deepcopy of the "
            f"student): only in teacher {only_t[:5]}, only in student {only_s[:5]}"
        )
    for name, t in t_params.items():
        s = s_params[name]
        if t.shape != s.shape:
            raise ValueError(
                f"parameter {name!r} has shape {tuple(t.shape)} in the teacher and "
                f"{tuple(s.shape)} in the student"
            )
    for name, t in t_params.items():
        # Same arithmetic as the official loop: t * m, then + (1 - m) * s.
        t.mul_(momentum).add_((1.0 - momentum) * s_params[name].detach().to(t.dtype))


# ----------------------------------------------------------------------------------------------
# Stateful pieces
# ----------------------------------------------------------------------------------------------


class DINOCenter(nn.Module):
    """The running centre of teacher logits, a (1, K) buffer updated by EMA.

    `enabled=False` keeps the centre at zero and makes `update` a no-op: dino_loss then sees no
    centring (the sharpening-only collapse experiment).
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
        rows = _as_float(rows)
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
        _check_temp(self.student_temp, "student_temp")
        _check_temp(self.teacher_temp, "teacher_temp")
        _check_temp(self.warmup_teacher_temp, "warmup_teacher_temp")
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


# ----------------------------------------------------------------------------------------------
# Collapse diagnostics
# ----------------------------------------------------------------------------------------------

# Verdict thresholds (collapse_verdict's defaults).
ONE_DIM_SHARE: Final = 0.9  # dominant_dim_share above this: one output dimension took over.
UNIFORM_ENTROPY_RATIO: Final = 0.95  # teacher_entropy / log K above this: near-uniform teacher...
COLLAPSED_STD_RATIO: Final = 0.2  # ...and output_std * sqrt(K) below this: the output is constant.


def normalized_output_std(outputs: Tensor) -> Tensor:
    """SimSiam's collapse metric: mean over dims of the batch std of L2-normalised rows.

    outputs: (N, K). About 1/sqrt(K) for healthy isotropic outputs, 0 when every row is the same.
    """
    z = F.normalize(_as_float(outputs), dim=-1)  # (N, K) unit rows
    return z.std(dim=0, unbiased=False).mean()


def effective_rank(outputs: Tensor) -> Tensor:
    """RankMe effective rank: exp of the entropy of the L1-normalised singular values.

    outputs: (N, K). 1 for a rank-one (constant-direction) matrix, min(N, K) for a flat spectrum,
    0 for the all-zero matrix.
    """
    s = torch.linalg.svdvals(_as_float(outputs))  # (min(N, K),)
    total = s.sum()
    if total <= 0:
        return total.new_zeros(())
    return torch.exp(entropy(s / total))


@dataclass(frozen=True)
class CollapseDiagnostics:
    """Numbers that tell a healthy DINO run from its two collapses. Entropies in nats.

    teacher_entropy: mean over rows of H(p_t), p_t the centred + sharpened teacher distribution.
        -> log K (max_entropy) in uniform collapse, -> 0 for sharp teachers (healthy or one-dim).
    max_entropy: log K, the uniform ceiling.
    marginal_entropy: H of the batch-mean p_t. High when different samples pick different
        dimensions (healthy, or uniform collapse); -> 0 in one-dimension collapse.
    kl_teacher_student: mean over DINO pairs of KL(p_t || p_s); loss = entropy + KL per pair
        (the paper's Fig. 7 decomposition). -> 0 in either collapse.
    loss: the DINO cross-entropy (mean over pairs), as dino_loss.
    output_std / output_std_ref: `normalized_output_std` of the raw teacher logits (before
        centring, all teacher views pooled) and the healthy reference 1/sqrt(K). Raw logits, so a
        constant output reads 0 whatever the centre is (centring a constant would leave only
        noise, which normalisation blows up to look healthy).
    dominant_dim_share: the primary one-dimension metric, max_k of the batch-mean p_t: the share
        of the teacher's probability mass on its most used dimension. 1/K uniform, -> 1 collapsed.
    argmax_mode_share: fraction of rows whose teacher argmax is the most frequent argmax
        (secondary; reads 1 for a uniform teacher too, where argmax is arbitrary).
    effective_rank: RankMe of the raw teacher logits (all views pooled, (V_t * B, K)).
    """

    teacher_entropy: float
    max_entropy: float
    marginal_entropy: float
    kl_teacher_student: float
    loss: float
    output_std: float
    output_std_ref: float
    dominant_dim_share: float
    argmax_mode_share: float
    effective_rank: float

    def to_dict(self) -> dict[str, float]:
        """Plain dict for JSON, tables and `collapse_verdict`."""
        return asdict(self)


@torch.no_grad()
def collapse_diagnostics(
    *,
    teacher_logits: Views,
    student_logits: Views,
    center: Tensor,
    teacher_temp: float = 0.04,
    student_temp: float = 0.1,
    n_global: int | None = None,
) -> CollapseDiagnostics:
    """Collapse diagnostics for one step; inputs and view pairing exactly as `dino_loss`.

    A single (B, K) teacher and a single (B, K) student of the same crop give no pair; pass
    n_global=0 when they are different crops. See `CollapseDiagnostics` for each number.
    """
    _check_temp(student_temp, "student_temp")
    student, teacher, pairs = _resolve_views(student_logits, teacher_logits, n_global)
    k = teacher.shape[-1]
    _check_center(center, k)
    t = _as_float(teacher)  # (V_t, B, K)
    c = center.detach().to(t.dtype)
    t_scaled = (t - c) / teacher_temp  # (V_t, B, K)
    log_p_t = F.log_softmax(t_scaled, dim=-1)  # (V_t, B, K)
    p_t = log_p_t.exp()
    log_p_s = _finite_log_softmax(_as_float(student) / student_temp).to(t.dtype)  # (V_s, B, K)

    h_rows = _entropy_from_logits(t_scaled)  # (V_t, B)
    ce = _pair_cross_entropy(p_t, log_p_s, pairs)  # (n_pairs,)
    h_pairs = h_rows.mean(1)[torch.tensor([i for i, _ in pairs], device=h_rows.device)]
    kl = (ce - h_pairs).clamp_min(0.0)  # KL >= 0; clamp rounding

    rows = t.reshape(-1, k)  # (V_t * B, K) raw teacher logits
    p_rows = p_t.reshape(-1, k)  # (V_t * B, K)
    marginal = p_rows.mean(0)  # (K,)
    argmax_counts = torch.bincount(p_rows.argmax(-1), minlength=k)  # (K,)
    return CollapseDiagnostics(
        teacher_entropy=h_rows.mean().item(),
        max_entropy=math.log(k),
        marginal_entropy=entropy(marginal).item(),
        kl_teacher_student=kl.mean().item(),
        loss=ce.mean().item(),
        output_std=normalized_output_std(rows).item(),
        output_std_ref=1.0 / math.sqrt(k),
        dominant_dim_share=marginal.max().item(),
        argmax_mode_share=(argmax_counts.max() / rows.shape[0]).item(),
        effective_rank=effective_rank(rows).item(),
    )


_VERDICT_KEYS = (
    "teacher_entropy",
    "max_entropy",
    "output_std",
    "output_std_ref",
    "dominant_dim_share",
)


def collapse_verdict(
    history: Sequence[Mapping[str, float] | CollapseDiagnostics],
    *,
    one_dim_share: float = ONE_DIM_SHARE,
    uniform_entropy_ratio: float = UNIFORM_ENTROPY_RATIO,
    collapsed_std_ratio: float = COLLAPSED_STD_RATIO,
) -> str:
    """One sentence on a run, from per-step diagnostics (dicts or `CollapseDiagnostics`).

    A step is *one-dimension collapsed* when dominant_dim_share > one_dim_share, and *uniform
    collapsed* when teacher_entropy > uniform_entropy_ratio * log K and output_std <
    collapsed_std_ratio / sqrt(K) (near-uniform teacher AND a constant output). A step whose
    output_std is that low without either is *constant*: the output no longer depends on the
    input, though its one distribution is neither one-hot nor uniform. The run is collapsed if
    its last step is; the reported step is the first of the final unbroken streak of that
    state, so a transient blip that recovered does not count. A dict's "step" entry names its
    step; otherwise its position in `history` does. Returns a sentence starting with
    "collapsed to a constant (one dimension) at step k", "collapsed to uniform at step k",
    "collapsed to a constant output at step k" or "healthy".
    """
    if not history:
        raise ValueError("history is empty; pass at least one step's diagnostics")
    rows = [h.to_dict() if isinstance(h, CollapseDiagnostics) else dict(h) for h in history]
    for pos, row in enumerate(rows):
        missing = [key for key in _VERDICT_KEYS if key not in row]
        if missing:
            raise ValueError(
                f"history[{pos}] lacks {missing}; pass collapse_diagnostics(...).to_dict() rows"
            )

    def state(row: Mapping[str, float]) -> str:
        if row["dominant_dim_share"] > one_dim_share:
            return "one_dim"
        entropy_high = row["teacher_entropy"] > uniform_entropy_ratio * row["max_entropy"]
        std_low = row["output_std"] < collapsed_std_ratio * row["output_std_ref"]
        if std_low:
            return "uniform" if entropy_high else "constant"
        return "healthy"

    states = [state(row) for row in rows]
    last = rows[-1]
    if states[-1] == "healthy":
        return (
            f"healthy: teacher entropy {last['teacher_entropy']:.2f} of max "
            f"{last['max_entropy']:.2f} nats, top dimension holds "
            f"{100 * last['dominant_dim_share']:.0f}% of the teacher's mass"
        )
    start = len(states) - 1
    while start > 0 and states[start - 1] == states[-1]:
        start -= 1
    step = rows[start].get("step", start)
    step_text = f"{step:g}" if isinstance(step, float) else str(step)
    if states[-1] == "one_dim":
        return (
            f"collapsed to a constant (one dimension) at step {step_text}: one output dimension "
            f"holds {100 * last['dominant_dim_share']:.0f}% of the teacher's probability mass"
        )
    if states[-1] == "constant":
        return (
            f"collapsed to a constant output at step {step_text}: the teacher's output no longer "
            f"depends on the input (std {last['output_std'] / last['output_std_ref']:.2f} of "
            f"1/sqrt(K)), though no dimension dominates and it is not uniform"
        )
    return (
        f"collapsed to uniform at step {step_text}: teacher entropy "
        f"{last['teacher_entropy']:.2f} of max {last['max_entropy']:.2f} nats and the output no "
        f"longer depends on the input"
    )
