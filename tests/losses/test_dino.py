"""Tests for ssl_core.losses.dino: loss, pairs, centre, EMA, schedules and collapse diagnostics."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.distributed as dist
from torch import nn

from ssl_core.losses.dino import (
    DINOCenter,
    DINOLoss,
    DINOLossConfig,
    dino_loss,
    dino_pairs,
    entropy,
    teacher_probs,
    teacher_temp_at,
)
from ssl_core.losses.dino_collapse import (
    CollapseDiagnostics,
    collapse_diagnostics,
    collapse_verdict,
    effective_rank,
    normalized_output_std,
    verdict_window,
)
from ssl_core.losses.dino_teacher import cosine_momentum, ema_update


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _reference_loss(student, teacher, center, student_temp, teacher_temp) -> float:
    """Slow explicit loop over teacher views, student views, samples and dimensions (float64)."""
    v_t, batch, k = teacher.shape
    v_s = student.shape[0]
    total, n_terms = 0.0, 0
    for i in range(v_t):
        for j in range(v_s):
            if i == j:  # same crop: skipped (the official `if v == iq: continue`)
                continue
            pair = 0.0
            for b in range(batch):
                t = [
                    (teacher[i, b, q].item() - center[0, q].item()) / teacher_temp for q in range(k)
                ]
                t_max = max(t)
                z_t = sum(math.exp(x - t_max) for x in t)
                p_t = [math.exp(x - t_max) / z_t for x in t]
                s = [student[j, b, q].item() / student_temp for q in range(k)]
                s_max = max(s)
                log_z_s = s_max + math.log(sum(math.exp(x - s_max) for x in s))
                pair += sum(-p_t[q] * (s[q] - log_z_s) for q in range(k))
            total += pair / batch
            n_terms += 1
    return total / n_terms


# ---------------------------------------------------------------------------------------------
# dino_loss
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v_s", "batch", "k", "student_temp", "teacher_temp"),
    [
        (2, 3, 5, 0.1, 0.04),  # two global views only
        (4, 2, 7, 0.1, 0.07),  # 2 global + 2 local
        (8, 3, 4, 0.2, 0.04),  # 2 global + 6 local, the paper's multi-crop count
        (3, 1, 3, 1.0, 1.0),  # plain temperatures, batch of one
        (1, 4, 6, 0.1, 0.04),  # a single student view: only pair (teacher 1, student 0)
    ],
)
def test_dino_loss_matches_loop_reference(v_s, batch, k, student_temp, teacher_temp):
    g = _gen(v_s * 100 + batch * 10 + k)
    student = torch.randn(v_s, batch, k, generator=g, dtype=torch.float64)  # (V_s, B, K)
    teacher = torch.randn(2, batch, k, generator=g, dtype=torch.float64)  # (V_t, B, K)
    center = 0.3 * torch.randn(1, k, generator=g, dtype=torch.float64)
    got = dino_loss(
        student_logits=student,
        teacher_logits=teacher,
        center=center,
        student_temp=student_temp,
        teacher_temp=teacher_temp,
    )
    want = _reference_loss(student, teacher, center, student_temp, teacher_temp)
    assert got.shape == ()
    assert got.item() == pytest.approx(want, rel=1e-10, abs=1e-10)


def test_dino_loss_accepts_sequence_of_views_and_1d_center():
    g = _gen(0)
    student = torch.randn(5, 4, 8, generator=g)
    teacher = torch.randn(2, 4, 8, generator=g)
    center = torch.randn(8, generator=g)
    stacked = dino_loss(student_logits=student, teacher_logits=teacher, center=center[None])
    listed = dino_loss(
        student_logits=list(student.unbind(0)),
        teacher_logits=list(teacher.unbind(0)),
        center=center,
    )
    torch.testing.assert_close(stacked, listed)


def test_dino_loss_half_precision_is_computed_in_float32():
    g = _gen(1)
    student = torch.randn(4, 3, 6, generator=g)
    teacher = torch.randn(2, 3, 6, generator=g)
    center = torch.zeros(1, 6)
    full = dino_loss(student_logits=student, teacher_logits=teacher, center=center)
    half = dino_loss(student_logits=student.half(), teacher_logits=teacher.half(), center=center)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("teacher_temp", [0.04, 0.5])
def test_dino_loss_equals_teacher_entropy_when_student_matches_teacher(dtype, teacher_temp):
    g = _gen(2)
    batch, k, student_temp = 6, 10, 0.1
    teacher = torch.randn(1, batch, k, generator=g, dtype=dtype)
    center = 0.2 * torch.randn(1, k, generator=g, dtype=dtype)
    p_t = teacher_probs(teacher, center, teacher_temp)  # (1, B, K)
    # softmax(s / tau_s) == p_t exactly when s = tau_s * log p_t (+ any per-row constant)
    shift = torch.randn(1, batch, 1, generator=g, dtype=dtype)
    student = student_temp * (torch.log(p_t) + shift)
    loss = dino_loss(
        student_logits=student,
        teacher_logits=teacher,
        center=center,
        student_temp=student_temp,
        teacher_temp=teacher_temp,
        n_global=0,
    )
    h_explicit = -(p_t * p_t.log()).sum(-1).mean()
    assert loss.item() == pytest.approx(entropy(p_t).mean().item(), abs=1e-5)
    assert loss.item() == pytest.approx(h_explicit.item(), abs=1e-5)
    assert loss.item() > 0.02  # the check is not vacuous (a one-hot teacher would give 0)


def test_gradients_reach_only_the_student():
    g = _gen(3)
    student = torch.randn(4, 5, 7, generator=g, requires_grad=True)
    teacher = torch.randn(2, 5, 7, generator=g, requires_grad=True)
    center = torch.randn(1, 7, generator=g, requires_grad=True)
    dino_loss(student_logits=student, teacher_logits=teacher, center=center).backward()
    assert teacher.grad is None
    assert center.grad is None
    assert student.grad is not None
    assert student.grad.abs().sum(-1).gt(0).all()  # every view and sample gets a signal


def test_loss_falls_when_optimising_the_student():
    g = _gen(4)
    teacher = torch.randn(2, 8, 16, generator=g)
    student = torch.randn(4, 8, 16, generator=g).requires_grad_(True)
    opt = torch.optim.SGD([student], lr=0.5)
    losses = []
    for _ in range(5):
        loss = dino_loss(student_logits=student, teacher_logits=teacher, center=torch.zeros(1, 16))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("temp", [1e-3, 1e-4])
def test_near_zero_temperatures_stay_finite(temp):
    g = _gen(5)
    student = (10 * torch.randn(6, 4, 32, generator=g)).requires_grad_(True)
    teacher = 10 * torch.randn(2, 4, 32, generator=g)
    center = torch.randn(1, 32, generator=g)
    loss = dino_loss(
        student_logits=student,
        teacher_logits=teacher,
        center=center,
        student_temp=temp,
        teacher_temp=temp,
    )
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(student.grad).all()
    p_t = teacher_probs(teacher, center, temp)
    assert (p_t == 0).any()  # 0 * log 0 really happens here
    assert torch.isfinite(entropy(p_t)).all()
    diag = collapse_diagnostics(
        teacher_logits=teacher,
        student_logits=student,
        center=center,
        teacher_temp=temp,
        student_temp=temp,
    )
    assert all(math.isfinite(v) for v in diag.to_dict().values())


def test_minus_infinity_student_logit_does_not_give_nan():
    student = torch.tensor([[[0.0, -math.inf, 1.0]], [[1.0, 0.0, -math.inf]]])  # (2, 1, 3)
    teacher = torch.tensor([[[5.0, -50.0, 0.0]], [[0.0, 5.0, -50.0]]])
    loss = dino_loss(student_logits=student, teacher_logits=teacher, center=torch.zeros(1, 3))
    assert torch.isfinite(loss)


def test_dino_loss_errors():
    s = torch.zeros(3, 2, 4)
    t = torch.zeros(2, 2, 4)
    c = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="share \\(B, K\\)"):
        dino_loss(student_logits=torch.zeros(3, 2, 5), teacher_logits=t, center=c)
    with pytest.raises(ValueError, match="center must have shape"):
        dino_loss(student_logits=s, teacher_logits=t, center=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="student_temp must be a positive"):
        dino_loss(student_logits=s, teacher_logits=t, center=c, student_temp=0.0)
    with pytest.raises(ValueError, match="teacher_temp must be a positive"):
        dino_loss(student_logits=s, teacher_logits=t, center=c, teacher_temp=-1.0)
    with pytest.raises(ValueError, match="same shape"):
        dino_loss(student_logits=[torch.zeros(2, 4), torch.zeros(3, 4)], teacher_logits=t, center=c)
    with pytest.raises(ValueError, match="empty sequence"):
        dino_loss(student_logits=[], teacher_logits=t, center=c)
    with pytest.raises(ValueError, match="got a tensor of shape \\(4,\\)"):
        dino_loss(student_logits=torch.zeros(4), teacher_logits=t, center=c)
    with pytest.raises(ValueError, match="empty batch"):
        dino_loss(
            student_logits=torch.zeros(3, 0, 4), teacher_logits=torch.zeros(2, 0, 4), center=c
        )
    with pytest.raises(ValueError, match="no \\(teacher, student\\) pair"):
        dino_loss(
            student_logits=torch.zeros(1, 2, 4), teacher_logits=torch.zeros(1, 2, 4), center=c
        )
    with pytest.raises(TypeError):
        dino_loss(s, t, c)  # keyword-only: no third argument order


# ---------------------------------------------------------------------------------------------
# dino_pairs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_local", range(11))
def test_multicrop_pair_count(n_local):
    pairs = dino_pairs(2, 2 + n_local)
    assert len(pairs) == 2 * (2 + n_local) - 2
    assert len(set(pairs)) == len(pairs)
    assert (0, 0) not in pairs and (1, 1) not in pairs
    assert (0, 1) in pairs and (1, 0) in pairs


def test_pairs_with_n_global():
    assert dino_pairs(1, 1, n_global=0) == [(0, 0)]
    assert dino_pairs(2, 3, n_global=1) == [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert dino_pairs(2, 1) == [(1, 0)]
    with pytest.raises(ValueError, match="n_global .* must be in \\[0, 2\\]"):
        dino_pairs(2, 4, n_global=3)
    with pytest.raises(ValueError, match="at least one teacher view"):
        dino_pairs(0, 4)


# ---------------------------------------------------------------------------------------------
# teacher_probs, entropy, schedules
# ---------------------------------------------------------------------------------------------


def test_teacher_probs_is_detached_centred_sharpened_softmax():
    g = _gen(6)
    t = torch.randn(2, 3, 5, generator=g, requires_grad=True)
    c = torch.randn(1, 5, generator=g)
    p = teacher_probs(t, c, 0.5)
    assert p.shape == (2, 3, 5)
    assert not p.requires_grad
    torch.testing.assert_close(p.sum(-1), torch.ones(2, 3))
    torch.testing.assert_close(p, torch.softmax((t.detach() - c) / 0.5, dim=-1))


def test_entropy_known_values():
    assert entropy(torch.full((8,), 1 / 8)).item() == pytest.approx(math.log(8))
    assert entropy(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0
    assert entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]])).tolist() == pytest.approx(
        [math.log(2), 0.0]
    )


def test_cosine_momentum_endpoints_and_monotone():
    total = 100
    values = [cosine_momentum(s, total) for s in range(total + 1)]
    assert values[0] == pytest.approx(0.996)
    assert values[-1] == pytest.approx(1.0)
    assert values[total // 2] == pytest.approx((0.996 + 1.0) / 2)
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert cosine_momentum(0, 10, base=0.9, final=0.99) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="step must be in \\[0, total_steps=10\\]"):
        cosine_momentum(11, 10)
    with pytest.raises(ValueError, match="total_steps must be >= 1"):
        cosine_momentum(0, 0)
    with pytest.raises(ValueError, match="base momentum must be in \\[0, 1\\]"):
        cosine_momentum(0, 10, base=1.5)


def test_teacher_temp_warmup_matches_official_linspace():
    official = torch.linspace(0.04, 0.07, 30).tolist() + [0.07] * 10
    got = [
        teacher_temp_at(e, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_epochs=30)
        for e in range(40)
    ]
    assert got == pytest.approx(official, rel=1e-6)
    assert teacher_temp_at(0, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_epochs=0) == 0.07
    assert teacher_temp_at(
        0.5, teacher_temp=0.06, warmup_teacher_temp=0.04, warmup_epochs=3
    ) == pytest.approx(0.045)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        teacher_temp_at(-1, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_epochs=3)


# ---------------------------------------------------------------------------------------------
# EMA teacher
# ---------------------------------------------------------------------------------------------


def _linear_pair(seed: int) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    student = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    teacher = copy.deepcopy(student)
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(torch.randn_like(p))
    return teacher, student


@pytest.mark.parametrize("m", [0.0, 0.5, 0.9, 0.996, 1.0])
def test_ema_update_arithmetic(m):
    teacher, student = _linear_pair(7)
    before = {n: p.detach().clone() for n, p in teacher.named_parameters()}
    students = {n: p.detach().clone() for n, p in student.named_parameters()}
    ema_update(teacher, student, m)
    for name, p in teacher.named_parameters():
        assert torch.equal(p, m * before[name] + (1 - m) * students[name]), name
    if m == 1.0:
        assert all(torch.equal(p, before[n]) for n, p in teacher.named_parameters())
    if m == 0.0:
        assert all(torch.equal(p, students[n]) for n, p in teacher.named_parameters())
    # student untouched
    assert all(torch.equal(p, students[n]) for n, p in student.named_parameters())


def test_ema_update_leaves_buffers_alone():
    teacher, student = _linear_pair(8)
    with torch.no_grad():
        student[1].running_mean.fill_(3.0)
    ema_update(teacher, student, 0.0)
    assert torch.equal(teacher[1].running_mean, torch.zeros(3))


def test_ema_update_errors():
    teacher, student = _linear_pair(9)
    with pytest.raises(ValueError, match="momentum must be in \\[0, 1\\]"):
        ema_update(teacher, student, 1.1)
    with pytest.raises(ValueError, match="momentum must be in \\[0, 1\\]"):
        ema_update(teacher, student, -0.1)
    with pytest.raises(ValueError, match="parameter names differ"):
        ema_update(nn.Linear(4, 3), nn.Linear(4, 3, bias=False), 0.9)
    with pytest.raises(ValueError, match="'weight' has shape \\(3, 4\\) in the teacher"):
        ema_update(nn.Linear(4, 3), nn.Linear(5, 3), 0.9)


# ---------------------------------------------------------------------------------------------
# Centre
# ---------------------------------------------------------------------------------------------


def test_center_update_by_hand_over_two_steps():
    assert not dist.is_initialized()  # one process, no process group: must just work
    centre = DINOCenter(2, momentum=0.9)
    step1 = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]])  # (2, 2, 2)
    centre.update(step1)  # batch mean [4, 5]
    torch.testing.assert_close(centre.center, torch.tensor([[0.4, 0.5]]))
    step2 = [torch.tensor([[10.0, 0.0]]), torch.tensor([[0.0, 10.0]])]  # mean [5, 5]
    centre.update(step2)
    torch.testing.assert_close(centre.center, torch.tensor([[0.9 * 0.4 + 0.5, 0.9 * 0.5 + 0.5]]))
    assert centre.center.shape == (1, 2)
    assert "center" in centre.state_dict()


def test_disabled_center_never_moves():
    centre = DINOCenter(3, enabled=False)
    for seed in range(3):
        centre.update(torch.randn(2, 4, 3, generator=_gen(seed)) + 5)
    assert torch.equal(centre.center, torch.zeros(1, 3))


def test_center_update_with_single_process_group(tmp_path):
    """The all_reduce branch: a world of one gives the same centre as no process group."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    try:
        centre = DINOCenter(3, momentum=0.5)
        centre.update(torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]))
        torch.testing.assert_close(centre.center, torch.tensor([[1.0, 1.5, 2.0]]))
    finally:
        dist.destroy_process_group()


