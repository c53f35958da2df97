"""DINO collapse diagnostics: the numbers that tell a healthy run from its two collapses
(:class:`CollapseDiagnostics`, one step from :func:`collapse_diagnostics`, the views paired as
:func:`ssl_core.losses.dino.dino_loss` pairs them), and :func:`collapse_verdict`, one sentence
on a history of them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Final

import torch
import torch.nn.functional as F
from torch import Tensor

from ssl_core.losses.dino import (
    Views,
    as_float32,
    check_center,
    check_temperature,
    entropy,
    entropy_from_logits,
    finite_log_softmax,
    pair_cross_entropy,
    resolve_views,
)

__all__ = [
    "COLLAPSED_KL",
    "COLLAPSED_STD_RATIO",
    "FEW_DIMS_ENTROPY_RATIO",
    "ONE_DIM_SHARE",
    "ONE_HOT_ENTROPY_RATIO",
    "UNIFORM_ENTROPY_RATIO",
    "UNIFORM_STD_RATIO",
    "VERDICT_WINDOW_FRACTION",
    "VERDICT_WINDOW_MIN",
    "CollapseDiagnostics",
    "collapse_diagnostics",
    "collapse_verdict",
    "effective_rank",
    "normalized_output_std",
    "verdict_window",
]

# Verdict thresholds (collapse_verdict's defaults), each applied to the median of a trailing
# window of steps; measured on the live recipe in docs/TUNING.md, "Live DINO".
ONE_DIM_SHARE: Final = 0.9  # dominant_dim_share above this: one output dimension took over.
ONE_HOT_ENTROPY_RATIO: Final = 0.15  # teacher_entropy / log K below this: one-hot per image...
FEW_DIMS_ENTROPY_RATIO: Final = 0.25  # ...marginal_entropy / log K below this: on few dimensions.
UNIFORM_ENTROPY_RATIO: Final = 0.95  # teacher_entropy / log K above this: near-uniform teacher...
UNIFORM_STD_RATIO: Final = 0.5  # ...and output_std * sqrt(K) below this: uniform collapse.
COLLAPSED_STD_RATIO: Final = 0.2  # output_std * sqrt(K) below this...
COLLAPSED_KL: Final = 0.05  # ...and KL(teacher || student) below this (nats): a constant output.
VERDICT_WINDOW_FRACTION: Final = 0.25  # the verdict's window: this fraction of the run's steps,
VERDICT_WINDOW_MIN: Final = 5  # and at least this many.


def normalized_output_std(outputs: Tensor) -> Tensor:
    """SimSiam's collapse metric: mean over dims of the batch std of L2-normalised rows.

    outputs: (N, K). About 1/sqrt(K) for healthy isotropic outputs, 0 when every row is the same.
    """
    z = F.normalize(as_float32(outputs), dim=-1)  # (N, K) unit rows
    return z.std(dim=0, unbiased=False).mean()


def effective_rank(outputs: Tensor) -> Tensor:
    """RankMe effective rank: exp of the entropy of the L1-normalised singular values.

    outputs: (N, K). 1 for a rank-one (constant-direction) matrix, min(N, K) for a flat spectrum,
    0 for the all-zero matrix.
    """
    s = torch.linalg.svdvals(as_float32(outputs))  # (min(N, K),)
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
def collapse_diagnostics(*, teacher_logits: Views, student_logits: Views, center: Tensor,
                         teacher_temp: float = 0.04, student_temp: float = 0.1,
                         n_global: int | None = None) -> CollapseDiagnostics:
    """Collapse diagnostics for one step; inputs and view pairing exactly as `dino_loss`.

    A single (B, K) teacher and a single (B, K) student of the same crop give no pair; pass
    n_global=0 when they are different crops. See `CollapseDiagnostics` for each number.
    """
    check_temperature(student_temp, "student_temp")
    student, teacher, pairs = resolve_views(student_logits, teacher_logits, n_global)
    k = teacher.shape[-1]
    check_center(center, k)
    t = as_float32(teacher)  # (V_t, B, K)
    c = center.detach().to(t.dtype)
    t_scaled = (t - c) / teacher_temp  # (V_t, B, K)
    log_p_t = F.log_softmax(t_scaled, dim=-1)  # (V_t, B, K)
    p_t = log_p_t.exp()
    log_p_s = finite_log_softmax(as_float32(student) / student_temp).to(t.dtype)  # (V_s, B, K)

    h_rows = entropy_from_logits(t_scaled)  # (V_t, B)
    ce = pair_cross_entropy(p_t, log_p_s, pairs)  # (n_pairs,)
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
    "marginal_entropy",
    "kl_teacher_student",
    "output_std",
    "output_std_ref",
    "dominant_dim_share",
)


def verdict_window(n_steps: int) -> int:
    """The steps a verdict's state looks at: the last quarter of the run, at least 5 steps."""
    return max(VERDICT_WINDOW_MIN, math.ceil(VERDICT_WINDOW_FRACTION * n_steps))


