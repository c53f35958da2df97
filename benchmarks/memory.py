"""Memory: does the server's RSS keep growing when a page is rerun again and again?

    python3 benchmarks/memory.py [--reruns 200] [--warm-up 20] [--pages mae infonce ...]
        [--limit-mb 50] [--json out.json]

Starts the real server (as ``benchmarks/load_test.py`` does) and, with one headless session
speaking Streamlit's websocket protocol, visits each page in turn (each of its model-loading
variants from ``load_test.PAGE_VARIANTS``): ``--warm-up`` reruns moving random sliders (first
model loads and first-run caches fill here), the RSS, then ``--reruns`` more reruns moving random
sliders, and the RSS again. A page's growth is the difference. Each RSS is read once the server
and its workers have been idle for two seconds, so background work a rerun started (the linear
probe's fits) counts only if it leaves memory behind. The sliders take random values on
their step grids, so the pages' ``st.cache_data`` caches miss often and fill up to their
``max_entries`` bounds: the figure includes that bounded growth, as a class would cause it.

Prints one row per page (reruns, p50 rerun ms, RSS after warm-up, after the reruns, growth; the
same for the server's worker processes together, ``app/workers.py``) and the total; exits 1 when
a page grows the server or its workers by more than ``--limit-mb`` (default 50 MB) or any rerun
raised an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_test  # noqa: E402  (benchmarks/load_test.py)


async def reruns(session: load_test.Session, n: int, rng: random.Random,
                 errors: list[str]) -> list[float]:
    """``n`` reruns, each after moving a random slider; milliseconds each; errors appended."""
    times = []
    for _ in range(n):
        sliders = session.sliders()
        if sliders:
            session.set_slider(rng.choice(sliders), rng)
        run = await session.rerun()
        errors.extend(run.errors)
        times.append(run.latency_s * 1e3)
    return times


async def measure(args: argparse.Namespace, server: load_test.Server) -> list[dict[str, Any]]:
    rng = random.Random(args.seed)
    session, first = await load_test.new_session(server.ws_url, timeout=args.timeout)
    # the app's projection worker (started with the first page) imports and compiles UMAP for
    # ~10-30 s: that is start-up, not the first page's reruns
    waited = await asyncio.to_thread(server.wait_idle)
    print(f"(waited {waited:.0f} s for the server to go idle after its first page)", flush=True)
    variants = load_test.page_variants(sorted(session.pages), only=args.pages)
    rows = []
    for page, query in variants:
        errors: list[str] = []
        run = await session.open(page, query)
        errors += run.errors
        await reruns(session, args.warm_up, rng, errors)
        # RSS is read once the server is idle: work a rerun left running in the background
        # (the linear probe's fits) is a transient, not memory the page keeps
        idle = await asyncio.to_thread(server.wait_idle, timeout=args.idle_timeout)
        before, workers_before = server.rss_mb(), server.children_rss_mb()
        start = time.perf_counter()
        times = await reruns(session, args.reruns, rng, errors)
        seconds = time.perf_counter() - start
        idle += await asyncio.to_thread(server.wait_idle, timeout=args.idle_timeout)
        after, workers_after = server.rss_mb(), server.children_rss_mb()
        rows.append({"page": page or "home", "query": query, "reruns": args.reruns,
                     "sliders": len(session.sliders()), "p50_ms": statistics.median(times),
                     "seconds": seconds, "idle_wait_s": idle, "rss_before_mb": before,
                     "rss_after_mb": after, "growth_mb": after - before,
                     "workers_before_mb": workers_before, "workers_after_mb": workers_after,
                     "workers_growth_mb": workers_after - workers_before, "errors": errors})
        row = rows[-1]
        print(f"{row['page'] + (' ?' + query if query else ''):<36} {row['sliders']:>7} "
              f"{row['p50_ms']:>8.0f} {before:>10.0f} {after:>10.0f} {after - before:>+9.1f} "
              f"{workers_after:>10.0f} {workers_after - workers_before:>+9.1f}"
              f"{'  ' + str(len(errors)) + ' errors' if errors else ''}", flush=True)
    await session.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--pages", nargs="+", default=None,
                        help="url paths (home is ''); default: every page of the router")
    parser.add_argument("--limit-mb", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--idle-timeout", type=float, default=300.0,
                        help="longest wait for the server to go idle before reading the RSS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    root = str(load_test.ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    import torch

    print(f"server RSS over {args.reruns} reruns per page (after {args.warm_up} warm-up reruns); "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}")
    print("(workers: the server's child processes together, app/workers.py; pages they share "
          "are counted in each)")
    print(f"{'page':<36} {'sliders':>7} {'p50 ms':>8} {'RSS MB':>10} {'after MB':>10} "
          f"{'growth':>9} {'workers MB':>10} {'growth':>9}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out
    with load_test.Server() as server:
        start_rss = server.rss_mb()
        rows = asyncio.run(measure(args, server))
        end_rss = server.rss_mb()
    worst = max(rows, key=lambda r: r["growth_mb"])
    worst_workers = max(rows, key=lambda r: r["workers_growth_mb"])
    errors = [e for r in rows for e in r["errors"]]
    print(f"server RSS {start_rss:.0f} MB at start, {end_rss:.0f} MB at the end; largest growth "
          f"over {args.reruns} reruns: {worst['growth_mb']:+.1f} MB ({worst['page']}), of its "
          f"workers {worst_workers['workers_growth_mb']:+.1f} MB ({worst_workers['page']}); "
          f"limit {args.limit_mb:.0f} MB each; errors: {len(errors)}")
    for error in sorted(set(errors))[:20]:
        print(f"  {error}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "start_rss_mb": start_rss,
                                         "end_rss_mb": end_rss}, indent=1))
    within = (worst["growth_mb"] <= args.limit_mb
              and worst_workers["workers_growth_mb"] <= args.limit_mb)
    return 0 if within and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
