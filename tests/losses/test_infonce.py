"""Tests for ssl_core.losses.infonce: loop references, the lesson's sanity values, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from ssl_core.losses.infonce import info_nce, info_nce_diagnostics
from ssl_core.losses.infonce_sweep import DEFAULT_TAUS, random_pairs, synthetic_pairs, tau_sweep

# --------------------------------------------------------------------------------------------
# Slow explicit references: python loops over anchors and candidates, float64 python numbers.
# --------------------------------------------------------------------------------------------


def _unit_rows(z: torch.Tensor) -> list[list[float]]:
    rows = []
    for row in z.tolist():
        norm = math.sqrt(sum(x * x for x in row))
        rows.append([x / norm for x in row])
    return rows


def _loop_cosines(z1: torch.Tensor, z2: torch.Tensor) -> list[list[float]]:
    """(2N, 2N) cosine similarities of the embeddings [z1_0..z1_{N-1}, z2_0..z2_{N-1}]."""
    z = _unit_rows(z1) + _unit_rows(z2)
    return [[sum(a * b for a, b in zip(u, v, strict=True)) for v in z] for u in z]


def _loop_info_nce(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """mean_i -log( exp(s_ip / tau) / sum_{k != i} exp(s_ik / tau) ), one anchor at a time.

    Every exponent is shifted by the row's largest candidate similarity m (which cancels between
    numerator and denominator) so that exp(1 / 1e-3) does not overflow a python float, and the
    log of the ratio is taken as a difference so that a tiny numerator does not underflow to 0.
    """
    s = _loop_cosines(z1, z2)
    n2 = len(s)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        positive = (i + n) % n2
        candidates = [k for k in range(n2) if k != i]
        m = max(s[i][k] for k in candidates)
        denominator = sum(math.exp((s[i][k] - m) / tau) for k in candidates)
        log_numerator = (s[i][positive] - m) / tau  # log exp(...)
        total += -(log_numerator - math.log(denominator))
    return total / n2


def _loop_weights(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> list[list[float]]:
    """Softmax weight of candidate k for anchor i; 0 on the diagonal."""
    s = _loop_cosines(z1, z2)
    n2 = len(s)
    weights = []
    for i in range(n2):
        m = max(s[i][k] for k in range(n2) if k != i)
        e = [0.0 if k == i else math.exp((s[i][k] - m) / tau) for k in range(n2)]
        total = sum(e)
        weights.append([x / total for x in e])
    return weights


def _loop_uniformity_one_view(z: torch.Tensor, t: float = 2.0) -> float:
    """log of the mean of exp(-t ||x_a - x_b||^2) over the pairs a < b (torch.pdist's pairs)."""
    x = _unit_rows(z)
    potentials = []
    for a in range(len(x)):
        for b in range(a + 1, len(x)):
            sq = sum((p - q) ** 2 for p, q in zip(x[a], x[b], strict=True))
            potentials.append(math.exp(-t * sq))
    return math.log(sum(potentials) / len(potentials))


def _wang_isola_lunif(x: torch.Tensor, t: float = 2.0) -> float:
    """The paper's reference code, verbatim: torch.pdist on one view's normalised batch."""
    sq_pdist = torch.pdist(F.normalize(x, dim=1), p=2).pow(2)
    return sq_pdist.mul(-t).exp().mean().log().item()


def _pairs64(n: int, d: int, *, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    z1, z2 = synthetic_pairs(n, d, noise=noise, seed=seed)
    return z1.double(), z2.double()


REFERENCE_CASES = [  # (N, D, tau)
    (1, 4, 0.1),
    (1, 3, 1e-3),
    (2, 5, 0.5),
    (3, 2, 10.0),
    (5, 8, 1e-3),
    (7, 3, 0.07),
    (8, 16, 10.0),
    (16, 32, 0.1),
]


# --------------------------------------------------------------------------------------------
# The loss against the loop reference
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "d", "tau"), REFERENCE_CASES)
@pytest.mark.parametrize("noise", [0.3, math.inf])
def test_info_nce_matches_loop_reference(n: int, d: int, tau: float, noise: float) -> None:
    z1, z2 = _pairs64(n, d, noise=noise, seed=n * 100 + d)
    expected = _loop_info_nce(z1, z2, tau)
    assert info_nce(z1, z2, tau).item() == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("n", "d", "tau"), [(4, 8, 0.1), (16, 32, 0.5), (5, 8, 1e-3)])