def test_center_errors():
    with pytest.raises(ValueError, match="center momentum must be in \\[0, 1\\]"):
        DINOCenter(4, momentum=2.0)
    with pytest.raises(ValueError, match="out_dim must be >= 1"):
        DINOCenter(0)
    with pytest.raises(ValueError, match="K=5; this centre has K=4"):
        DINOCenter(4).update(torch.zeros(2, 3, 5))


# ---------------------------------------------------------------------------------------------
# DINOLoss module and config
# ---------------------------------------------------------------------------------------------


def test_dino_loss_module_uses_old_centre_then_updates():
    cfg = DINOLossConfig(out_dim=6, center_momentum=0.8)
    module = DINOLoss(cfg)
    g = _gen(10)
    student = torch.randn(4, 3, 6, generator=g)
    teacher = torch.randn(2, 3, 6, generator=g)
    with torch.no_grad():
        module.centering.center.copy_(torch.randn(1, 6, generator=g))
    old = module.centering.center.clone()
    loss = module(student_logits=student, teacher_logits=teacher, epoch=0)
    want = dino_loss(student_logits=student, teacher_logits=teacher, center=old)
    torch.testing.assert_close(loss, want)
    torch.testing.assert_close(
        module.centering.center, 0.8 * old + 0.2 * teacher.reshape(-1, 6).mean(0, keepdim=True)
    )
    module.eval()
    frozen = module.centering.center.clone()
    module(student_logits=student, teacher_logits=teacher)
    assert torch.equal(module.centering.center, frozen)


