"""The "Watch it learn" page's live runs for their full time: what a class sees in a minute.

Runs lesson.live.simclr.live_run and lesson.live.mae.live_run as the page does (its recipe,
its steps asked, its frame spacing, its time limit, torch on ``--threads`` threads: the page's
worker uses 1) and prints, for each, the first and last frame: SimCLR's kNN accuracy on the fixed
map set and the silhouette of its 2-D map; MAE's masked-patch MSE on the strip against
biharmonic inpainting's. ``--out`` writes the numbers (no map points) as JSON.

    python3 benchmarks/live_learning.py --seconds 60 --out outputs/live_learning.json
    python3 benchmarks/live_learning.py --only simclr --temperature 0.5 --batch-size 256
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from lesson.live import mae, simclr  # noqa: E402

SIMCLR_EVERY, MAE_EVERY = 25, 20  # as pages/live_learning.py


def run_simclr(args: argparse.Namespace) -> dict:
    cfg = dataclasses.replace(simclr.DEFAULT_RECIPE, temperature=args.temperature,
                              batch_size=args.batch_size)
    curve = []
    for frame in simclr.live_run(cfg, steps=args.steps, time_limit_s=args.seconds,
                                 every=SIMCLR_EVERY):
        curve.append({k: frame[k] for k in ("step", "loss", "knn", "silhouette", "elapsed_s")})
        print(f"  simclr step {frame['step']:4d}  kNN {frame['knn']:.3f}  silhouette "
              f"{frame['silhouette']:+.3f}  {frame['elapsed_s']:5.1f} s", flush=True)
    first, last = curve[0], curve[-1]
    return {"config": cfg.to_dict(), "curve": curve, "steps": last["step"],
            "knn_start": first["knn"], "knn_end": last["knn"],
            "knn_gain_points": 100 * (last["knn"] - first["knn"]),
            "silhouette_start": first["silhouette"], "silhouette_end": last["silhouette"],
            "wall_s": last["elapsed_s"]}


def run_mae(args: argparse.Namespace) -> dict:
    cfg = mae.DEFAULT_RECIPE
    curve = []
    baseline = None
    for frame in mae.live_run(cfg, steps=args.steps, time_limit_s=args.seconds, every=MAE_EVERY):
        baseline = frame["baseline_strip_mse"]
        curve.append({k: frame[k] for k in ("step", "loss", "strip_mse", "elapsed_s")})
        print(f"  mae step {frame['step']:4d}  strip MSE {frame['strip_mse']:.4f}  (biharmonic "
              f"{baseline:.4f})  {frame['elapsed_s']:5.1f} s", flush=True)
    first, last = curve[0], curve[-1]
    return {"config": cfg.to_dict(), "curve": curve, "steps": last["step"],
            "mse_start": first["strip_mse"], "mse_end": last["strip_mse"],
            "biharmonic_mse": baseline, "wall_s": last["elapsed_s"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time limit per run")
    parser.add_argument("--steps", type=int, default=2000, help="steps asked (the limit ends it)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the page: 1)")
    parser.add_argument("--temperature", type=float, default=simclr.DEFAULT_RECIPE.temperature)
    parser.add_argument("--batch-size", type=int, default=simclr.DEFAULT_RECIPE.batch_size)
    parser.add_argument("--only", choices=("simclr", "mae"), default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out: dict = {"command": "python3 benchmarks/live_learning.py " + " ".join(
                     sys.argv[1:] if argv is None else argv),
                 "threads": args.threads, "cpus": os.cpu_count(),
                 "python": platform.python_version(),
                 "torch": torch.__version__, "load_before": os.getloadavg()}
    started = time.perf_counter()
    if args.only in (None, "simclr"):
        print("SimCLR map:")
        out["simclr"] = result = run_simclr(args)
        print(f"SimCLR: kNN {result['knn_start']:.3f} -> {result['knn_end']:.3f} "
              f"({result['knn_gain_points']:+.1f} points), silhouette "
              f"{result['silhouette_start']:+.3f} -> {result['silhouette_end']:+.3f}, "
              f"{result['steps']} steps in {result['wall_s']:.1f} s")
    if args.only in (None, "mae"):
        print("MAE strip:")
        out["mae"] = result = run_mae(args)
        print(f"MAE: strip MSE {result['mse_start']:.4f} -> {result['mse_end']:.4f} "
              f"(biharmonic {result['biharmonic_mse']:.4f}), {result['steps']} steps in "
              f"{result['wall_s']:.1f} s")
    out["load_after"] = os.getloadavg()
    out["total_s"] = time.perf_counter() - started
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
