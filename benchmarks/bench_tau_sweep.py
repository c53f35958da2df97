"""The InfoNCE page's temperature sweep: one similarity matrix per batch against one per τ.

    python3 benchmarks/bench_tau_sweep.py [--repeats 3]

``tau_sweep`` computes each batch's (2N, 2N) similarities once and reuses them at every
temperature; the way it did before called ``info_nce`` once per temperature (a matmul each).
Prints, for the page's sweep (``sweep_temperatures()``, ``sweep_seed_count(n)`` seeds) at a few
(N, D), the best of ``--repeats`` wall times of both and the largest difference of their losses.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from lesson.figures.infonce import sweep_seed_count, sweep_temperatures
from ssl_core.losses.infonce import info_nce
from ssl_core.losses.infonce_sweep import random_pairs, synthetic_pairs, tau_sweep

CASES = ((16, 32), (128, 128), (400, 50), (512, 128), (700, 400), (1024, 512))


def per_tau(taus: tuple[float, ...], n: int, d: int, seeds: range) -> list[float]:
    """Mean aligned loss at each tau, one ``info_nce`` call per (seed, tau) (the old way)."""
    out = []
    with torch.no_grad():
        for tau in taus:
            losses = []
            for seed in seeds:
                losses.append(info_nce(*synthetic_pairs(n, d, noise=0.5, seed=seed), tau).item())
                info_nce(*random_pairs(n, d, seed=seed), tau).item()
            out.append(sum(losses) / len(losses))
    return out


def best_of(repeats: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the app
    taus = tuple(sweep_temperatures())
    print(f"{len(taus)} temperatures; torch {torch.__version__}, 1 thread; best of "
          f"{args.repeats}")
    print(f"{'N':>5} {'D':>4} {'seeds':>5} {'per tau ms':>11} {'tau_sweep ms':>13} "
          f"{'speed-up':>9} {'max |diff|':>11}")
    for n, d in CASES:
        seeds = range(sweep_seed_count(n))
        old_s, old = best_of(args.repeats, lambda n=n, d=d, seeds=seeds: per_tau(taus, n, d, seeds))
        new_s, new = best_of(args.repeats, lambda n=n, d=d, seeds=seeds: tau_sweep(
            taus, n=n, d=d, noise=0.5, seeds=seeds))
        diff = max(abs(a - b) for a, b in zip(old, new.aligned, strict=True))
        print(f"{n:>5} {d:>4} {len(seeds):>5} {old_s * 1e3:>11.1f} {new_s * 1e3:>13.1f} "
              f"{old_s / new_s:>8.1f}x {diff:>11.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