def test_info_nce_float32_close_to_float64_reference(n: int, d: int, tau: float) -> None:
    z1, z2 = synthetic_pairs(n, d, noise=0.5, seed=7)
    expected = _loop_info_nce(z1, z2, tau)
    # float32 cosines are accurate to ~1e-7; divided by tau that is ~1e-7 / tau in the logits.
    assert info_nce(z1, z2, tau).item() == pytest.approx(expected, rel=1e-4, abs=1e-7 / tau * 10)


def test_info_nce_is_scale_invariant_and_symmetric_in_views() -> None:
    z1, z2 = _pairs64(6, 4, noise=0.5, seed=1)
    base = info_nce(z1, z2, 0.2)
    assert info_nce(3.0 * z1, 0.01 * z2, 0.2).item() == pytest.approx(base.item(), rel=1e-12)
    assert info_nce(z2, z1, 0.2).item() == pytest.approx(base.item(), rel=1e-12)


def test_info_nce_returns_a_scalar() -> None:
    z1, z2 = synthetic_pairs(3, 2, noise=0.1, seed=0)
    loss = info_nce(z1, z2)
    assert loss.shape == ()
    assert loss.dtype == torch.float32


def test_single_pair_gives_exactly_zero_loss_and_zero_gradient() -> None:
    # N = 1: each anchor's only candidate is its positive, whatever the two vectors are.
    z1 = torch.tensor([[1.0, 2.0, -3.0]], requires_grad=True)
    z2 = torch.tensor([[-5.0, 0.5, 1.0]], requires_grad=True)
    for tau in (1e-3, 0.1, 10.0):
        z1.grad = z2.grad = None
        loss = info_nce(z1, z2, tau)
        loss.backward()
        assert loss.item() == 0.0
        assert torch.equal(z1.grad, torch.zeros_like(z1))
        assert torch.equal(z2.grad, torch.zeros_like(z2))


def test_gradient_matches_finite_differences() -> None:
    z1, z2 = _pairs64(3, 4, noise=0.5, seed=3)
    z1.requires_grad_()
    z2.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: info_nce(a, b, 0.3), (z1, z2))


# --------------------------------------------------------------------------------------------
# The lesson's sanity values
# --------------------------------------------------------------------------------------------


def test_identical_pairs_give_a_loss_near_zero() -> None:
    n, d, tau = 256, 128, 0.05
    z1, _ = synthetic_pairs(n, d, noise=0.0, seed=0)
    loss = info_nce(z1, z1, tau).item()
    # With z2 = z1 the positive has cosine 1 and each of the N - 1 other images appears twice
    # among the negatives, so l_i = log(1 + 2 sum_j exp((s_ij - 1) / tau)). Random cosines in
    # D = 128 are sub-Gaussian with variance proxy 1/D (spread ~ +-0.09), so by Jensen
    #   E[loss] <= log(1 + 2 (N - 1) exp(-1/tau + 1 / (2 D tau^2)))
    #           =  log(1 + 510 * exp(-20 + 1.5625)) = 5.0e-6.
    expectation_bound = math.log1p(2 * (n - 1) * math.exp(-1 / tau + 1 / (2 * d * tau**2)))
    assert expectation_bound == pytest.approx(5.0e-6, rel=0.01)
    # One batch may sit a little above its expectation, hence a 20x margin: 1e-4. That is still
    # five orders of magnitude below chance, log(2N - 1) = 6.2.
    assert 0.0 <= loss < 1e-4
    assert loss < 20 * expectation_bound
    # The same vectors with independent second views are nowhere near 0.
    _, z_random = random_pairs(n, d, seed=0)
    assert info_nce(z1, z_random, tau).item() > math.log(2 * n - 1)


