"""InfoNCE (NT-Xent), the contrastive loss of SimCLR, with the diagnostics the InfoNCE page plots.

Given two views of the same N images embedded as ``z1, z2: (N, D)``, every one of the 2N
embeddings is an *anchor*; its *positive* is the other view of the same image and its 2N - 2
*negatives* are the views of the other images. With cosine similarities ``s`` and temperature
``tau`` the loss of anchor ``i`` with positive ``p(i)`` is

    l_i = -log( exp(s_ip / tau) / sum_{k != i} exp(s_ik / tau) )

and ``info_nce`` returns the mean of ``l_i`` over the 2N anchors (Chen et al. 2020, SimCLR, eq. 1).
The anchor itself is excluded from the denominator; the positive is included.

Why random pairs do not give log(2N - 1) at ordinary temperatures. If the positive is no more
similar than the negatives, each row of the softmax is close to uniform over its 2N - 1
candidates and the loss is close to log(2N - 1) (3.43 for N = 16). That is only the *limit* of
large tau or large D. The cosine of two independent random directions in D dimensions has mean 0
but spread 1/sqrt(D), and dividing by tau stretches that spread to 1/(tau sqrt(D)). The
log-sum-exp in the denominator is dominated by the few candidates that happen to be most similar,
so it grows with the spread while the positive's term stays at 0 on average. Two applications of
Jensen's inequality (and the fact that a coordinate of a random unit vector is sub-Gaussian with
variance proxy 1/D) bound the expected loss exactly:

    log(2N - 1)  <=  E[loss of random pairs]  <=  log(2N - 1) + 1 / (2 D tau^2).

At the lesson's settings (N = 16, D = 32, tau = 0.1) the bounds are 3.43 and 5.00, and the
measured mean is 4.81 (std 0.44 over batches, so a 200-batch mean lands within about +-0.06 of
it): a full nat above log(31). At N = 16, D = 4096, tau = 10 the upper bound is 3.43 + 1e-6 and
the loss is log(31) to three decimals. So log(2N - 1) is the chance level of a *uniform* softmax,
not the loss a freshly initialised network should show; a cold temperature makes random
embeddings look worse than chance.

Contents: ``info_nce`` (the loss), ``info_nce_diagnostics`` (cosine matrix, softmax weights,
positive rank, top-1 retrieval, alignment and uniformity), ``synthetic_pairs`` / ``random_pairs``
(toy embeddings for the sanity experiments) and ``tau_sweep`` (loss against temperature for
aligned and random embeddings). Run ``python3 scripts/sanity_values.py`` to print the sanity
values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LESSON_TAUS",
    "MIN_TAU",
    "InfoNCEDiagnostics",
    "TauSweep",
    "info_nce",
    "info_nce_diagnostics",
    "random_pair_bounds",
    "random_pairs",
    "synthetic_pairs",
    "tau_sweep",
]

LESSON_TAUS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5)
"""The four temperatures the lesson compares (SimCLR used 0.1 to 0.5; 0.07 is also common)."""

# Wang & Isola (2020), "Understanding Contrastive Representation Learning through Alignment and
# Uniformity on the Hypersphere": their defaults, alpha = 2 and t = 2.
_ALIGN_ALPHA = 2.0
_UNIFORM_T = 2.0

# Smallest accepted temperature. Below about 1e-38 the float32 logits s / tau overflow and the loss
# is NaN; 1e-6 keeps loss and gradients finite with room to spare (the sliders stop at 1e-3).
MIN_TAU = 1e-6


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _check_tau(tau: float) -> float:
    """Return ``tau`` as a float, or raise ValueError unless it is a finite number >= MIN_TAU."""
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
        raise ValueError(
            f"tau must be a positive float (typical values 0.05 to 0.5); got {tau!r} of type "
            f"{type(tau).__name__}"
        )
    tau = float(tau)
    if not math.isfinite(tau) or tau <= 0.0:
        raise ValueError(
            f"tau must be a finite temperature > 0 (it divides the similarities; typical values "
            f"0.05 to 0.5); got {tau}"
        )
    if tau < MIN_TAU:
        raise ValueError(
            f"tau={tau:g} is too small: the logits s / tau would overflow and the loss become "
            f"NaN; use tau >= {MIN_TAU:g} (typical values 0.05 to 0.5)"
        )
    return tau


def _check_pair(z1: Tensor, z2: Tensor) -> None:
    """Raise ValueError unless z1 and z2 are matching, non-empty (N, D) floating-point batches."""
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, Tensor):
            raise ValueError(
                f"{name} must be a torch.Tensor of shape (N, D); got {type(z).__name__}"
            )
        if z.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (N, D): one embedding per row; got shape {tuple(z.shape)}. "
                "Flatten or pool the features to (N, D) first"
            )
        if not z.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor; got dtype {z.dtype}")
    if z1.shape != z2.shape:
        raise ValueError(
            "z1 and z2 must have the same shape (row i of z2 is the second view of the image in "
            f"row i of z1); got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    n, d = z1.shape
    if n == 0:
        raise ValueError(f"need at least one pair, N >= 1; got an empty batch of shape {(n, d)}")
    if d == 0:
        raise ValueError(f"embedding dimension D must be >= 1; got shape {(n, d)}")


# --------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------


def _similarity_and_targets(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
    """Cosine similarity matrix of the 2N embeddings and each row's positive index.

    Returns ``sim: (2N, 2N)`` (rows and columns ordered z1 then z2) and ``targets: (2N,)`` with
    ``targets[i] = (i + N) % 2N``, the other view of the same image.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2N, D), unit rows
    sim = z @ z.T  # (2N, 2N) cosine similarities
    targets = (torch.arange(2 * n, device=z.device) + n) % (2 * n)  # (2N,)
    return sim, targets


