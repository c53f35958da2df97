"""InfoNCE on toy embeddings: two-view pairs with a known alignment (:func:`synthetic_pairs`,
:func:`random_pairs`), the loss against temperature for aligned and random pairs
(:func:`tau_sweep`), and the bounds on the loss of random pairs (:func:`random_pair_bounds`;
derived in :mod:`ssl_core.losses.infonce`).
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

from ssl_core.losses.infonce import (
    check_pair,
    check_tau,
    exclude_self,
    similarity_and_targets,
    uniform_softmax_loss,
)

__all__ = [
    "DEFAULT_TAUS",
    "TauSweep",
    "random_pair_bounds",
    "random_pairs",
    "synthetic_pairs",
    "tau_sweep",
]

DEFAULT_TAUS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5)
"""Four temperatures commonly compared (SimCLR used 0.1 to 0.5; 0.07 is also common)."""


def synthetic_pairs(n: int, d: int, *, noise: float, seed: int) -> tuple[Tensor, Tensor]:
    """Toy two-view embeddings: ``z2 = z1 + noise * gaussian``.

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
    taus: Sequence[float] = DEFAULT_TAUS,
    *,
    n: int = 16,
    d: int = 32,
    noise: float = 0.5,
    seeds: Sequence[int] = range(20),
) -> TauSweep:
    """InfoNCE loss at each temperature for aligned and for random toy embeddings.

    For each seed, ``synthetic_pairs(n, d, noise=noise, seed=seed)`` (aligned) and
    ``random_pairs(n, d, seed=seed)`` (random) are scored with ``info_nce`` at every tau; the
    result holds the mean and its standard error over seeds. The defaults are a small batch
    (N = 16, D = 32) with noise 0.5 (positive cosine about 0.89): the aligned loss falls as tau
    falls, the random loss rises, and neither sits at log(2N - 1) except at warm tau.
    """
    taus = tuple(check_tau(t) for t in taus)
    if not taus:
        raise ValueError("taus must list at least one temperature, e.g. DEFAULT_TAUS")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds must list at least one seed, e.g. range(20)")
    aligned = torch.empty(len(seeds), len(taus), dtype=torch.float64)  # (S, T)
    random = torch.empty(len(seeds), len(taus), dtype=torch.float64)  # (S, T)
    with torch.no_grad():
        for s, seed in enumerate(seeds):
            for losses, pair in ((aligned, synthetic_pairs(n, d, noise=noise, seed=seed)),
                                 (random, random_pairs(n, d, seed=seed))):
                check_pair(*pair)
                # info_nce at every tau, with the (2N, 2N) similarities computed once (the
                # matmul is most of the cost)
                sim, targets = similarity_and_targets(*pair)
                for t, tau in enumerate(taus):
                    losses[s, t] = F.cross_entropy(exclude_self(sim / tau), targets).item()

    def mean_and_sem(losses: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
        mean = losses.mean(dim=0)  # (T,)
        if losses.shape[0] < 2:
            return tuple(mean.tolist()), (0.0,) * losses.shape[1]
        sem = losses.std(dim=0) / math.sqrt(losses.shape[0])  # (T,)
        return tuple(mean.tolist()), tuple(sem.tolist())

    aligned_mean, aligned_sem = mean_and_sem(aligned)
    random_mean, random_sem = mean_and_sem(random)
    return TauSweep(taus=taus, aligned=aligned_mean, random=random_mean, aligned_sem=aligned_sem,
                    random_sem=random_sem, reference_loss=uniform_softmax_loss(n), n=n, d=d,
                    noise=float(noise), seeds=seeds)


def random_pair_bounds(n: int, d: int, tau: float) -> tuple[float, float]:
    """Bounds on the expected InfoNCE loss of random pairs (see :mod:`ssl_core.losses.infonce`).

    ``log(2N - 1) <= E[loss] <= log(2N - 1) + 1 / (2 D tau^2)``: the lower bound is the uniform
    softmax, the "chance level" usually quoted; the gap closes only for large D or large tau.
    """
    if n < 1 or d < 1 or not tau > 0:
        raise ValueError(f"need n >= 1, d >= 1 and tau > 0; got n={n}, d={d}, tau={tau}")
    chance = uniform_softmax_loss(n)
    return chance, chance + 1.0 / (2.0 * d * tau**2)
