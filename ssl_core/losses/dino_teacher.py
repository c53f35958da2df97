"""DINO's EMA teacher: the cosine schedule of its momentum and the update of its parameters from
the student's (as facebookresearch/dino's ``cosine_scheduler`` and teacher loop). The teacher's
temperature warm-up belongs to the loss (:func:`ssl_core.losses.dino.teacher_temp_at`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["cosine_momentum", "ema_update"]


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
