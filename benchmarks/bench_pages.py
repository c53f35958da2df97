"""Rerun latency of the app's pages: move one slider, rerun, time it (AppTest, no browser).

    python3 benchmarks/bench_pages.py [--reruns 30] [--threads N] [--only TEXT]

Each case opens a page through the real router (app/main.py), warms it up (first-run caches such
as the temperature sweep are filled and not counted), then sets a slider to a value it has not
had before (so the page's caches miss, as when a user drags it) and times ``AppTest.run()``: the
whole script (router, sidebar, page, figure serialisation) as the server runs it, without the
network and the browser's drawing. Timing starts once the app's projection worker has compiled
UMAP (it shares the CPU for ~15 s after the first page). Prints wall p50 / p95 / max and
process-CPU p50 / p95 per case, the torch thread count and the load average (other processes
on the machine inflate the wall times, hardly the CPU times). The "infonce real" cases need
the bundled SimCLR checkpoint (assets/checkpoints/simclr/); they are skipped without it.

    python3 benchmarks/bench_pages.py --only infonce   # the InfoNCE cases only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MAIN = ROOT / "app" / "main.py"
Change = Callable[[Any, int], None]  # sets a widget before rerun i


def open_page(page: str, query: dict[str, str]):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(MAIN), default_timeout=300)
    at.query_params.update(query)
    at.run()
    at.switch_page(f"../pages/{page}.py").run()
    if at.exception:
        raise RuntimeError(f"{page} raised: {[e.value for e in at.exception]}")
    return at


def wait_for_warm_up() -> None:
    """Wait until the app's projection worker (started with the first page) has compiled UMAP: its
    numba compile takes a core for ~15 s, which the first timed case would otherwise share.
    Steady-state reruns are what this script measures; the cold start is benchmarks/run_all's."""
    from app.encoders import wait_for_umap

    start = time.perf_counter()
    wait_for_umap(timeout=300)
    print(f"waited {time.perf_counter() - start:.1f} s for the app's UMAP warm-up", flush=True)


def time_reruns(at, change: Change,
                reruns: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each rerun after ``change(at, i)`` set a widget (i = 0 is a
    warm-up). CPU time is the whole process's (all threads): what the rerun cost, nearly
    independent of other load on the machine, which inflates the wall time."""
    times, cpu = [], []
    for i in range(reruns + 1):
        change(at, i)
        start, start_cpu = time.perf_counter(), time.process_time()
        at.run()
        elapsed = (time.perf_counter() - start) * 1e3
        elapsed_cpu = (time.process_time() - start_cpu) * 1e3
        if at.exception:
            raise RuntimeError(f"rerun {i} raised: {[e.value for e in at.exception]}")
        if i:
            times.append(elapsed)
            cpu.append(elapsed_cpu)
    return times, cpu


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def slider_sweep(key: str, start: float, step: float, count: int) -> Change:
    """Rerun i sets slider ``key`` to ``start + step * (i % count)`` (rounded to 2 decimals)."""
    return lambda at, i: at.slider(key=key).set_value(round(start + step * (i % count), 2))


TAU = slider_sweep("nce_tau", 0.05, 0.01, 150)
MAE_RATIO = slider_sweep("mae_ratio", 0.05, 0.05, 19)


def anchor_walk(at: Any, i: int) -> None:
    at.slider(key="nce_anchor").set_value((37 * i) % 1024)


SYNTHETIC_512 = {"nce_n": "512", "nce_d": "128"}
REAL_512 = {"nce_mode": "real", "nce_rn": "512"}
CASES: dict[str, tuple[str, dict[str, str], Change]] = {
    "infonce τ slider (N=512, D=128)": ("infonce", SYNTHETIC_512, TAU),
    "infonce anchor slider (N=512, D=128)": ("infonce", SYNTHETIC_512, anchor_walk),
    "infonce real τ slider (N=512, z)": ("infonce", REAL_512, TAU),
    "infonce real anchor slider (N=512, z)": ("infonce", REAL_512, anchor_walk),
    "augmentations brightness slider": (
        "augmentations", {}, slider_sweep("aug_brightness", 0.0, 0.05, 20)),
    "mae ratio slider (photo, bundled mae_rgb)": ("mae", {}, MAE_RATIO),
    "mae ratio slider (Fashion-MNIST, bundled mae)": ("mae", {"mae_source": "fashion"}, MAE_RATIO),
    "dino_collapse teacher temperature (no run)": (
        "dino_collapse", {}, slider_sweep("dino_teacher_temp", 0.02, 0.01, 9)),
    "augmentations re-roll (new seed)": (
        "augmentations", {}, lambda at, i: at.number_input(key="aug_seed").set_value(100 + i)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=30)
    parser.add_argument("--only", default=None,
                        help="run only the cases whose name contains this text (e.g. infonce)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the app (sets SSL_EXPLORER_TORCH_THREADS; the "
                             "app's default is 1)")
    args = parser.parse_args()
    if args.threads:
        os.environ["SSL_EXPLORER_TORCH_THREADS"] = str(args.threads)

    import torch
    load_before = os.getloadavg()
    rows = []
    for name, (page, query, change) in CASES.items():
        if args.only and args.only not in name:
            continue
        if query.get("nce_mode") == "real" and not (
                ROOT / "assets" / "checkpoints" / "simclr" / "model.safetensors").is_file():
            print(f"skipped {name!r}: no bundled SimCLR checkpoint")
            continue
        at = open_page(page, query)
        if not rows:
            wait_for_warm_up()
        times, cpu = time_reruns(at, change, args.reruns)
        rows.append((name, statistics.median(times), percentile(times, 95), max(times),
                     statistics.median(cpu), percentile(cpu, 95)))
    load_after = os.getloadavg()

    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}, reruns per case: "
          f"{args.reruns}; load average (1, 5, 15 min) before "
          f"{', '.join(f'{x:.2f}' for x in load_before)}, after "
          f"{', '.join(f'{x:.2f}' for x in load_after)}")
    print(f"{'case':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8} {'cpu p95':>8}")
    for name, p50, p95, worst, cpu50, cpu95 in rows:
        print(f"{name:<40} {p50:>8.1f} {p95:>8.1f} {worst:>8.1f} {cpu50:>8.1f} {cpu95:>8.1f}")


if __name__ == "__main__":
    main()
