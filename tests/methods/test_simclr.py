"""Tests for ssl_core.methods.simclr: the loss wiring, the metrics, training, and DDP gathering."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from ssl_core.augment import two_view_train
from ssl_core.data import load_fashion_mnist
from ssl_core.losses.infonce import info_nce, info_nce_diagnostics
from ssl_core.methods import Method, SimCLR, SimCLRConfig, build_method, method_spec
from ssl_core.methods.simclr import retrieval_metrics, split_two_views
from ssl_core.models.registry import build_backbone

TINY_VIT = {"embed_dim": 32, "depth": 1, "num_heads": 2}
TINY_HEAD = {"proj_hidden_dim": 64, "proj_out_dim": 32}


def fashion_uint8(n: int) -> torch.Tensor:
    """The first n bundled Fashion-MNIST training images, (n, 1, 28, 28) uint8."""
    return torch.from_numpy(load_fashion_mnist("train").images[:n].copy()).unsqueeze(1)


def two_views(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two SimCLR views of n bundled images, each (n, 1, 28, 28) float in [0, 1]."""
    torch.manual_seed(seed)
    transform = two_view_train(size=28, scale=(0.3, 1.0))
    images = fashion_uint8(n)
    x1 = torch.stack([transform(image) for image in images])
    x2 = torch.stack([transform(image) for image in images])
    return x1, x2


def tiny_simclr(seed: int = 0, **config: object) -> SimCLR:
    torch.manual_seed(seed)
    cfg = SimCLRConfig(**(TINY_HEAD | config))  # type: ignore[arg-type]
    return SimCLR(build_backbone("vit_tiny_p4_28", **TINY_VIT), cfg)