def test_dino_loss_module_warmup_and_no_centering():
    cfg = DINOLossConfig(
        out_dim=4,
        teacher_temp=0.07,
        warmup_teacher_temp=0.04,
        warmup_teacher_temp_epochs=4,
        centering=False,
    )
    module = DINOLoss(cfg)
    assert module.teacher_temp(0) == pytest.approx(0.04)
    assert module.teacher_temp(3) == pytest.approx(0.07)
    assert module.teacher_temp(100) == pytest.approx(0.07)
    g = _gen(11)
    student, teacher = torch.randn(3, 2, 4, generator=g), torch.randn(2, 2, 4, generator=g)
    loss = module(student_logits=student, teacher_logits=teacher, epoch=1)
    want = dino_loss(
        student_logits=student, teacher_logits=teacher, center=torch.zeros(1, 4), teacher_temp=0.05
    )
    torch.testing.assert_close(loss, want)
    assert torch.equal(module.centering.center, torch.zeros(1, 4))


def test_config_is_frozen_and_validated():
    cfg = DINOLossConfig(out_dim=8)
    with pytest.raises(AttributeError):
        cfg.out_dim = 9  # type: ignore[misc]
    with pytest.raises(ValueError, match="out_dim must be >= 1"):
        DINOLossConfig(out_dim=0)
    with pytest.raises(ValueError, match="teacher_temp must be a positive"):
        DINOLossConfig(out_dim=8, teacher_temp=0.0)
    with pytest.raises(ValueError, match="center_momentum must be in \\[0, 1\\]"):
        DINOLossConfig(out_dim=8, center_momentum=1.5)
    with pytest.raises(ValueError, match="warmup_teacher_temp_epochs must be >= 0"):
        DINOLossConfig(out_dim=8, warmup_teacher_temp_epochs=-1)