def _exclude_self(logits: Tensor) -> Tensor:
    """Set the diagonal of ``logits: (2N, 2N)`` (each anchor against itself) to -inf, in place.

    No row is all -inf: every row keeps at least its positive, so the softmax, the cross-entropy
    and their gradients stay finite even for N = 1.
    """
    return logits.fill_diagonal_(float("-inf"))


def info_nce(z1: Tensor, z2: Tensor, tau: float = 0.1) -> Tensor:
    """InfoNCE / NT-Xent loss of two views, the mean over all 2N anchors.

    Args:
        z1: ``(N, D)`` embeddings of the first view. Any scale: rows are L2-normalised here.
        z2: ``(N, D)`` embeddings of the second view; row i is the same image as row i of z1.
        tau: temperature > 0. Lower values sharpen the softmax onto the hardest negatives
            (SimCLR used 0.1 to 0.5). Loss and gradients are finite for tau in [1e-3, 10].

    Returns:
        A scalar tensor: cross-entropy of each row of ``cat([z1, z2]) @ cat([z1, z2]).T / tau``
        (self-similarity excluded) against the other view of the same image, averaged over the
        2N rows. With N = 1 each anchor's only candidate is its positive, so the loss is exactly
        0 (and its gradient is 0): one pair carries no contrastive signal.

    Raises:
        ValueError: if tau is not a finite number >= ``MIN_TAU`` (1e-6), or z1/z2 are not
            matching non-empty 2-D floating-point tensors.
    """
    tau = _check_tau(tau)
    _check_pair(z1, z2)
    sim, targets = _similarity_and_targets(z1, z2)  # (2N, 2N), (2N,)
    # In place, so only one (2N, 2N) matrix is alive before the softmax (256 MiB at N = 4096).
    # Autograd allows it: the matmul's backward needs z, not its output.
    logits = _exclude_self(sim.div_(tau))  # (2N, 2N)
    return F.cross_entropy(logits, targets)