@pytest.mark.parametrize(
    ("n", "d", "noise", "seeds"), [(16, 32, 0.5, range(20)), (256, 128, 0.5, range(3))]
)
def test_temperature_sweep_aligned_falls_and_random_rises_as_tau_falls(
    n: int, d: int, noise: float, seeds: range
) -> None:
    sweep = tau_sweep(DEFAULT_TAUS, n=n, d=d, noise=noise, seeds=seeds)
    assert sweep.taus == (0.05, 0.1, 0.2, 0.5)
    aligned, random = sweep.aligned, sweep.random  # ordered by increasing tau
    # Aligned: every step from 0.5 down to 0.05 lowers the loss.
    assert all(cold < warm for cold, warm in zip(aligned, aligned[1:], strict=False)), aligned
    # Random: every step from 0.5 down to 0.05 raises it, and it stays above log(2N - 1).
    assert all(cold > warm for cold, warm in zip(random, random[1:], strict=False)), random
    assert min(random) > sweep.reference_loss
    assert sweep.reference_loss == pytest.approx(math.log(2 * n - 1))


def test_random_pairs_reach_log_2n_minus_1_only_for_warm_tau_and_large_d() -> None:
    # Upper bound on the excess: 1 / (2 D tau^2) = 1.2e-6 here; the per-batch spread is ~4e-4.
    for seed in range(5):
        loss = info_nce(*random_pairs(16, 4096, seed=seed), 10.0).item()
        assert abs(loss - math.log(31)) < 0.01


def test_random_pairs_at_the_lessons_settings_sit_a_nat_above_log_2n_minus_1() -> None:
    # N = 16, D = 32, tau = 0.1. An independent float64 estimate over 100,000 batches gives
    # E[loss] = 4.805 +- 0.0014 with a per-batch std of 0.44. Over 2,000 seeds the standard error
    # is 0.44 / sqrt(2000) = 0.010, so the mean must land within 4 standard errors (0.04) of it.
    n, d, tau, n_seeds = 16, 32, 0.1, 2000
    losses = torch.tensor(
        [info_nce(*random_pairs(n, d, seed=s), tau).item() for s in range(n_seeds)],
        dtype=torch.float64,
    )
    mean = losses.mean().item()
    sem = (losses.std() / math.sqrt(n_seeds)).item()
    assert 0.008 < sem < 0.012  # the std error the tolerance below was sized from
    assert abs(mean - 4.805) < 4 * sem
    # Far from chance log(31) = 3.434, and inside the exact Jensen bounds of the module docstring.
    assert mean - math.log(2 * n - 1) > 1.2
    assert math.log(2 * n - 1) < mean < math.log(2 * n - 1) + 1 / (2 * d * tau**2)


# --------------------------------------------------------------------------------------------
# Finite values, errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [1e-3, 0.01, 0.1, 1.0, 10.0])
@pytest.mark.parametrize("n", [1, 2, 64])
@pytest.mark.parametrize("kind", ["aligned", "random", "identical"])
def test_loss_and_gradients_are_finite(tau: float, n: int, kind: str) -> None:
    noise = {"aligned": 0.1, "random": math.inf, "identical": 0.0}[kind]
    z1, z2 = synthetic_pairs(n, 16, noise=noise, seed=n)
    z1.requires_grad_()
    if kind == "identical":
        z2 = z1  # the very same tensor as both views: gradients from both paths add up
    else:
        z2.requires_grad_()
    loss = info_nce(z1, z2, tau)
    loss.backward()
    assert torch.isfinite(loss)
    assert loss.item() >= 0.0
    assert torch.isfinite(z1.grad).all()
    if kind != "identical":
        assert torch.isfinite(z2.grad).all()