# ---------------------------------------------------------------------------------------------
# Collapse diagnostics
# ---------------------------------------------------------------------------------------------


def _diag(teacher, student=None, *, center=None, teacher_temp=0.04) -> CollapseDiagnostics:
    k = teacher.shape[-1]
    student = teacher.clone() if student is None else student
    center = torch.zeros(1, k) if center is None else center
    return collapse_diagnostics(
        teacher_logits=teacher,
        student_logits=student,
        center=center,
        teacher_temp=teacher_temp,
        student_temp=0.1,
    )


# float32 entropies of K = 16 equal probabilities: log 16 = 2.77 to a few ulp (2.4e-7 each), so
# 1.19e-6 off is exact arithmetic in another summation order (SIMD width, thread count).
FLOAT32_LOG16 = 16 * 2.4e-7


def test_uniform_teacher_diagnostics():
    k = 16
    d = _diag(torch.full((2, 32, k), 0.7))
    assert d.teacher_entropy == pytest.approx(math.log(k), abs=FLOAT32_LOG16)
    assert d.max_entropy == pytest.approx(math.log(k))
    assert d.marginal_entropy == pytest.approx(math.log(k), abs=FLOAT32_LOG16)
    assert d.dominant_dim_share == pytest.approx(1 / k)
    assert d.output_std == pytest.approx(0.0, abs=1e-6)
    assert d.kl_teacher_student == pytest.approx(0.0, abs=1e-6)
    assert d.effective_rank == pytest.approx(1.0, abs=1e-4)
    assert collapse_verdict([d]).startswith("collapsed to uniform at step 0")