# --------------------------------------------------------------------------------------------
# config, batches, construction
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"temperature": float("nan")}, "temperature must be a finite number > 0"),
        ({"proj_out_dim": 0}, "proj_out_dim must be a positive int"),
        ({"proj_layers": 1.5}, "proj_layers must be a positive int"),
    ],
)
def test_config_rejects_bad_values(fields: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SimCLRConfig(**fields)  # type: ignore[arg-type]


def test_split_two_views_accepts_the_documented_forms() -> None:
    x1, x2, y = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    for batch in ((x1, x2), [x1, x2], (x1, x2, y), ((x1, x2), y), [[x1, x2], y]):
        a, b = split_two_views(batch)
        assert a is x1 and b is x2


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        (torch.rand(2, 1, 8, 8), r"a SimCLR batch is \(x1, x2\).*got a tensor of shape"),
        ([torch.rand(2, 1, 8, 8)] * 4, "got a list of 4"),
        ((torch.rand(2, 1, 8, 8), torch.rand(3, 1, 8, 8)), "must be float tensors of the same"),
    ],
)
def test_split_two_views_rejects_other_batches(batch: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_two_views(batch)


def test_simclr_needs_an_encoder_backbone() -> None:
    with pytest.raises(ValueError, match=r"SimCLR needs a backbone with forward_features"):
        SimCLR(nn.Linear(3, 3))


def test_build_method_and_spec() -> None:
    method = build_method(
        "simclr", backbone="vit_tiny_p4_28", backbone_kwargs=TINY_VIT, config=TINY_HEAD
    )
    assert isinstance(method, SimCLR)
    assert method.head.mlp[-1].out_features == 32
    spec = method_spec(method)
    assert spec["method"] == "simclr" and spec["method_config"]["temperature"] == 0.1
    with pytest.raises(ValueError, match="config for 'simclr' must be None, a dict or a"):
        build_method("simclr", backbone="vit_tiny_p4_28", config=[("temperature", 0.2)])


def test_protocol_hooks() -> None:
    method = tiny_simclr()
    assert isinstance(method, Method)
    assert method.encoder is method.backbone and method.name == "simclr"
    assert method.on_train_step_end(3, 10) == {}
    method.set_epoch(1.5)
    assert {id(p) for p in method.trainable_parameters()} == {id(p) for p in method.parameters()}


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "d", "seed"), [(2, 3, 0), (5, 8, 1), (16, 4, 2)])
def test_retrieval_metrics_match_a_slow_loop_and_the_diagnostics(n: int, d: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    metrics = retrieval_metrics(z1, z2)
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    hits, pos, neg = 0, [], []
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        sims = {k: float(z[i] @ z[k]) for k in range(2 * n) if k != i}
        hits += max(sims, key=sims.__getitem__) == p
        pos.append(sims[p])
        neg += [s for k, s in sims.items() if k != p]
    assert metrics["top1_retrieval"] == pytest.approx(hits / (2 * n))
    assert metrics["pos_cos"] == pytest.approx(np.mean(pos), abs=1e-6)
    assert metrics["neg_cos"] == pytest.approx(np.mean(neg), abs=1e-6)
    diagnostics = info_nce_diagnostics(z1, z2, 0.1)  # random floats: no ties
    assert metrics["top1_retrieval"] == pytest.approx(diagnostics.top1_accuracy)
    assert metrics["pos_cos"] == pytest.approx(diagnostics.positive_similarity.mean().item())


def test_identical_views_retrieve_perfectly() -> None:
    z = torch.randn(6, 16, generator=torch.Generator().manual_seed(0))
    metrics = retrieval_metrics(z, z)
    assert metrics["top1_retrieval"] == 1.0
    assert metrics["pos_cos"] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# the loss and training
# --------------------------------------------------------------------------------------------


def test_training_step_is_info_nce_of_the_projections() -> None:
    method = tiny_simclr(temperature=0.3).eval()  # eval: BatchNorm uses fixed statistics
    x1, x2 = two_views(8)
    loss, metrics = method.training_step((x1, x2, torch.arange(8)))
    z1 = method.head(method.backbone.forward_features(x1))
    z2 = method.head(method.backbone.forward_features(x2))
    assert torch.allclose(loss, info_nce(z1, z2, 0.3), atol=1e-5)
    assert set(metrics) == {"loss", "top1_retrieval", "pos_cos", "neg_cos"}
    assert metrics["loss"] == pytest.approx(loss.item())
    loss.backward()
    assert all(p.grad is not None for p in method.trainable_parameters())
    forward_loss, _ = method((x1, x2))
    assert torch.allclose(forward_loss, loss)


def test_a_single_pair_fails_fast() -> None:
    method = tiny_simclr().eval()
    with pytest.raises(ValueError, match="SimCLR needs at least 2 images per"):
        method.training_step(two_views(1))


@pytest.mark.slow
def test_loss_falls_within_a_few_dozen_steps() -> None:
    method = tiny_simclr()
    x1, x2 = two_views(64)
    opt = torch.optim.AdamW(method.trainable_parameters(), lr=1e-3)
    losses, top1 = [], []
    for step in range(30):
        loss, metrics = method.training_step((x1, x2))
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.on_train_step_end(step, 30)
        losses.append(loss.item())
        top1.append(metrics["top1_retrieval"])
    # Measured on 64 images: about 4.9 -> 2.6, top-1 from ~0.05 to ~0.3.
    assert np.mean(losses[-5:]) < 0.8 * losses[0]
    assert np.mean(top1[-5:]) > 2 * top1[0] + 0.05


# --------------------------------------------------------------------------------------------
# two processes: the negatives come from the global batch
# --------------------------------------------------------------------------------------------

WORLD = 2


def _no_bn_simclr() -> SimCLR:
    """A SimCLR whose loss does not depend on how the batch is split (no BatchNorm)."""
    method = tiny_simclr(seed=7)
    method.head = nn.Linear(32, 16)  # the projection head's BatchNorm would see per-rank batches
    torch.manual_seed(8)
    nn.init.normal_(method.head.weight)
    return method


def _simclr_worker(r: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=r, world_size=WORLD)
    try:
        torch.set_num_threads(1)
        method = _no_bn_simclr()
        x1, x2 = two_views(8)
        rows = slice(4 * r, 4 * r + 4)  # this rank's half of the batch
        loss, metrics = method.training_step((x1[rows], x2[rows]))
        loss.backward()
        grads = {}
        for name, p in method.named_parameters():  # what DDP does: average over ranks
            dist.all_reduce(p.grad)
            grads[name] = p.grad / WORLD
        torch.save(
            {"loss": loss.detach(), "metrics": metrics, "grads": grads},
            os.path.join(out_dir, f"rank{r}.pt"),
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_compute_the_global_batch_loss_and_gradient() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_simclr_worker, args=(os.path.join(tmp, "store"), tmp), nprocs=WORLD)
        results = [torch.load(os.path.join(tmp, f"rank{r}.pt")) for r in range(WORLD)]
    method = _no_bn_simclr()
    loss, metrics = method.training_step(two_views(8))  # one process, all 8 images
    loss.backward()
    for res in results:
        assert torch.allclose(res["loss"], loss, atol=1e-5)
        assert res["metrics"] == pytest.approx(metrics, abs=1e-5)
        for name, p in method.named_parameters():
            assert torch.allclose(res["grads"][name], p.grad, atol=1e-5), name
