"""Property-based tests: losses and masking over every slider's full range.

The app's sliders reach tau in [1e-3, 10], N in [1, 4096], D in [1, 2048], DINO temperatures in
[1e-3, 1] and mask ratios in (0, 1). Over those ranges, and for embeddings of tiny or huge norm
and for identical rows, every output (and gradient) is finite; outside them the call raises a
ValueError that says what was wrong. Hypothesis runs derandomized, so CI sees the same examples
every time. Exact formulas are checked in the module test files (tests/losses/, test_masking.py).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ssl_core.losses.dino import MIN_TEMP, DINOCenter, dino_loss
from ssl_core.losses.dino_collapse import collapse_diagnostics
from ssl_core.losses.dino_teacher import ema_update
from ssl_core.losses.infonce import MIN_TAU, info_nce, info_nce_diagnostics
from ssl_core.losses.infonce_sweep import synthetic_pairs, tau_sweep
from ssl_core.losses.mae import mae_loss, per_patch_error
from ssl_core.masking import (
    MaskResult,
    interpolate_masked,
    make_mask,
    num_visible,
    patchify,
    random_mask_indices,
    random_masking,
    unpatchify,
)

pytestmark = pytest.mark.timeout(120)

FEW = settings(max_examples=25, deadline=None, derandomize=True, database=None)
MANY = settings(max_examples=60, deadline=None, derandomize=True, database=None)

TAUS = st.floats(1e-3, 10.0)
TEMPS = st.floats(1e-3, 1.0)
SCALES = st.sampled_from([1e-6, 1.0, 1e6])
SEEDS = st.integers(0, 2**16)
# Ratios the slider reaches, the float edges, and a few that are out of range or leave no
# masked patch at all (1e-12 over a few patches).
EDGE_RATIOS = [1e-12, 1e-9, 0.01, 0.5, 0.99, 1 - 1e-9, 0.0, 1.0, -0.25, 1.5, math.nan, math.inf]
RATIOS = st.one_of(st.floats(0.01, 0.99), st.sampled_from(EDGE_RATIOS))


def _finite(x: torch.Tensor | float) -> bool:
    return bool(torch.isfinite(torch.as_tensor(x)).all())


def _embeddings(n: int, d: int, scale: float, seed: int, *, identical: bool = False):
    gen = torch.Generator().manual_seed(seed)
    if identical:
        row = torch.randn(1, d, generator=gen) * scale
        return row.expand(n, d).clone(), row.expand(n, d).clone()
    z1 = torch.randn(n, d, generator=gen) * scale
    z2 = z1 + 0.5 * scale * torch.randn(n, d, generator=gen)
    return z1, z2


# ----------------------------------------------------------------------------------------------
# InfoNCE
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
@FEW
@given(
    n=st.integers(1, 512),
    d=st.integers(1, 2048),
    tau=TAUS,
    scale=SCALES,
    identical=st.booleans(),
    seed=SEEDS,
)
def test_info_nce_and_its_gradient_are_finite_over_the_sliders(n, d, tau, scale, identical, seed):
    z1, z2 = _embeddings(n, d, scale, seed, identical=identical)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    loss = info_nce(z1, z2, tau)
    loss.backward()
    assert _finite(loss) and loss.item() >= 0.0
    assert _finite(z1.grad) and _finite(z2.grad)
    if identical:  # every similarity is 1: a uniform softmax over the 2N - 1 candidates
        assert loss.item() == pytest.approx(math.log(2 * n - 1), abs=1e-4)


@MANY
@given(
    tau=st.one_of(
        st.floats(-10.0, 10.0),
        st.floats(0.0, 1e-3),
        st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e-7, MIN_TAU, math.inf, math.nan]),
    )
)
def test_info_nce_gives_a_finite_loss_or_a_value_error_for_the_temperature(tau):
    z1, z2 = _embeddings(4, 3, 1.0, 0)
    z1.requires_grad_(True)
    if math.isfinite(tau) and tau >= MIN_TAU:
        loss = info_nce(z1, z2, tau)
        loss.backward()
        assert _finite(loss) and _finite(z1.grad)
    elif math.isfinite(tau) and tau > 0:
        with pytest.raises(ValueError, match=r"tau=.* is too small.*use tau >= 1e-06"):
            info_nce(z1, z2, tau)
    else:
        with pytest.raises(ValueError, match=r"tau must be a finite temperature > 0"):
            info_nce(z1, z2, tau)


@pytest.mark.slow
@FEW
@given(
    n=st.integers(2, 256),
    d=st.integers(1, 2048),
    tau=TAUS,
    scale=SCALES,
    identical=st.booleans(),
    seed=SEEDS,
)
def test_info_nce_diagnostics_are_finite_over_the_sliders(n, d, tau, scale, identical, seed):
    z1, z2 = _embeddings(n, d, scale, seed, identical=identical)
    diag = info_nce_diagnostics(z1, z2, tau, anchor=2 * n - 1)
    for value in (
        diag.loss,
        diag.similarity,
        diag.weights,
        diag.positive_weight,
        diag.hardest_negative_share,
        diag.alignment,
        diag.uniformity,
        diag.anchor_weights,
    ):
        assert _finite(value)
    assert torch.allclose(diag.weights.sum(dim=1), torch.ones(2 * n), atol=1e-4)
    assert diag.loss == pytest.approx(info_nce(z1, z2, tau).item(), rel=1e-4, abs=1e-4)


def test_info_nce_diagnostics_refuse_a_single_pair():
    z1, z2 = _embeddings(1, 8, 1.0, 0)
    with pytest.raises(ValueError, match=r"N >= 2"):
        info_nce_diagnostics(z1, z2, 0.1)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_info_nce_at_the_largest_batch_is_finite():
    """N = 4096 (the slider's maximum) at the coldest temperature, with its gradient."""
    z1, z2 = _embeddings(4096, 32, 1.0, 7)
    z1.requires_grad_(True)
    loss = info_nce(z1, z2, 1e-3)
    loss.backward()
    assert _finite(loss) and loss.item() >= 0.0
    assert _finite(z1.grad)


# The whole N x D square of the sliders, N in [1, 4096] and D in [1, 2048], with N * D capped so
# that an example stays cheap (the corner N = 4096 has its own test above).
MAX_ENTRIES = 1 << 17


@st.composite
def batch_shapes(draw, *, n_min: int = 1, n_max: int = 4096, d_max: int = 2048):
    # the 2N x 2N similarity matrix costs N^2 whatever D is: mostly small N, a few large ones
    # (the corner N = 4096 is test_info_nce_at_the_largest_batch_is_finite)
    n = draw(st.one_of(st.integers(n_min, min(n_max, 512)),
                       st.sampled_from([v for v in (1024, 2048) if v <= n_max])))
    d = draw(st.integers(1, max(1, min(d_max, MAX_ENTRIES // n))))
    return n, d


@pytest.mark.slow
@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(shape=batch_shapes(), tau=TAUS, noise=st.sampled_from([0.0, 0.5, 3.0, math.inf]),
       seed=SEEDS)
def test_info_nce_over_the_whole_n_by_d_square(shape, tau, noise, seed):
    n, d = shape
    z1, z2 = synthetic_pairs(n, d, noise=noise, seed=seed)
    z1.requires_grad_(True)
    loss = info_nce(z1, z2, tau)
    loss.backward()
    assert _finite(loss) and 0.0 <= loss.item()
    assert _finite(z1.grad)
    if n == 1:  # one pair: the positive is the only candidate
        assert loss.item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.slow
@FEW
@given(shape=batch_shapes(n_min=2, n_max=1024, d_max=512), tau=TAUS,
       noise=st.floats(0.0, 3.0), anchor=st.floats(0.0, 1.0, exclude_max=True), seed=SEEDS)
def test_infonce_page_diagnostics_over_its_sliders(shape, tau, noise, anchor, seed):
    """The InfoNCE page's batch: N in [2, 1024], D in [1, 512], noise in [0, 3], any anchor."""
    n, d = shape
    diag = info_nce_diagnostics(*synthetic_pairs(n, d, noise=noise, seed=seed), tau,
                                anchor=int(anchor * 2 * n))
    for value in (diag.loss, diag.weights, diag.positive_weight, diag.alignment,
                  diag.uniformity, diag.anchor_weights, diag.top1_accuracy):
        assert _finite(value)
    assert 0.0 <= diag.top1_accuracy <= 1.0
    assert torch.allclose(diag.anchor_weights.sum(), torch.tensor(1.0), atol=1e-4)


@MANY
@given(
    n=st.one_of(st.integers(-3, 3), st.sampled_from([True, 2.0, "8"])),
    d=st.one_of(st.integers(-3, 3), st.sampled_from([False, 4.5])),
    noise=st.one_of(st.floats(-1.0, 3.0), st.sampled_from([math.nan, math.inf, -math.inf])),
)
def test_synthetic_pairs_builds_a_batch_or_says_which_argument_is_wrong(n, d, noise):
    n_ok = isinstance(n, int) and not isinstance(n, bool) and n >= 1
    d_ok = isinstance(d, int) and not isinstance(d, bool) and d >= 1
    noise_ok = not math.isnan(noise) and noise >= 0
    if n_ok and d_ok and noise_ok:
        z1, z2 = synthetic_pairs(n, d, noise=noise, seed=0)
        assert z1.shape == z2.shape == (n, d) and _finite(z1) and _finite(z2)
    else:
        first = "n " if not n_ok else "d " if not d_ok else "noise"
        with pytest.raises(ValueError, match=rf"^{first}"):
            synthetic_pairs(n, d, noise=noise, seed=0)


@pytest.mark.slow
@FEW
@given(taus=st.lists(TAUS, min_size=1, max_size=4), n=st.integers(1, 64), d=st.integers(1, 64),
       noise=st.sampled_from([0.0, 0.5, math.inf]))
def test_tau_sweep_is_finite_over_the_sliders(taus, n, d, noise):
    sweep = tau_sweep(taus, n=n, d=d, noise=noise, seeds=range(2))
    for values in (sweep.aligned, sweep.random, sweep.aligned_sem, sweep.random_sem):
        assert len(values) == len(taus) and all(math.isfinite(v) for v in values)
    assert sweep.reference_loss == pytest.approx(math.log(max(2 * n - 1, 1)))


def test_tau_sweep_refuses_an_empty_or_invalid_sweep():
    with pytest.raises(ValueError, match=r"at least one temperature"):
        tau_sweep((), n=4, d=4)
    with pytest.raises(ValueError, match=r"at least one seed"):
        tau_sweep((0.1,), n=4, d=4, seeds=())
    with pytest.raises(ValueError, match=r"tau must be a finite temperature > 0"):
        tau_sweep((0.1, 0.0), n=4, d=4)


# ----------------------------------------------------------------------------------------------
# DINO
# ----------------------------------------------------------------------------------------------


@MANY
@given(
    momentum=st.one_of(st.floats(-1.0, 2.0), st.sampled_from([0.0, 1.0, math.nan, math.inf])),
    k=st.integers(1, 256),
    scale=SCALES,
    seed=SEEDS,
)
def test_dino_center_momentum_over_its_slider_or_a_value_error(momentum, k, scale, seed):
    if not 0.0 <= momentum <= 1.0:
        with pytest.raises(ValueError, match=r"center momentum must be in \[0, 1\]"):
            DINOCenter(k, momentum=momentum)
        return
    center = DINOCenter(k, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 8, k, generator=gen) * scale  # (views, B, K)
    center.update(logits)
    assert center.center.shape == (1, k) and _finite(center.center)
    # a convex mix of the old centre (zeros) and the batch mean
    mean = logits.reshape(-1, k).mean(0, keepdim=True)
    expected = (1.0 - momentum) * mean
    assert torch.allclose(center.center, expected, rtol=1e-4, atol=1e-6 * scale)



@pytest.mark.slow
@FEW
@given(
    batch=st.integers(1, 32),
    k=st.integers(1, 1024),
    local_views=st.integers(0, 3),
    student_temp=TEMPS,
    teacher_temp=TEMPS,
    scale=SCALES,
    identical=st.booleans(),
    seed=SEEDS,
)
def test_dino_loss_and_diagnostics_are_finite_over_the_sliders(
    batch, k, local_views, student_temp, teacher_temp, scale, identical, seed
):
    gen = torch.Generator().manual_seed(seed)
    shape = (1 if identical else batch, k)
    teacher = (torch.randn(2, *shape, generator=gen) * scale).expand(2, batch, k).contiguous()
    student = torch.randn(2 + local_views, *shape, generator=gen) * scale
    student = student.expand(2 + local_views, batch, k).clone().requires_grad_(True)
    center = DINOCenter(k)
    center.update(teacher)
    assert _finite(center.center)

    loss = dino_loss(
        student_logits=student,
        teacher_logits=teacher,
        center=center.center,
        student_temp=student_temp,
        teacher_temp=teacher_temp,
    )
    loss.backward()
    assert _finite(loss) and loss.item() >= -1e-4  # a cross-entropy
    assert _finite(student.grad)

    diag = collapse_diagnostics(
        teacher_logits=teacher,
        student_logits=student.detach(),
        center=center.center,
        teacher_temp=teacher_temp,
        student_temp=student_temp,
    )
    for name, value in diag.to_dict().items():
        assert math.isfinite(value), name
    assert 0.0 <= diag.dominant_dim_share <= 1.0 + 1e-6


BAD_TEMPS = [0.0, -0.1, 5e-324, 1e-30, 1e-7, math.inf, math.nan]


@MANY
@given(
    student_temp=st.one_of(TEMPS, st.floats(0.0, 1e-3), st.sampled_from(BAD_TEMPS)),
    teacher_temp=st.one_of(TEMPS, st.floats(0.0, 1e-3), st.sampled_from(BAD_TEMPS)),
)
def test_dino_loss_gives_a_finite_loss_or_a_value_error_for_the_temperatures(
    student_temp, teacher_temp
):
    logits = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(0))
    student = logits.clone().requires_grad_(True)
    call = dict(
        student_logits=student,
        teacher_logits=logits,
        center=torch.zeros(1, 8),
        student_temp=student_temp,
        teacher_temp=teacher_temp,
    )
    bad = [
        name
        for name, value in (("student_temp", student_temp), ("teacher_temp", teacher_temp))
        if not (math.isfinite(value) and value >= MIN_TEMP)
    ]
    if not bad:
        loss = dino_loss(**call)
        loss.backward()
        assert _finite(loss) and _finite(student.grad)
    else:
        reason = r"( must be a positive finite temperature|=.* is too small.*>= 1e-06)"
        with pytest.raises(ValueError, match=rf"({'|'.join(bad)}){reason}"):
            dino_loss(**call)


@FEW
@given(momentum=st.floats(0.0, 1.0), scale=SCALES, seed=SEEDS)
def test_ema_update_stays_between_teacher_and_student(momentum, scale, seed):
    torch.manual_seed(seed)
    teacher, student = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    with torch.no_grad():
        for p in (*teacher.parameters(), *student.parameters()):
            p.mul_(scale)
    before = [p.detach().clone() for p in teacher.parameters()]
    ema_update(teacher, student, momentum)
    for old, new, s in zip(before, teacher.parameters(), student.parameters(), strict=True):
        assert _finite(new)
        low, high = torch.minimum(old, s), torch.maximum(old, s)
        slack = 1e-6 * high.abs().clamp_min(1e-30)
        assert bool((new >= low - slack).all() and (new <= high + slack).all())


# ----------------------------------------------------------------------------------------------
# Masking
# ----------------------------------------------------------------------------------------------


@MANY
@given(num_patches=st.integers(2, 4096), ratio=RATIOS)
def test_num_visible_keeps_a_count_in_range_or_says_why_not(num_patches, ratio):
    in_range = math.isfinite(ratio) and 0.0 < ratio < 1.0
    try:
        keep = num_visible(num_patches, ratio)
    except ValueError as error:
        message = str(error)
        if not in_range:
            assert re.search(r"mask_ratio must be .*in \(0, 1\)", message)
        elif num_patches * (1 - ratio) < 1 + 1e-6:
            assert "leaves no visible patch" in message and "use at most" in message
        else:  # rounding kept every patch: the ratio is below one patch's worth
            assert num_patches * ratio < 1e-6
            assert "leaves no masked patch" in message and "use at least" in message
        return
    assert in_range
    assert 1 <= keep <= num_patches - 1
    # floor(L * (1 - r)), forgiving float noise: within one patch below the exact value
    assert num_patches * (1 - ratio) - 1 < keep <= num_patches * (1 - ratio) + 1e-6


@MANY
@given(batch=st.integers(1, 4), num_patches=st.integers(2, 1024), ratio=RATIOS, seed=SEEDS)
def test_random_masking_is_valid_exactly_when_num_visible_is(batch, num_patches, ratio, seed):
    try:
        keep = num_visible(num_patches, ratio)
    except ValueError as expected:
        with pytest.raises(ValueError, match=re.escape(str(expected))):
            random_masking(batch, num_patches, ratio, seed=seed)
        return
    result = random_masking(batch, num_patches, ratio, seed=seed)
    assert result.ids_keep.shape == (batch, keep)
    assert result.mask.sum(dim=1).tolist() == [num_patches - keep] * batch
    kept = torch.gather(result.mask, 1, result.ids_keep)  # (B, L_keep)
    assert bool((kept == 0).all()), "ids_keep points at visible patches only"
    order = torch.sort(result.ids_restore, dim=1).values  # each row a permutation of 0..L-1
    assert bool((order == torch.arange(num_patches)).all())


@MANY
@given(num_patches=st.integers(2, 4096), ratio=RATIOS, seed=SEEDS)
def test_random_mask_indices_follow_the_lesson_rule_or_say_why_not(num_patches, ratio, seed):
    """The lesson's rule rounds the masked count down: n_mask = floor(L * r)."""
    in_range = math.isfinite(ratio) and 0.0 < ratio < 1.0
    try:
        visible, masked = random_mask_indices(num_patches, ratio, seed=seed)
    except ValueError as error:
        message = str(error)
        if not in_range:
            assert re.search(r"mask_ratio must be .*in \(0, 1\)", message)
        elif num_patches * ratio < 1 + 1e-6:
            assert "leaves no masked patch" in message
        else:
            assert num_patches * (1 - ratio) < 1 + 1e-6
            assert "leaves no visible patch" in message
        return
    assert in_range and len(visible) >= 1 and len(masked) >= 1
    assert num_patches * ratio - 1 < len(masked) <= num_patches * ratio + 1e-6
    assert sorted(np.concatenate([visible, masked]).tolist()) == list(range(num_patches))


@MANY
@given(
    kind=st.sampled_from(["random", "block", "grid"]),
    grid_h=st.integers(1, 16),
    grid_w=st.integers(1, 16),
    ratio=RATIOS,
    seed=SEEDS,
)
def test_make_mask_hides_some_but_not_all_or_says_why_not(kind, grid_h, grid_w, ratio, seed):
    length = grid_h * grid_w
    try:
        mask = make_mask(kind, grid_h, grid_w, ratio, seed=seed)
    except ValueError as error:
        assert re.search(r"mask_ratio|patches", str(error)), str(error)
        if kind != "grid":  # random and block follow num_visible; grid follows its pattern
            with pytest.raises(ValueError):
                num_visible(length, ratio)
        return
    assert mask.shape == (length,) and mask.dtype == bool
    assert 0 < int(mask.sum()) < length
    if kind != "grid":
        assert int(mask.sum()) == length - num_visible(length, ratio)
    assert MaskResult.from_bool(mask).n_mask == int(mask.sum())


@MANY
@given(
    batch=st.integers(1, 3),
    channels=st.integers(1, 4),
    patch=st.integers(1, 6),
    grid_h=st.integers(1, 6),
    grid_w=st.integers(1, 6),
    seed=SEEDS,
)
def test_unpatchify_inverts_patchify(batch, channels, patch, grid_h, grid_w, seed):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, channels, grid_h * patch, grid_w * patch, generator=gen)
    patches = patchify(images, patch)  # (B, L, p*p*C)
    assert patches.shape == (batch, grid_h * grid_w, patch * patch * channels)
    back = unpatchify(patches, patch_size=patch, grid=(grid_h, grid_w))
    assert torch.equal(back, images)
    np.testing.assert_array_equal(patchify(images.numpy(), patch), patches.numpy())
    if patch > 1:
        with pytest.raises(ValueError, match=r"must be multiples of"):
            patchify(images[..., :-1], patch)


@pytest.mark.slow
@FEW
@given(
    grid=st.integers(2, 8),
    patch=st.integers(1, 4),
    ratio=st.one_of(st.floats(0.01, 0.99), st.sampled_from([1e-9, 1 - 1e-9])),
    scale=SCALES,
    seed=SEEDS,
)
def test_interpolate_masked_is_finite_and_keeps_visible_pixels(grid, patch, ratio, scale, seed):
    length = grid * grid
    try:
        num_visible(length, ratio)
    except ValueError:
        return  # covered by the num_visible property
    mask = random_masking(2, length, ratio, seed=seed).mask  # (2, L)
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(2, 3, grid * patch, grid * patch, generator=gen) * scale
    filled = interpolate_masked(images, mask, patch, iterations=10)
    assert _finite(filled)
    visible = ~mask.bool()
    pixels = patchify(images, patch)[visible]  # (n_visible, p*p*C)
    assert torch.equal(patchify(filled, patch)[visible], pixels)
    assert filled.min() >= images.min() - 1e-6 * scale and filled.max() <= images.max() * 1.0001


# ----------------------------------------------------------------------------------------------
# MAE loss
# ----------------------------------------------------------------------------------------------


@FEW
@given(
    batch=st.integers(1, 4),
    num_patches=st.integers(2, 256),
    patch_dim=st.integers(2, 64),
    ratio=st.one_of(st.floats(0.01, 0.99), st.sampled_from([1e-9, 1 - 1e-9])),
    norm_pix=st.booleans(),
    scale=SCALES,
    constant=st.booleans(),
    seed=SEEDS,
)
def test_mae_loss_and_gradient_are_finite_over_the_sliders(
    batch, num_patches, patch_dim, ratio, norm_pix, scale, constant, seed
):
    try:
        num_visible(num_patches, ratio)
    except ValueError:
        return  # covered by the num_visible property
    gen = torch.Generator().manual_seed(seed)
    target = torch.randn(batch, num_patches, patch_dim, generator=gen) * scale
    if constant:  # flat patches: norm_pix divides by sqrt(0 + eps)
        target = target[..., :1].expand_as(target).contiguous()
    pred = (torch.randn(batch, num_patches, patch_dim, generator=gen) * scale).requires_grad_()
    mask = random_masking(batch, num_patches, ratio, seed=seed).mask  # (B, L)
    loss = mae_loss(pred, target, mask, norm_pix=norm_pix)
    loss.backward()
    assert _finite(loss) and loss.item() >= 0.0
    assert _finite(pred.grad)
    assert bool((pred.grad[~mask.bool()] == 0).all()), "visible patches earn nothing"
    assert _finite(per_patch_error(pred.detach(), target, norm_pix=norm_pix))


def test_mae_loss_without_a_masked_patch_says_so():
    pred = torch.zeros(1, 4, 3)
    with pytest.raises(ValueError, match=r"no masked patch"):
        mae_loss(pred, pred, torch.zeros(1, 4))