def test_one_hot_collapse_diagnostics():
    k = 16
    teacher = torch.zeros(2, 32, k)
    teacher[..., 3] = 5.0  # every sample, every view: the same one-hot output
    d = _diag(teacher)
    assert d.dominant_dim_share == pytest.approx(1.0, abs=1e-6)
    assert d.argmax_mode_share == 1.0
    assert d.teacher_entropy == pytest.approx(0.0, abs=1e-6)
    assert d.marginal_entropy == pytest.approx(0.0, abs=1e-6)
    assert d.output_std == pytest.approx(0.0, abs=1e-6)
    assert d.effective_rank == pytest.approx(1.0, abs=1e-4)
    assert collapse_verdict([d]).startswith("collapsed to a constant (one dimension) at step 0")


def test_healthy_random_diagnostics_lie_between_the_collapses():
    k, batch = 16, 64
    g = _gen(12)
    teacher = torch.randn(2, batch, k, generator=g)
    student = torch.randn(6, batch, k, generator=g)
    d = _diag(teacher, student)
    assert 0.0 < d.teacher_entropy < 0.5 * math.log(k)  # sharp per sample...
    assert d.marginal_entropy > 0.9 * math.log(k)  # ...but samples use different dimensions
    assert 1 / k < d.dominant_dim_share < 0.3
    assert d.output_std == pytest.approx(1 / math.sqrt(k), rel=0.2)
    assert 0.5 * k < d.effective_rank < k
    assert d.kl_teacher_student > 0.1
    assert collapse_verdict([d]).startswith("healthy")


