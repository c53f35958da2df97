"""Every performance figure of SSL Explorer in one table, measured on this machine.

    python3 benchmarks/run_all.py [--reruns 20] [--quick] [--json out.json]

Rows (each measured now, nothing copied):

- **cold start**: server process start -> ``/_stcore/health`` answers, and -> the home page has
  finished its first run (``load_test.Server`` + one websocket session);
- **page rerun p50 / p95**: one headless session (Streamlit's websocket protocol, as in
  ``load_test.py``) opens each page and URL variant and reruns it ``--reruns`` times, each after
  moving a random slider to a random value (the first run of a page is reported as its first
  visit and not counted);
- **server RSS** after all the reruns;
- **model load**: ``ssl_core.checkpoints.load_method`` of each bundled checkpoint in this process
  (the first load also pays for imports: a warm-up load goes first), and DINOv2-small through
  ``ssl_core.models.hf.load_hf_encoder`` when the local Hugging Face cache holds it;
- **UMAP**: ``ssl_core.eval.projection.project(method="umap")`` on random 128-d features at
  several N, with the first call (numba compilation) reported apart;
- **MAE speed-up**: ``bench_mae_speedup.time_steps`` (training step at mask 0.75 vs all tokens);
- **training images/s**: ``bench_train_throughput.measure`` per method (end to end, the
  trainer's own figure).

``--quick`` shrinks every part (fewer reruns, N, steps) to check the script in a few minutes;
``--umap-sizes``, ``--mae-backbones``, ``--mae-repeats``, ``--train-steps`` and ``--skip`` trim
single parts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

Row = tuple[str, str, str]  # (measure, detail, value)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"


async def _pages(args: argparse.Namespace, server: Any, rows: list[Row], out: dict) -> None:
    import load_test

    rng = random.Random(0)
    session, _ = await load_test.new_session(server.ws_url, timeout=args.timeout)
    rows.append(("cold start", "process start -> first page finished",
                 f"{time.perf_counter() - server.started:.1f} s"))
    out["pages"] = {}
    for page, query in load_test.page_variants(sorted(session.pages)):
        first = await session.open(page, query)
        times, errors = [], list(first.errors)
        for _ in range(args.reruns):
            sliders = session.sliders()
            if sliders:
                session.set_slider(rng.choice(sliders), rng)
            run = await session.rerun()
            errors += run.errors
            times.append(run.latency_s * 1e3)
        name = (page or "home") + (f"?{query}" if query else "")
        p50, p95 = statistics.median(times), load_test.percentile(times, 95)
        out["pages"][name] = {"first_ms": first.latency_s * 1e3, "p50_ms": p50, "p95_ms": p95,
                              "sliders": len(session.sliders()), "errors": errors}
        rows.append(("page rerun p50 / p95", f"{name} ({len(session.sliders())} sliders)",
                     f"{p50:.0f} / {p95:.0f} ms" + (f" ({len(errors)} errors)" if errors else "")))
    await session.close()


def page_figures(args: argparse.Namespace, rows: list[Row], out: dict) -> None:
    import load_test

    with load_test.Server() as server:
        rows.append(("cold start", "process start -> /_stcore/health", f"{server.ready_s:.1f} s"))
        asyncio.run(_pages(args, server, rows, out))
        out["server_rss_mb"] = server.rss_mb()
        rows.append(("server RSS", "after every page's reruns", f"{out['server_rss_mb']:.0f} MB"))


def model_loads(rows: list[Row], out: dict) -> None:
    from ssl_core.checkpoints import load_method
    from ssl_core.models.hf import list_local_models, load_hf_encoder

    folder = ROOT / "assets" / "checkpoints"
    bundled = sorted(p.parent for p in folder.glob("*/model.safetensors"))
    if bundled:
        load_method(bundled[0])  # imports and first-use costs, not counted
    for path in bundled:
        start = time.perf_counter()
        method = load_method(path)
        elapsed = time.perf_counter() - start
        n_params = sum(p.numel() for p in method.parameters()) / 1e6
        out.setdefault("model_load_s", {})[path.name] = elapsed
        rows.append(("model load", f"{path.name} ({n_params:.2f} M parameters)", _ms(elapsed)))
    if "facebook/dinov2-small" in list_local_models():
        start = time.perf_counter()
        load_hf_encoder("facebook/dinov2-small")
        elapsed = time.perf_counter() - start
        out.setdefault("model_load_s", {})["dinov2-small"] = elapsed
        rows.append(("model load", "DINOv2-small (local HF cache)", _ms(elapsed)))
    else:
        rows.append(("model load", "DINOv2-small", "not in the local HF cache"))


def umap_timings(sizes: list[int], rows: list[Row], out: dict) -> None:
    import numpy as np

    from ssl_core.eval.projection import project

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    project(rng.standard_normal((200, 128)).astype(np.float32), "umap")
    rows.append(("UMAP", "first call in a process (numba compiles), N=200",
                 f"{time.perf_counter() - start:.1f} s"))
    for n in sizes:
        features = rng.standard_normal((n, 128)).astype(np.float32)
        start = time.perf_counter()
        project(features, "umap")
        elapsed = time.perf_counter() - start
        out.setdefault("umap_s", {})[n] = elapsed
        rows.append(("UMAP", f"N={n:,}, D=128, 200 epochs", f"{elapsed:.1f} s"))


def mae_speedup(backbones: list[str], repeats: int, rows: list[Row], out: dict) -> None:
    import bench_mae_speedup
    import torch

    from ssl_core.methods import build_method

    torch.manual_seed(0)
    for name in backbones:
        method = build_method("mae", backbone=name, config={"mask_ratio": 0.75}).train()
        c, (h, w) = method.backbone.in_chans, method.backbone.img_size
        images = torch.rand(64, c, h, w)
        masked = bench_mae_speedup.time_steps(method, images, full=False, repeats=repeats)
        full = bench_mae_speedup.time_steps(method, images, full=True, repeats=repeats)
        out.setdefault("mae_speedup", {})[name] = full / masked
        rows.append(("MAE speed-up", f"{name}, batch 64: mask 0.75 vs all tokens",
                     f"{full / masked:.2f}x ({masked * 1e3:.0f} vs {full * 1e3:.0f} ms)"))


def training_throughput(steps: int, rows: list[Row], out: dict) -> None:
    import bench_train_throughput

    for method, backbones in bench_train_throughput.PAIRS.items():
        backbone = backbones[0]
        result = bench_train_throughput.measure(method, backbone, batch_size=64, steps=steps)
        out.setdefault("train_images_per_s", {})[f"{method}/{backbone}"] = result["end_to_end"]
        rows.append(("training images/s", f"{method} / {backbone}, batch 64",
                     f"{result['end_to_end']:.0f}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=20, help="timed reruns per page [20]")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["pages", "models", "umap", "mae", "train"])
    parser.add_argument("--umap-sizes", nargs="+", type=int, default=[1000, 2000, 5000])
    parser.add_argument("--mae-backbones", nargs="+", default=["vit_tiny_p4_28", "vit_small_p4_28"])
    parser.add_argument("--mae-repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    for path in (str(ROOT), str(BENCH)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import torch

    torch.set_num_threads(1)  # as the app does (SSL_EXPLORER_TORCH_THREADS)
    if args.quick:
        args.reruns = min(args.reruns, 3)
        args.umap_sizes, args.mae_backbones = [500], ["vit_tiny_p4_28"]
        args.mae_repeats, args.train_steps = 1, 1
    rows: list[Row] = []
    out: dict[str, Any] = {}
    load = os.getloadavg()
    start = time.perf_counter()
    if "pages" not in args.skip:
        page_figures(args, rows, out)
    if "models" not in args.skip:
        model_loads(rows, out)
    if "umap" not in args.skip:
        umap_timings(args.umap_sizes, rows, out)
    if "mae" not in args.skip:
        mae_speedup(args.mae_backbones, args.mae_repeats, rows, out)
    if "train" not in args.skip:
        training_throughput(args.train_steps, rows, out)

    print(f"SSL Explorer benchmarks: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__} "
          f"(1 intra-op thread, as the app); load average before {load[0]:.2f}, after "
          f"{os.getloadavg()[0]:.2f}; {time.perf_counter() - start:.0f} s in all")
    width = max(len(d) for _, d, _ in rows) if rows else 10
    print(f"{'measure':<22} {'detail':<{width}} value")
    for measure, detail, value in rows:
        print(f"{measure:<22} {detail:<{width}} {value}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
