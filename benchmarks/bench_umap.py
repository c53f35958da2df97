"""UMAP timings of the embeddings page: cold compile, first map of 2,000 points, cached rerun.

    python3 benchmarks/bench_umap.py [--n 2000] [--encoder simclr] [--reruns 10]

Prints, each measured in wall seconds (and process CPU seconds, which other load on the machine
hardly inflates):

1. cold start, in a fresh interpreter: ``import umap`` and
   ``ssl_core.eval.projection.warm_up_umap()``
   (numba's compile; its on-disk cache makes later processes faster);
2. in a fresh interpreter without warm-up: the first ``project(features, "umap")`` of N points,
   import and compile included (what a user waits for when nothing was warmed);
3. in this process after warm-up: the features of N Fashion-MNIST test items under the bundled
   encoder (raw pixels if it is not bundled) and the first UMAP of them (the page's <= 5 s
   target is this number);
4. the embeddings page through the real router (AppTest): the first run with the UMAP view of N
   points, then reruns with the same inputs (the page's <= 200 ms target: everything from the
   caches).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MAIN = ROOT / "app" / "main.py"

COLD = """
import time, sys
sys.path.insert(0, {root!r})
t0, c0 = time.perf_counter(), time.process_time()
import umap  # noqa: F401
t1, c1 = time.perf_counter(), time.process_time()
from ssl_core.eval.projection import warm_up_umap
warm_up_umap()
t2, c2 = time.perf_counter(), time.process_time()
print(t1 - t0, c1 - c0, t2 - t1, c2 - c1)
"""

FIRST = """
import time, sys
import numpy as np
sys.path.insert(0, {root!r})
x = np.random.default_rng(0).standard_normal(({n}, 128)).astype(np.float32)
t0, c0 = time.perf_counter(), time.process_time()
from ssl_core.eval.projection import project
project(x, "umap")
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def fresh(code: str) -> list[float]:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=600)
    return [float(v) for v in out.stdout.split()[-4:]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="points (default 2000)")
    parser.add_argument("--encoder", default="simclr", help="bundled checkpoint name")
    parser.add_argument("--reruns", type=int, default=10)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; torch 1 thread")

    imp, imp_cpu, warm, warm_cpu = fresh(COLD.format(root=str(ROOT)))
    print(f"1. fresh process: import umap {imp:.1f} s (CPU {imp_cpu:.1f} s), warm_up_umap "
          f"{warm:.1f} s (CPU {warm_cpu:.1f} s)")
    first, first_cpu = fresh(FIRST.format(root=str(ROOT), n=args.n))[-2:]
    print(f"2. fresh process, no warm-up: first UMAP of {args.n} points (128-D) {first:.1f} s "
          f"(CPU {first_cpu:.1f} s), import and compile included")

    from ssl_core.checkpoints import load_encoder
    from ssl_core.data import load_fashion_mnist, subset_indices
    from ssl_core.eval import RawPixels, extract_features
    from ssl_core.eval.projection import project, warm_up_umap

    warm_up_umap()
    path = ROOT / "assets" / "checkpoints" / args.encoder
    encoder = load_encoder(path) if (path / "model.safetensors").is_file() else RawPixels()
    test = load_fashion_mnist("test", source="bundled")
    idx = subset_indices(len(test), args.n)
    t0 = time.perf_counter()
    feats, _ = extract_features(encoder, (test.images[idx], test.labels[idx]))
    t1, c1 = time.perf_counter(), time.process_time()
    project(feats, "umap")
    t2, c2 = time.perf_counter(), time.process_time()
    print(f"3. after warm-up: features of {args.n} items ({type(encoder).__name__}) "
          f"{t1 - t0:.2f} s; first UMAP {t2 - t1:.2f} s (CPU {c2 - c1:.2f} s)")

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(MAIN), default_timeout=600)
    at.query_params.update({"emb_n": str(args.n), "emb_enc": f"ckpt:{args.encoder}"})
    at.run()
    t0 = time.perf_counter()
    at.switch_page("../pages/embeddings.py").run()
    first_page = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    times, cpu = [], []
    for _ in range(args.reruns):
        t0, c0 = time.perf_counter(), time.process_time()
        at.run()
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    chosen = at.selectbox(key="emb_enc").value
    print(f"4. embeddings page ({chosen}, UMAP, {args.n} points): first run {first_page:.2f} s "
          f"(features + UMAP, UMAP already warm in this process); rerun with the same inputs "
          f"p50 {statistics.median(times):.0f} ms, max {max(times):.0f} ms (CPU p50 "
          f"{statistics.median(cpu):.0f} ms) over {args.reruns}")


if __name__ == "__main__":
    main()