def test_loss_decomposes_into_teacher_entropy_plus_kl():
    g = _gen(13)
    teacher = torch.randn(2, 8, 10, generator=g)
    student = torch.randn(5, 8, 10, generator=g)
    center = 0.1 * torch.randn(1, 10, generator=g)
    d = _diag(teacher, student, center=center, teacher_temp=0.5)
    loss = dino_loss(
        student_logits=student, teacher_logits=teacher, center=center, teacher_temp=0.5
    )
    assert d.loss == pytest.approx(loss.item(), rel=1e-6)
    # each teacher view is in the same number of pairs, so the pair-mean entropy is the mean
    assert d.loss == pytest.approx(d.teacher_entropy + d.kl_teacher_student, rel=1e-5)


def test_output_std_and_effective_rank_helpers():
    x = torch.eye(4).repeat(3, 1)  # (12, 4): four orthogonal directions equally often
    assert effective_rank(x).item() == pytest.approx(4.0, rel=1e-5)
    assert effective_rank(torch.zeros(5, 3)).item() == 0.0
    assert normalized_output_std(torch.ones(5, 3) * torch.arange(1, 6)[:, None]).item() == (
        pytest.approx(0.0, abs=1e-7)
    )
    # one-hot rows spread over 4 dims: each dim is Bernoulli(1/4), std sqrt(3)/4
    assert normalized_output_std(x).item() == pytest.approx(math.sqrt(3) / 4, rel=1e-5)


def _row(step, *, entropy_ratio, std_ratio, share, kl=0.3, marginal_ratio=None, k=16):
    """A diagnostics row; collapsed rows pass kl ~ 0 (the student has nothing left to learn)."""
    return {
        "step": step,
        "teacher_entropy": entropy_ratio * math.log(k),
        "max_entropy": math.log(k),
        "marginal_entropy": (entropy_ratio if marginal_ratio is None else marginal_ratio)
        * math.log(k),
        "kl_teacher_student": kl,
        "output_std": std_ratio / math.sqrt(k),
        "output_std_ref": 1 / math.sqrt(k),
        "dominant_dim_share": share,
    }


def _one_dim(step):
    return _row(step, entropy_ratio=0.05, std_ratio=0.05, share=0.97, kl=0.01)