@pytest.mark.slow
def test_loss_and_gradients_are_finite_for_a_4096_batch() -> None:
    # 8192 x 8192 similarity matrix, the coldest temperature; about 1.5 s and 1.3 GB on 2 cores.
    z1, z2 = synthetic_pairs(4096, 8, noise=0.5, seed=0)
    z1.requires_grad_()
    z2.requires_grad_()
    loss = info_nce(z1, z2, 1e-3)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z1.grad).all()
    assert torch.isfinite(z2.grad).all()


@pytest.mark.parametrize(
    ("tau", "match"),
    [
        (0.0, r"tau must be a finite temperature > 0.*got 0\.0"),
        (-0.1, r"tau must be a finite temperature > 0.*got -0\.1"),
        (math.nan, r"tau must be a finite temperature > 0.*got nan"),
        (math.inf, r"tau must be a finite temperature > 0.*got inf"),
        ("0.1", r"tau must be a positive float.*str"),
        (True, r"tau must be a positive float.*bool"),
    ],
)
def test_bad_tau_raises(tau: object, match: str) -> None:
    z1, z2 = synthetic_pairs(4, 3, noise=0.1, seed=0)
    with pytest.raises(ValueError, match=match):
        info_nce(z1, z2, tau)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        info_nce_diagnostics(z1, z2, tau)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("z1", "z2", "match"),
    [
        (torch.randn(4, 3), torch.randn(5, 3), r"same shape.*\(4, 3\) and \(5, 3\)"),
        (torch.randn(4, 3), torch.randn(4, 2), r"same shape.*\(4, 3\) and \(4, 2\)"),
        (torch.randn(4), torch.randn(4), r"z1 must be 2-D \(N, D\).*\(4,\)"),
        (torch.randn(4, 3), torch.randn(2, 2, 3), r"z2 must be 2-D \(N, D\).*\(2, 2, 3\)"),
        (torch.randn(0, 3), torch.randn(0, 3), r"at least one pair, N >= 1.*\(0, 3\)"),
        (torch.randn(4, 0), torch.randn(4, 0), r"dimension D must be >= 1"),
        (torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3), r"z1 must be a floating-point"),
        ([[1.0, 2.0]], torch.randn(1, 2), r"z1 must be a torch.Tensor"),
    ],
)
def test_bad_embeddings_raise(z1: object, z2: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        info_nce(z1, z2)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------------------------


def test_diagnostics_shapes_on_a_tiny_batch() -> None:
    z1, z2 = synthetic_pairs(3, 2, noise=0.5, seed=0)
    diag = info_nce_diagnostics(z1, z2, 0.2, anchor=4)
    assert diag.n == 3 and diag.tau == 0.2
    for name in ("similarity", "weights"):
        assert getattr(diag, name).shape == (6, 6)
    for name in (
        "positive_similarity",
        "positive_weight",
        "positive_rank",
        "hardest_negative_share",
        "anchor_weights",
    ):
        assert getattr(diag, name).shape == (6,)
    assert diag.positive_rank.dtype == torch.int64
    assert diag.reference_loss == pytest.approx(math.log(5))
    assert diag.anchor == 4 and diag.anchor_positive == 1


@pytest.mark.parametrize(("n", "d", "tau"), [c for c in REFERENCE_CASES if c[0] >= 2])
def test_diagnostics_match_loop_references(n: int, d: int, tau: float) -> None:
    z1, z2 = _pairs64(n, d, noise=0.7, seed=n + d)
    diag = info_nce_diagnostics(z1, z2, tau)
    s = _loop_cosines(z1, z2)
    w = _loop_weights(z1, z2, tau)
    n2 = 2 * n
    assert diag.loss == pytest.approx(info_nce(z1, z2, tau).item(), rel=1e-12, abs=1e-12)
    assert diag.loss == pytest.approx(_loop_info_nce(z1, z2, tau), rel=1e-9, abs=1e-9)
    assert torch.allclose(diag.similarity, torch.tensor(s, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(diag.weights, torch.tensor(w, dtype=torch.float64), atol=1e-12)
    for i in range(n2):
        p = (i + n) % n2
        negatives = [k for k in range(n2) if k not in (i, p)]
        assert diag.positive_similarity[i].item() == pytest.approx(s[i][p], abs=1e-12)
        assert diag.positive_weight[i].item() == pytest.approx(w[i][p], rel=1e-9, abs=1e-300)
        rank = sum(1 for k in range(n2) if k != i and s[i][k] > s[i][p])
        assert diag.positive_rank[i].item() == rank
        # share = exp(s_max / tau) / sum_neg exp(s_k / tau), shifted by s_max (the weights
        # themselves can underflow to 0 when the positive takes everything at tau = 1e-3).
        s_max = max(s[i][k] for k in negatives)
        share = 1.0 / sum(math.exp((s[i][k] - s_max) / tau) for k in negatives)
        assert diag.hardest_negative_share[i].item() == pytest.approx(share, rel=1e-9)
    top1 = sum(1 for i in range(n2) if diag.positive_rank[i] == 0) / n2
    assert diag.top1_accuracy == top1
    u1, u2 = _unit_rows(z1), _unit_rows(z2)
    alignment = (
        sum(
            sum((a - b) ** 2 for a, b in zip(x, y, strict=True))
            for x, y in zip(u1, u2, strict=True)
        )
        / n
    )
    assert diag.alignment == pytest.approx(alignment, rel=1e-9, abs=1e-12)
    uniformity = 0.5 * (_loop_uniformity_one_view(z1) + _loop_uniformity_one_view(z2))
    assert diag.uniformity == pytest.approx(uniformity, rel=1e-9, abs=1e-12)
    paper = 0.5 * (_wang_isola_lunif(z1) + _wang_isola_lunif(z2))
    assert diag.uniformity == pytest.approx(paper, rel=1e-9, abs=1e-12)


def test_diagnostics_weights_are_a_softmax_without_the_anchor() -> None:
    z1, z2 = synthetic_pairs(32, 16, noise=0.5, seed=2)
    diag = info_nce_diagnostics(z1, z2, 0.1)
    assert torch.allclose(diag.weights.sum(dim=1), torch.ones(64), atol=1e-5)
    assert torch.equal(diag.weights.diagonal(), torch.zeros(64))
    assert (diag.weights >= 0).all()
    # The loss is the mean of -log(positive weight).
    assert diag.loss == pytest.approx(-diag.positive_weight.log().mean().item(), rel=1e-5)


def test_diagnostics_for_identical_pairs() -> None:
    z1, _ = synthetic_pairs(64, 32, noise=0.0, seed=4)
    diag = info_nce_diagnostics(z1, z1.clone(), 0.1)
    assert torch.equal(diag.positive_rank, torch.zeros(128, dtype=torch.int64))
    assert diag.top1_accuracy == 1.0
    assert diag.alignment == 0.0
    assert torch.allclose(diag.positive_similarity, torch.ones(128), atol=1e-6)


def test_positive_rank_on_a_hand_built_batch() -> None:
    # Directions in the plane, rows [z1_0, z1_1, z2_0, z2_1] at [0, 90, 20, 170] degrees.
    # Anchor 0 (0): positive 2 at 20 degrees is nearest -> rank 0.
    # Anchor 1 (90): positive 3 is 80 degrees away, but row 2 is 70 away -> rank 1; row 0 is 90.
    # Anchor 2 (20): positive 0 at 20 degrees is nearest -> rank 0.
    # Anchor 3 (170): positive 1 is 80 degrees away; rows 2 and 0 are 150 and 170 away -> rank 0.
    def unit(deg: float) -> list[float]:
        return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]

    z1 = torch.tensor([unit(0), unit(90)])
    z2 = torch.tensor([unit(20), unit(170)])
    diag = info_nce_diagnostics(z1, z2, 0.1, anchor=1)
    assert diag.positive_rank.tolist() == [0, 1, 0, 0]
    assert diag.top1_accuracy == 0.75
    assert diag.anchor_positive == 3
    assert diag.anchor_hardest_negative == 2  # row 2 (20 degrees) beats row 0 (0 degrees)
    assert torch.equal(diag.anchor_weights, diag.weights[1])
    assert diag.anchor_weights.argmax().item() == 2


def test_lower_tau_concentrates_weight_on_the_hardest_negative() -> None:
    # The page's claim. For each anchor, the hardest negative's share of the negative weight is
    # exp(s_max / tau) / sum_k exp(s_k / tau), which can only grow as tau falls.
    z1, z2 = random_pairs(32, 16, seed=5)
    shares = [
        info_nce_diagnostics(z1, z2, tau).hardest_negative_share
        for tau in sorted(DEFAULT_TAUS, reverse=True)
    ]  # 0.5, 0.2, 0.1, 0.05
    for warm, cold in zip(shares, shares[1:], strict=False):
        assert (cold >= warm - 1e-6).all()
        assert cold.mean() > warm.mean() + 0.02
    # At 0.5 the weight is spread over the 62 negatives; at 0.05 the hardest one takes a large part.
    assert shares[0].mean() < 0.1 < 0.4 < shares[-1].mean()


def test_diagnostics_are_detached_and_json_ready() -> None:
    z1, z2 = synthetic_pairs(4, 3, noise=0.5, seed=0)
    z1.requires_grad_()
    diag = info_nce_diagnostics(z1, z2, 0.1, anchor=1)
    assert not diag.weights.requires_grad and not diag.similarity.requires_grad
    full = json.loads(json.dumps(diag.to_dict()))
    assert len(full["weights"]) == 8 and len(full["weights"][0]) == 8
    assert full["positive_rank"] == diag.positive_rank.tolist()
    assert full["loss"] == diag.loss and full["anchor"] == 1
    small = diag.to_dict(matrices=False)
    assert "weights" not in small and "similarity" not in small
    assert small["positive_weight"] == diag.positive_weight.tolist()


def test_diagnostics_errors() -> None:
    with pytest.raises(ValueError, match=r"needs N >= 2 pairs.*got N = 1"):
        info_nce_diagnostics(torch.randn(1, 3), torch.randn(1, 3))
    z1, z2 = synthetic_pairs(4, 3, noise=0.1, seed=0)
    for anchor in (8, -1, 1.0, True):
        with pytest.raises(ValueError, match=r"int row index in \[0, 2N\) = \[0, 8\)"):
            info_nce_diagnostics(z1, z2, anchor=anchor)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"same shape"):
        info_nce_diagnostics(z1, z2[:3])


# --------------------------------------------------------------------------------------------
# Toy embeddings and the sweep helper
# --------------------------------------------------------------------------------------------


def test_synthetic_pairs_construction() -> None:
    z1, z2 = synthetic_pairs(5, 7, noise=0.3, seed=11)
    assert z1.shape == z2.shape == (5, 7) and z1.dtype == torch.float32
    generator = torch.Generator().manual_seed(11)
    expected_z1 = torch.randn(5, 7, generator=generator)
    expected_eps = torch.randn(5, 7, generator=generator)
    assert torch.equal(z1, expected_z1)
    assert torch.allclose(z2, expected_z1 + 0.3 * expected_eps)
    # Same seed, same z1 at any noise; noise 0 copies it; noise inf is the independent draw.
    identical = synthetic_pairs(5, 7, noise=0.0, seed=11)
    assert torch.equal(identical[0], z1) and torch.equal(identical[1], z1)
    r1, r2 = random_pairs(5, 7, seed=11)
    assert torch.equal(r1, z1) and torch.equal(r2, expected_eps)
    # Reproducible, and seed-dependent.
    assert torch.equal(synthetic_pairs(5, 7, noise=0.3, seed=11)[1], z2)
    assert not torch.equal(synthetic_pairs(5, 7, noise=0.3, seed=12)[0], z1)


def test_synthetic_pairs_noise_sets_the_positive_cosine() -> None:
    for noise, expected in ((0.1, 0.995), (0.5, 0.894), (1.0, 0.707)):
        z1, z2 = synthetic_pairs(2000, 256, noise=noise, seed=0)
        cos = F.cosine_similarity(z1, z2, dim=1).mean().item()
        assert cos == pytest.approx(expected, abs=0.01)
    z1, z2 = random_pairs(2000, 256, seed=0)
    assert abs(F.cosine_similarity(z1, z2, dim=1).mean().item()) < 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0, "d": 3, "noise": 0.1, "seed": 0}, r"n \(number of pairs\) must be an int >= 1"),
        ({"n": 2, "d": 0, "noise": 0.1, "seed": 0}, r"d \(embedding dimension\) must be an int"),
        ({"n": 2, "d": 3, "noise": -1.0, "seed": 0}, r"noise must be >= 0"),
        ({"n": 2, "d": 3, "noise": math.nan, "seed": 0}, r"noise must be >= 0"),
    ],
)
def test_synthetic_pairs_errors(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        synthetic_pairs(**kwargs)  # type: ignore[arg-type]


def test_tau_sweep_matches_direct_calls() -> None:
    sweep = tau_sweep((0.1, 1.0), n=4, d=8, noise=0.2, seeds=(3, 9))
    for t, tau in enumerate((0.1, 1.0)):
        aligned = [info_nce(*synthetic_pairs(4, 8, noise=0.2, seed=s), tau).item() for s in (3, 9)]
        random = [info_nce(*random_pairs(4, 8, seed=s), tau).item() for s in (3, 9)]
        assert sweep.aligned[t] == pytest.approx(sum(aligned) / 2, rel=1e-6)
        assert sweep.random[t] == pytest.approx(sum(random) / 2, rel=1e-6)
        sem = abs(random[0] - random[1]) / 2  # std of two values / sqrt(2)
        assert sweep.random_sem[t] == pytest.approx(sem, rel=1e-5)
    assert sweep.seeds == (3, 9) and sweep.n == 4 and sweep.d == 8
    assert json.loads(json.dumps(sweep.to_dict()))["aligned"] == list(sweep.aligned)
    single = tau_sweep((0.1,), n=4, d=8, noise=math.inf, seeds=(0,))
    assert single.aligned_sem == (0.0,) and single.to_dict()["noise"] == "inf"


def test_tau_sweep_equals_info_nce_exactly_at_every_tau() -> None:
    """The sweep computes each batch's similarities once for all temperatures: same numbers."""
    taus = (0.05, 0.5, 5.0)
    sweep = tau_sweep(taus, n=64, d=16, noise=0.3, seeds=(1,))
    for t, tau in enumerate(taus):
        assert sweep.aligned[t] == info_nce(*synthetic_pairs(64, 16, noise=0.3, seed=1),
                                            tau).item()
        assert sweep.random[t] == info_nce(*random_pairs(64, 16, seed=1), tau).item()


def test_tau_sweep_errors() -> None:
    with pytest.raises(ValueError, match=r"taus must list at least one"):
        tau_sweep((), seeds=(0,))
    with pytest.raises(ValueError, match=r"seeds must list at least one"):
        tau_sweep(seeds=())
    with pytest.raises(ValueError, match=r"tau must be a finite temperature > 0"):
        tau_sweep((0.1, 0.0), seeds=(0,))