def collapse_verdict(
    history: Sequence[Mapping[str, float] | CollapseDiagnostics],
    *,
    one_dim_share: float = ONE_DIM_SHARE,
    one_hot_entropy_ratio: float = ONE_HOT_ENTROPY_RATIO,
    few_dims_entropy_ratio: float = FEW_DIMS_ENTROPY_RATIO,
    uniform_entropy_ratio: float = UNIFORM_ENTROPY_RATIO,
    uniform_std_ratio: float = UNIFORM_STD_RATIO,
    collapsed_std_ratio: float = COLLAPSED_STD_RATIO,
    collapsed_kl: float = COLLAPSED_KL,
) -> str:
    """One sentence on a run, from per-step diagnostics (dicts or `CollapseDiagnostics`).

    The verdict judges where the run has settled, not one step: each diagnostic is replaced by
    its median over a trailing window (the last quarter of the run, at least 5 steps; the whole
    history when shorter), so one noisy step, or the low output spread every run passes through
    in its first tens of steps, does not decide it. On those medians a step is

    - *one-dimension collapsed* when dominant_dim_share > one_dim_share, or when the teacher is
      one-hot per image (teacher_entropy < one_hot_entropy_ratio * log K) AND the batch uses
      few dimensions (marginal_entropy < few_dims_entropy_ratio * log K): sharpening alone on
      its way to one dimension;
    - *uniform collapsed* when teacher_entropy > uniform_entropy_ratio * log K and output_std <
      uniform_std_ratio / sqrt(K) (a near-uniform teacher whose output barely varies; a soft
      teacher whose output still varies is not collapsed);
    - *constant* when output_std < collapsed_std_ratio / sqrt(K) AND kl_teacher_student <
      collapsed_kl nats: the output no longer depends on the input and the student has nothing
      left to learn from the teacher, though its one distribution is neither one-hot nor uniform
      (a low spread alone is not a collapse: healthy short runs pass through it while their KL
      stays high);
    - *healthy* otherwise.

    The run is collapsed if its last step is; the reported step is the first of the final
    unbroken streak of that state, so a transient blip that recovered does not count. A dict's
    "step" entry names its step; otherwise its position in `history` does. The default
    thresholds are measured on the live recipe (docs/TUNING.md, "Live DINO"). Returns a sentence
    starting with "collapsed to a constant (one dimension) at step k", "collapsed to uniform at
    step k", "collapsed to a constant output at step k" or "healthy".
    """
    if not history:
        raise ValueError("history is empty; pass at least one step's diagnostics")
    raw = [h.to_dict() if isinstance(h, CollapseDiagnostics) else dict(h) for h in history]
    for pos, row in enumerate(raw):
        missing = [key for key in _VERDICT_KEYS if key not in row]
        if missing:
            raise ValueError(
                f"history[{pos}] lacks {missing}; pass collapse_diagnostics(...).to_dict() rows"
            )
    width = verdict_window(len(raw))
    columns = {key: [float(row[key]) for row in raw] for key in _VERDICT_KEYS}
    rows = [
        {key: statistics.median(values[max(0, i + 1 - width):i + 1])
         for key, values in columns.items()}
        for i in range(len(raw))
    ]

    def state(row: Mapping[str, float]) -> str:
        log_k = row["max_entropy"]
        one_hot = row["teacher_entropy"] < one_hot_entropy_ratio * log_k
        few_dims = row["marginal_entropy"] < few_dims_entropy_ratio * log_k
        if row["dominant_dim_share"] > one_dim_share or (one_hot and few_dims):
            return "one_dim"
        std_ratio = row["output_std"] / row["output_std_ref"]
        if row["teacher_entropy"] > uniform_entropy_ratio * log_k and (
            std_ratio < uniform_std_ratio
        ):
            return "uniform"
        if std_ratio < collapsed_std_ratio and row["kl_teacher_student"] < collapsed_kl:
            return "constant"
        return "healthy"

    states = [state(row) for row in rows]
    last = rows[-1]
    over = f"median of the last {min(width, len(rows))} steps"
    if states[-1] == "healthy":
        return (
            f"healthy: teacher entropy {last['teacher_entropy']:.2f} of max "
            f"{last['max_entropy']:.2f} nats, top dimension holds "
            f"{100 * last['dominant_dim_share']:.0f}% of the teacher's mass, KL(teacher || "
            f"student) {last['kl_teacher_student']:.2f} ({over})"
        )
    start = len(states) - 1
    while start > 0 and states[start - 1] == states[-1]:
        start -= 1
    step = raw[start].get("step", start)
    step_text = f"{step:g}" if isinstance(step, float) else str(step)
    if states[-1] == "one_dim":
        return (
            f"collapsed to a constant (one dimension) at step {step_text}: one output dimension "
            f"holds {100 * last['dominant_dim_share']:.0f}% of the teacher's probability mass "
            f"and each image's target is one-hot (entropy {last['teacher_entropy']:.2f} of "
            f"{last['max_entropy']:.2f} nats; {over})"
        )
    if states[-1] == "constant":
        return (
            f"collapsed to a constant output at step {step_text}: the teacher's output no longer "
            f"depends on the input (std {last['output_std'] / last['output_std_ref']:.2f} of "
            f"1/sqrt(K), KL(teacher || student) {last['kl_teacher_student']:.3f}), though no "
            f"dimension dominates and it is not uniform ({over})"
        )
    return (
        f"collapsed to uniform at step {step_text}: teacher entropy "
        f"{last['teacher_entropy']:.2f} of max {last['max_entropy']:.2f} nats and the output no "
        f"longer depends on the input ({over})"
    )