def test_verdict_on_synthetic_histories():
    healthy = [_row(s, entropy_ratio=0.3, std_ratio=0.9, share=0.1, marginal_ratio=0.9)
               for s in range(5)]
    assert collapse_verdict(healthy).startswith("healthy")

    # The verdict reads medians over the last 5 steps (a quarter of the run, at least 5): a
    # collapse is dated at the step where the median turns, the third collapsed step of five.
    one_dim = healthy + [_one_dim(s) for s in range(5, 9)]
    assert collapse_verdict(one_dim).startswith("collapsed to a constant (one dimension) at step 7")
    assert "median of the last 5 steps" in collapse_verdict(one_dim)

    uniform = healthy + [
        _row(s, entropy_ratio=0.99, std_ratio=0.01, share=0.07, kl=0.01) for s in (10, 20, 30)
    ]
    assert collapse_verdict(uniform).startswith("collapsed to uniform at step 30")

    # a blip that recovered is not a collapse, nor is one bad last step (the trend decides);
    # a relapse that lasts is dated from its last streak
    blip = healthy[:2] + [_one_dim(2)] + healthy[3:]
    assert collapse_verdict(blip).startswith("healthy")
    assert collapse_verdict(blip + [_one_dim(7)]).startswith("healthy")
    relapse = blip + [_one_dim(s) for s in (7, 8, 9)]
    assert collapse_verdict(relapse).startswith("collapsed to a constant (one dimension) at step 8")

    # one-hot targets on few dimensions are one-dimension collapse on the way, before the top
    # dimension holds 90% (sharpening alone, measured at 20 steps)
    piling = healthy + [_row(s, entropy_ratio=0.05, std_ratio=0.1, share=0.7, kl=0.3,
                             marginal_ratio=0.1) for s in range(5, 10)]
    assert collapse_verdict(piling).startswith("collapsed to a constant (one dimension) at step 7")

    # a constant output that is neither one-hot nor uniform (measured when both centring and
    # sharpening are off) is a collapse of its own, not "healthy"
    constant = healthy + [
        _row(s, entropy_ratio=0.74, std_ratio=0.007, share=0.21, kl=0.005) for s in (10, 20, 30)
    ]
    assert collapse_verdict(constant).startswith("collapsed to a constant output at step 30")
    # ... but a low spread while the student still learns from the teacher (KL high) is not:
    # healthy short runs pass through it
    low_spread = healthy + [
        _row(s, entropy_ratio=0.5, std_ratio=0.12, share=0.3, kl=0.3, marginal_ratio=0.6)
        for s in range(5, 20)
    ]
    assert collapse_verdict(low_spread).startswith("healthy")

    # high entropy alone (an input-dependent but soft teacher) is not uniform collapse
    soft = [_row(0, entropy_ratio=0.99, std_ratio=0.8, share=0.1)]
    assert collapse_verdict(soft).startswith("healthy")

    # without "step" keys the position is the step; diagnostics objects are accepted
    no_steps = [{k: v for k, v in r.items() if k != "step"} for r in one_dim]
    assert collapse_verdict(no_steps).startswith(
        "collapsed to a constant (one dimension) at step 7"
    )


def test_verdict_window_is_a_quarter_of_the_run_and_at_least_five_steps():
    assert [verdict_window(n) for n in (1, 5, 20, 21, 40, 150)] == [5, 5, 5, 6, 10, 38]


def test_verdict_accepts_diagnostics_objects_and_thresholds():
    k = 8
    teacher = torch.zeros(1, 16, k)
    teacher[..., 0] = 0.2  # mildly dominant: at teacher_temp 0.04, p_0 = e^5 / (e^5 + 7)
    d = collapse_diagnostics(
        teacher_logits=teacher, student_logits=teacher, center=torch.zeros(k), n_global=0
    )
    assert d.dominant_dim_share == pytest.approx(math.exp(5) / (math.exp(5) + 7), rel=1e-5)
    assert collapse_verdict([d]).startswith("collapsed to a constant (one dimension) at step 0")
    # stricter one-dimension thresholds no longer call it one-dimensional; entropy is low, so
    # it is not uniform either; every image gets the same output, but the student is still far
    # from the teacher (KL 0.49 nats), so it is not a settled constant output...
    strict = dict(one_dim_share=0.99, one_hot_entropy_ratio=0.0)
    assert d.kl_teacher_student > 0.4
    assert collapse_verdict([d.to_dict()], **strict).startswith("healthy")
    # ...unless the KL threshold lets it be
    assert collapse_verdict([d.to_dict()], **strict, collapsed_kl=1.0).startswith(
        "collapsed to a constant output at step 0"
    )
    # and with no std threshold at all nothing is left to call it collapsed
    assert collapse_verdict(
        [d.to_dict()], **strict, collapsed_kl=1.0, collapsed_std_ratio=0.0
    ).startswith("healthy")


def test_verdict_errors():
    with pytest.raises(ValueError, match="history is empty"):
        collapse_verdict([])
    missing = "\\['marginal_entropy', 'kl_teacher_student', 'output_std'"
    with pytest.raises(ValueError, match=f"history\\[0\\] lacks {missing}"):
        collapse_verdict(
            [
                {
                    "teacher_entropy": 1.0,
                    "max_entropy": 2.0,
                    "output_std_ref": 0.1,
                    "dominant_dim_share": 0.1,
                }
            ]
        )