# --------------------------------------------------------------------------------------------
# Diagnostics for the temperature page
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InfoNCEDiagnostics:
    """What one InfoNCE batch looks like from the inside. Tensors are detached, on the input device.

    Rows and columns are ordered ``[z1_0 .. z1_{N-1}, z2_0 .. z2_{N-1}]``; anchor i's positive is
    ``(i + N) % 2N``.
    """

    n: int  # number of pairs N
    tau: float
    loss: float  # equal to info_nce(z1, z2, tau)
    reference_loss: float  # log(2N - 1): the loss of a uniform softmax (see the module docstring)
    similarity: Tensor  # (2N, 2N) cosine similarities, diagonal included (= 1)
    weights: Tensor  # (2N, 2N) softmax over each anchor's 2N - 1 candidates; diagonal exactly 0
    positive_similarity: Tensor  # (2N,) cosine between each anchor and its positive
    positive_weight: Tensor  # (2N,) softmax weight on the positive; loss = mean(-log of this)
    positive_rank: Tensor  # (2N,) int64: candidates strictly more similar than the positive
    hardest_negative_share: Tensor  # (2N,) largest negative weight / total negative weight
    top1_accuracy: float  # fraction of anchors with positive_rank == 0
    alignment: float  # E ||f(x) - f(y)||^2 over the N positive pairs (0 when z1 == z2)
    uniformity: float  # mean over the two views of log E exp(-2 ||f(x) - f(y)||^2), x != y
    anchor: int | None = None  # the anchor the page highlights, if one was asked for
    anchor_weights: Tensor | None = None  # (2N,) weights[anchor]
    anchor_positive: int | None = None  # column of the anchor's positive
    anchor_hardest_negative: int | None = None  # column of the anchor's most similar negative

    def to_dict(self, *, matrices: bool = True) -> dict[str, Any]:
        """Plain Python values for JSON: tensors become (nested) lists of numbers.

        ``matrices=False`` drops the two (2N, 2N) matrices, which dominate the size (2 x 1M
        numbers at N = 512).
        """
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if matrices is False and name in ("similarity", "weights"):
                continue
            out[name] = value.tolist() if isinstance(value, Tensor) else value
        return out


