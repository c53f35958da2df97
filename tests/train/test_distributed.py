"""Tests for ssl_core.distributed: identities in one process, a real 2-process gloo group."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ssl_core.distributed import (
    all_reduce_mean,
    gather_with_grad,
    is_dist,
    rank,
    shutdown,
    world_size,
)

WORLD = 2
ROWS = 3  # rows per rank
DIM = 4


# --------------------------------------------------------------------------------------------
# One process: no process group
# --------------------------------------------------------------------------------------------


def test_single_process_defaults() -> None:
    assert not dist.is_initialized()
    assert is_dist() is False
    assert world_size() == 1
    assert rank() == 0


def test_gather_with_grad_is_identity_in_one_process() -> None:
    t = torch.randn(ROWS, DIM, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = gather_with_grad(t)
    assert out is t
    (out * 2).sum().backward()
    assert torch.equal(t.grad, torch.full((ROWS, DIM), 2.0))


def test_all_reduce_mean_in_one_process_is_a_detached_copy() -> None:
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    out = all_reduce_mean(t)
    assert torch.equal(out, t.detach())
    assert not out.requires_grad
    out += 1  # a copy: the input is untouched
    assert torch.equal(t.detach(), torch.tensor([1.0, 2.0]))


def test_shutdown_without_a_group_is_a_no_op() -> None:
    shutdown()
    shutdown(wait=False)
    assert not dist.is_initialized()


def test_shutdown_destroys_a_one_process_group(tmp_path) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        assert is_dist()
        shutdown()  # the barrier of one rank returns at once
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_all_reduce_mean_rejects_integers() -> None:
    with pytest.raises(ValueError, match="floating-point tensor; got torch.int64"):
        all_reduce_mean(torch.tensor([1, 2]))


# --------------------------------------------------------------------------------------------
# Two processes on gloo
# --------------------------------------------------------------------------------------------


def _rank_rows(r: int) -> torch.Tensor:
    """Rank r's local rows: a distinct, known value per rank."""
    return torch.arange(ROWS * DIM, dtype=torch.float32).reshape(ROWS, DIM) + 100.0 * r


def _loss_weights(r: int) -> torch.Tensor:
    """Weights rank r puts on the gathered (WORLD * ROWS, DIM) tensor in its own loss."""
    g = torch.Generator().manual_seed(10 + r)
    return torch.randn(WORLD * ROWS, DIM, generator=g)


def _worker(r: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=r, world_size=WORLD)
    try:
        local = _rank_rows(r).requires_grad_(True)  # (ROWS, DIM)
        gathered = gather_with_grad(local)  # (WORLD * ROWS, DIM)
        loss = (gathered * _loss_weights(r)).sum()
        loss.backward()
        mean = all_reduce_mean(torch.tensor([float(r)]))
        try:  # unequal batches on the two ranks must fail on both, not hang
            gather_with_grad(torch.zeros(ROWS + r, DIM))
            mismatch_error = ""
        except ValueError as error:
            mismatch_error = str(error)
        torch.save(
            {
                "is_dist": is_dist(),
                "world_size": world_size(),
                "rank": rank(),
                "gathered": gathered.detach(),
                "grad": local.grad,
                "mean": mean,
                "mismatch_error": mismatch_error,
            },
            os.path.join(out_dir, f"rank{r}.pt"),
        )
    finally:
        shutdown(wait=False)


@pytest.mark.slow
def test_two_process_gather_with_grad_and_mean() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "store")  # FileStore rendezvous: no port to pick
        mp.spawn(_worker, args=(init_file, tmp), nprocs=WORLD, join=True)
        results = [torch.load(os.path.join(tmp, f"rank{r}.pt")) for r in range(WORLD)]

    expected_gathered = torch.cat([_rank_rows(r) for r in range(WORLD)])  # rank order
    # The gradient on rank r's rows is the sum over ranks q of d loss_q / d rows_r: the slice of
    # every rank's weights that multiplies rank r's rows.
    total_weights = sum(_loss_weights(q) for q in range(WORLD))  # (WORLD * ROWS, DIM)
    for r, res in enumerate(results):
        assert res["is_dist"] is True
        assert res["world_size"] == WORLD
        assert res["rank"] == r
        assert torch.equal(res["gathered"], expected_gathered)
        assert torch.allclose(res["grad"], total_weights[r * ROWS : (r + 1) * ROWS], atol=1e-6)
        assert torch.allclose(res["mean"], torch.tensor([0.5]))
        assert "same shape on every rank; got [(3, 4), (4, 4)]" in res["mismatch_error"]
