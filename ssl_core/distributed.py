"""Guarded helpers for torch.distributed, so every method also runs in one plain process.

Every call into ``torch.distributed`` goes through :func:`is_dist` first
(``dist.is_available() and dist.is_initialized()``). Without a process group the helpers are
identities (or return 0 / 1), so a loss or a method never needs a launcher to work.

- :func:`world_size`, :func:`rank`: 1 and 0 in one process.
- :func:`gather_with_grad`: all ranks' rows concatenated, with the gradient flowing back to each
  rank's own rows (SimCLR gathers its embeddings with it, so the negatives come from the global
  batch).
- :func:`all_reduce_mean`: the mean of a tensor over ranks, for logging (no gradient).
- :func:`shutdown`: wait for every rank, then destroy the process group, so that a process exits
  cleanly (a gloo group left alive at interpreter exit can abort the process, "terminate called
  without an active exception", after its work is done).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["all_reduce_mean", "gather_with_grad", "is_dist", "rank", "shutdown", "world_size"]


def is_dist() -> bool:
    """True when torch.distributed is available and a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the default group; 1 without a process group."""
    return dist.get_world_size() if is_dist() else 1


def rank() -> int:
    """This process's rank in the default group; 0 without a process group."""
    return dist.get_rank() if is_dist() else 0


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward returns this rank's slice of the rank-summed gradient.

    Only ``dist.all_gather`` and ``dist.all_reduce`` are used, so it works on every backend
    (gloo included) and needs no private or deprecated API.
    """

    @staticmethod
    def forward(ctx: Any, t: Tensor) -> Tensor:
        t = t.contiguous()
        parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, t)
        ctx.rows = t.shape[0]
        return torch.cat(parts, dim=0)  # (world_size * N, ...)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous()  # (world_size * N, ...), this rank's loss only
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # sum over every rank's loss
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]  # (N, ...), this rank's rows


def gather_with_grad(t: Tensor) -> Tensor:
    """Concatenate ``t: (N, ...)`` from all ranks along dim 0: ``(world_size * N, ...)``.

    Rows are in rank order (rank 0's rows first). Every rank must pass the same shape (use
    ``drop_last=True`` in the data loader); a mismatch raises ValueError. The gradient of the
    result flows back to this rank's slice: backward sums, over ranks, each rank's gradient with
    respect to this rank's rows, so after DDP averages the parameter gradients they are exactly
    the gradient of the mean over ranks of the per-rank losses (of the global-batch loss when every
    rank computes the same one, as SimCLR does). In one process (or a group of one) ``t`` is
    returned unchanged.
    """
    if not is_dist() or dist.get_world_size() == 1:
        return t
    shape = torch.tensor(t.shape, device=t.device)  # (ndim,)
    shapes = [torch.empty_like(shape) for _ in range(dist.get_world_size())]
    dist.all_gather(shapes, shape)
    if any(not torch.equal(s, shape) for s in shapes):
        raise ValueError(
            "gather_with_grad needs the same shape on every rank; got "
            f"{[tuple(s.tolist()) for s in shapes]} (use drop_last=True in the data loader)"
        )
    return _GatherWithGrad.apply(t)


def all_reduce_mean(t: Tensor) -> Tensor:
    """Mean of ``t`` over ranks, as a new detached tensor (the input is left unchanged).

    For logging numbers that differ per rank (a loss on the local batch); no gradient flows.
    Without a process group it returns a detached copy of ``t``. ``t`` must be floating point
    (an integer mean would be truncated).
    """
    if not t.is_floating_point():
        raise ValueError(
            f"all_reduce_mean needs a floating-point tensor; got {t.dtype} (convert with .float())"
        )
    out = t.detach().clone()
    if is_dist():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= dist.get_world_size()
    return out


def shutdown(*, wait: bool = True) -> None:
    """Destroy the default process group if there is one (a no-op in one plain process).

    With ``wait`` (the normal end of a run) every rank first meets at a barrier, so no rank tears
    the group down while another still talks to it; pass ``wait=False`` on an error or an
    interrupt, where another rank may never arrive.
    """
    if not is_dist():
        return
    if wait:
        dist.barrier()
    dist.destroy_process_group()
