"""Print InfoNCE's sanity values (identical and random pairs, the tau sweep) and the time one
call of the diagnostics takes, from code.

    python3 scripts/sanity_values.py
"""

import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ssl_core.losses.infonce import info_nce, info_nce_diagnostics  # noqa: E402
from ssl_core.losses.infonce_sweep import random_pairs, synthetic_pairs, tau_sweep  # noqa: E402


def main() -> None:
    """Print the sanity values and the diagnostics timing."""
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


if __name__ == "__main__":
    main()