def info_nce_diagnostics(
    z1: Tensor, z2: Tensor, tau: float = 0.1, *, anchor: int | None = None
) -> InfoNCEDiagnostics:
    """Everything the temperature page plots about one batch, computed without gradients.

    Args:
        z1, z2: ``(N, D)`` embeddings of the two views (normalised here), N >= 2.
        tau: temperature > 0, as in ``info_nce``.
        anchor: optional row in ``[0, 2N)`` to highlight; fills the ``anchor_*`` fields.

    Returns:
        ``InfoNCEDiagnostics`` (see its field comments for shapes). Definitions:

        - ``positive_rank[i]``: number of candidates k (k != i) with ``s_ik > s_ip`` (ties count in
          the positive's favour); 0 means the positive is the best match.
        - ``hardest_negative_share[i]``: ``max_k w_ik / sum_k w_ik`` over the 2N - 2 negatives k.
          It can only grow as tau falls: lower temperature concentrates weight on the hardest
          negative.
        - ``alignment`` and ``uniformity`` follow Wang & Isola (2020)'s reference code exactly:
          ``align = (x - y).norm(dim=1).pow(2).mean()`` over the N positive pairs and
          ``uniform = (lunif(z1) + lunif(z2)) / 2`` with
          ``lunif(x) = torch.pdist(x).pow(2).mul(-2).exp().mean().log()``, i.e. each view's
          N(N - 1)/2 distinct within-view pairs, averaged over the two views. Pairs across views
          are not used. Both on L2-normalised embeddings; squared distances come from the cosine
          matrix as ``2 - 2 s``.

    Raises:
        ValueError: as ``info_nce``; also for N < 2 (no negatives, so the negative share and the
            uniformity are undefined; ``info_nce`` gives the N = 1 loss, exactly 0) and for an
            anchor outside ``[0, 2N)``.
    """
    tau = _check_tau(tau)
    _check_pair(z1, z2)
    n = z1.shape[0]
    if n < 2:
        raise ValueError(
            "info_nce_diagnostics needs N >= 2 pairs so that each anchor has negatives (the "
            f"negative share and the uniformity are undefined otherwise); got N = {n}. Use "
            "info_nce for the N = 1 loss, which is exactly 0"
        )
    if anchor is not None and (
        isinstance(anchor, bool) or not isinstance(anchor, int) or not 0 <= anchor < 2 * n
    ):
        raise ValueError(
            f"anchor must be an int row index in [0, 2N) = [0, {2 * n}); got {anchor!r}"
        )

    with torch.no_grad():
        z1, z2 = z1.detach(), z2.detach()
        sim, targets = _similarity_and_targets(z1, z2)  # (2N, 2N), (2N,)
        rows = torch.arange(2 * n, device=sim.device)
        logits = _exclude_self(sim / tau)  # (2N, 2N), a copy: `sim` is returned
        log_weights = logits.log_softmax(dim=1)  # (2N, 2N), what F.cross_entropy computes
        weights = log_weights.exp()  # (2N, 2N), diagonal exactly 0
        loss = -log_weights[rows, targets].mean().item()  # == F.cross_entropy(logits, targets)
        positive_similarity = sim[rows, targets]  # (2N,)
        positive_weight = weights[rows, targets]  # (2N,)
        # Count every column that beats the positive, then take back the anchor's own column
        # where it was counted (it is not a candidate).
        beats_positive = (sim > positive_similarity[:, None]).sum(dim=1)  # (2N,)
        positive_rank = beats_positive - (sim.diagonal() > positive_similarity).long()  # (2N,)

        # Negatives only: drop the positive too (in place; `logits` is not used again). The share
        # is taken in log space, exp(max - logsumexp), so it stays accurate when the positive
        # holds nearly all the weight (cold tau, aligned pairs), where 1 - positive_weight would
        # cancel to 0.
        logits[rows, targets] = float("-inf")  # (2N, 2N): the 2N - 2 negatives remain
        hardest_negative = logits.max(dim=1)  # values, indices: (2N,) each
        hardest_negative_share = (hardest_negative.values - logits.logsumexp(dim=1)).exp()

        z1n, z2n = F.normalize(z1, dim=1), F.normalize(z2, dim=1)  # (N, D) each
        alignment = (z1n - z2n).norm(dim=1).pow(_ALIGN_ALPHA).mean().item()
        uniformity = 0.5 * (
            _log_mean_gaussian_potential(sim[:n, :n]) + _log_mean_gaussian_potential(sim[n:, n:])
        )

        anchor_fields: dict[str, Any] = {}
        if anchor is not None:
            anchor_fields = {
                "anchor": anchor,
                "anchor_weights": weights[anchor],
                "anchor_positive": int(targets[anchor]),
                "anchor_hardest_negative": int(hardest_negative.indices[anchor]),
            }

    return InfoNCEDiagnostics(
        n=n,
        tau=tau,
        loss=loss,
        reference_loss=math.log(2 * n - 1),
        similarity=sim,
        weights=weights,
        positive_similarity=positive_similarity,
        positive_weight=positive_weight,
        positive_rank=positive_rank,
        hardest_negative_share=hardest_negative_share,
        top1_accuracy=(positive_rank == 0).double().mean().item(),
        alignment=alignment,
        uniformity=uniformity,
        **anchor_fields,
    )


def _log_mean_gaussian_potential(block: Tensor) -> float:
    """``log mean_{a < b} exp(-t ||x_a - x_b||^2)`` from one view's (N, N) cosine block.

    For unit vectors ``||x_a - x_b||^2 = 2 - 2 s_ab``. The block is symmetric, so the mean over
    the N(N - 1) off-diagonal entries equals the mean over the N(N - 1)/2 pairs ``a < b`` that
    ``torch.pdist`` lists.
    """
    m = block.shape[0]
    # exp(-t (2 - 2 s)) = exp(2 t s - 2 t): (N, N), built in place on one temporary.
    potential = (block * (2.0 * _UNIFORM_T)).sub_(2.0 * _UNIFORM_T).exp_()
    off_diagonal_sum = potential.sum() - potential.diagonal().sum()
    return math.log(off_diagonal_sum.item() / (m * (m - 1)))


# --------------------------------------------------------------------------------------------
# Toy embeddings and the temperature sweep
# --------------------------------------------------------------------------------------------


def synthetic_pairs(n: int, d: int, *, noise: float, seed: int) -> tuple[Tensor, Tensor]:
    """Toy two-view embeddings for the sanity experiments: ``z2 = z1 + noise * gaussian``.

    ``z1`` has i.i.d. standard normal entries, so its rows point in uniformly random directions.
    Both parts have norm about sqrt(D), so ``noise`` is the noise-to-signal ratio whatever D is:
    the positive cosine is about ``1 / sqrt(1 + noise^2)`` (0.995 at 0.1, 0.89 at 0.5, 0.71 at
    1). ``noise = 0`` gives identical views; ``noise = math.inf`` gives *random pairs*: ``z2`` is
    independent of ``z1`` (the noise draw itself). The same seed gives the same ``z1`` at every
    noise level. Unnormalised, float32, on the CPU.

    Returns:
        ``(z1, z2)``, each ``(n, d)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (number of pairs) must be an int >= 1; got {n!r}")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d (embedding dimension) must be an int >= 1; got {d!r}")
    if not isinstance(noise, numbers.Real) or math.isnan(noise) or noise < 0:
        raise ValueError(
            f"noise must be >= 0 (0: identical views; math.inf: independent pairs); got {noise!r}"
        )
    generator = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=generator)  # (n, d)
    eps = torch.randn(n, d, generator=generator)  # (n, d)
    z2 = eps if math.isinf(noise) else z1 + noise * eps  # (n, d)
    return z1, z2


def random_pairs(n: int, d: int, *, seed: int) -> tuple[Tensor, Tensor]:
    """Independent random 'views' (no shared content): ``synthetic_pairs(noise=math.inf)``."""
    return synthetic_pairs(n, d, noise=math.inf, seed=seed)


@dataclass(frozen=True)
class TauSweep:
    """InfoNCE loss against temperature, aligned vs random embeddings, averaged over seeds."""

    taus: tuple[float, ...]
    aligned: tuple[float, ...]  # mean loss over seeds at each tau, synthetic_pairs(noise=noise)
    random: tuple[float, ...]  # same for random_pairs (independent views)
    aligned_sem: tuple[float, ...]  # standard error of each mean (0 with a single seed)
    random_sem: tuple[float, ...]
    reference_loss: float  # log(2N - 1)
    n: int
    d: int
    noise: float
    seeds: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values for JSON (a noise of math.inf is written as the string 'inf')."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        if math.isinf(self.noise):
            out["noise"] = "inf"
        return out


def tau_sweep(
    taus: Sequence[float] = LESSON_TAUS,
    *,
    n: int = 16,
    d: int = 32,
    noise: float = 0.5,
    seeds: Sequence[int] = range(20),
) -> TauSweep:
    """InfoNCE loss at each temperature for aligned and for random toy embeddings.

    For each seed, ``synthetic_pairs(n, d, noise=noise, seed=seed)`` (aligned) and
    ``random_pairs(n, d, seed=seed)`` (random) are scored with ``info_nce`` at every tau; the
    result holds the mean and its standard error over seeds. The defaults are the lesson's batch
    (N = 16, D = 32) with noise 0.5 (positive cosine about 0.89): the aligned loss falls as tau
    falls, the random loss rises, and neither sits at log(2N - 1) except at warm tau.
    """
    taus = tuple(_check_tau(t) for t in taus)
    if not taus:
        raise ValueError("taus must list at least one temperature, e.g. LESSON_TAUS")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds must list at least one seed, e.g. range(20)")
    aligned = torch.empty(len(seeds), len(taus), dtype=torch.float64)  # (S, T)
    random = torch.empty(len(seeds), len(taus), dtype=torch.float64)  # (S, T)
    with torch.no_grad():
        for s, seed in enumerate(seeds):
            for losses, pair in ((aligned, synthetic_pairs(n, d, noise=noise, seed=seed)),
                                 (random, random_pairs(n, d, seed=seed))):
                _check_pair(*pair)
                # info_nce at every tau, with the (2N, 2N) similarities computed once (the
                # matmul is most of the cost: 4x faster at N = 1024, D = 512)
                sim, targets = _similarity_and_targets(*pair)
                for t, tau in enumerate(taus):
                    losses[s, t] = F.cross_entropy(_exclude_self(sim / tau), targets).item()

    def mean_and_sem(losses: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
        mean = losses.mean(dim=0)  # (T,)
        if losses.shape[0] < 2:
            return tuple(mean.tolist()), (0.0,) * losses.shape[1]
        sem = losses.std(dim=0) / math.sqrt(losses.shape[0])  # (T,)
        return tuple(mean.tolist()), tuple(sem.tolist())

    aligned_mean, aligned_sem = mean_and_sem(aligned)
    random_mean, random_sem = mean_and_sem(random)
    return TauSweep(
        taus=taus,
        aligned=aligned_mean,
        random=random_mean,
        aligned_sem=aligned_sem,
        random_sem=random_sem,
        reference_loss=math.log(2 * n - 1),
        n=n,
        d=d,
        noise=float(noise),
        seeds=seeds,
    )


def random_pair_bounds(n: int, d: int, tau: float) -> tuple[float, float]:
    """Bounds on the expected InfoNCE loss of random pairs (see the module docstring).

    ``log(2N - 1) <= E[loss] <= log(2N - 1) + 1 / (2 D tau^2)``: the lower bound is the uniform
    softmax the lesson quotes; the gap closes only for large D or large tau.
    """
    if n < 1 or d < 1 or not tau > 0:
        raise ValueError(f"need n >= 1, d >= 1 and tau > 0; got n={n}, d={d}, tau={tau}")
    chance = math.log(2 * n - 1)
    return chance, chance + 1.0 / (2.0 * d * tau**2)


# --------------------------------------------------------------------------------------------
# Sanity values: python3 scripts/sanity_values.py
# --------------------------------------------------------------------------------------------


def main() -> None:
    """Print the lesson's sanity values and the diagnostics timing."""
    import time

    z1, _ = synthetic_pairs(256, 128, noise=0.0, seed=0)
    print(f"identical pairs (N=256, D=128, tau=0.05): loss = {info_nce(z1, z1, 0.05).item():.3e}")

    for n, d, tau, n_seeds in ((16, 32, 0.1, 200), (16, 4096, 10.0, 20)):
        losses = torch.tensor(
            [info_nce(*random_pairs(n, d, seed=s), tau).item() for s in range(n_seeds)],
            dtype=torch.float64,
        )
        print(
            f"random pairs (N={n}, D={d}, tau={tau}), {n_seeds} seeds: mean {losses.mean():.4f} "
            f"+- {losses.std() / math.sqrt(n_seeds):.4f} (sem), std {losses.std():.4f}; "
            f"log(2N-1) = {math.log(2 * n - 1):.4f}, "
            f"upper bound {math.log(2 * n - 1) + 1 / (2 * d * tau**2):.4f}"
        )

    sweep = tau_sweep()
    print(
        f"tau sweep (N={sweep.n}, D={sweep.d}, noise={sweep.noise}, seeds 0..{sweep.seeds[-1]}), "
        f"log(2N-1) = {sweep.reference_loss:.3f}"
    )
    for tau, a, r in zip(sweep.taus, sweep.aligned, sweep.random, strict=True):
        print(f"  tau={tau:<5} aligned {a:.4f}  random {r:.4f}")

    za, zb = synthetic_pairs(512, 128, noise=0.5, seed=0)
    info_nce_diagnostics(za, zb, 0.1, anchor=0)  # warm-up
    times_ms = []
    for _ in range(30):
        start = time.perf_counter()
        diag = info_nce_diagnostics(za, zb, 0.1, anchor=0)
        times_ms.append((time.perf_counter() - start) * 1e3)
    times_ms.sort()
    print(
        f"diagnostics N=512, D=128 ({torch.get_num_threads()} threads), 30 calls: median "
        f"{times_ms[15]:.1f} ms, best {times_ms[0]:.1f} ms (other load on the machine shows up "
        f"in the median); loss {diag.loss:.3f}, top-1 {diag.top1_accuracy:.3f}, "
        f"align {diag.alignment:.3f}, uniform {diag.uniformity:.3f}"
    )


if __name__ == "__main__":  # python3 scripts/sanity_values.py avoids runpy's warning
    main()
