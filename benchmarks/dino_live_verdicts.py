"""Live DINO verdicts over seeds and presets, at a busy server's step count and at the page's.

For each of the four presets (lesson.live.dino.VARIANTS) and each seed, trains the live recipe
(DEFAULT_RECIPE) for ``--steps`` steps (the page's default: the schedules of a run asked for that
many steps) and prints collapse_verdict of the first ``--short`` steps (what a busy server reaches
in the page's time limit: the same run cut short) and of all of them, with a few points of the
diagnostics' trajectory. ``--save`` writes every step's diagnostics to a JSON file, so that a
verdict can be re-judged without training again (``--load``).

    OMP_NUM_THREADS=1 nice -n 10 python3 benchmarks/dino_live_verdicts.py --save /tmp/h.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from lesson.live.dino import DEFAULT_RECIPE, VARIANTS  # noqa: E402
from ssl_core.losses.dino_collapse import collapse_verdict, verdict_window  # noqa: E402
from ssl_core.train import Trainer  # noqa: E402

KEYS = ("teacher_entropy", "max_entropy", "output_std", "output_std_ref", "dominant_dim_share",
        "kl_teacher_student", "marginal_entropy", "effective_rank", "loss", "step")


def train(name: str, seed: int, steps: int) -> list[dict[str, float]]:
    cfg = dataclasses.replace(DEFAULT_RECIPE.variant(name), seed=seed)
    trainer = Trainer(cfg.train_config(steps=steps))
    for _ in trainer.steps():
        pass
    return [{k: float(row[k]) for k in KEYS if k in row} for row in trainer.history]


def expected(name: str) -> str:
    return {"healthy": "healthy", "no_centering": "collapsed to a constant (one",
            "no_sharpening": "collapsed to uniform", "neither": "collapsed"}[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--save")
    parser.add_argument("--load")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.load:
        runs = json.load(open(args.load))
    else:
        runs = {}
        for name in VARIANTS:
            for seed in range(args.seeds):
                started = time.perf_counter()
                runs[f"{name}/{seed}"] = train(name, seed, args.steps)
                print(f"# trained {name} seed {seed}: {time.perf_counter() - started:.0f} s",
                      flush=True)
        if args.save:
            with open(args.save, "w") as f:
                json.dump(runs, f)
    wrong = 0
    for key, history in runs.items():
        name = key.split("/")[0]
        for n in (args.short, len(history)):
            verdict = collapse_verdict(history[:n])
            ok = verdict.startswith(expected(name))
            wrong += not ok
            print(f"{key:16s} {n:4d} {'ok ' if ok else 'BAD'} {verdict[:60]}")
        points = [r for r in history if int(r["step"]) in (1, 5, 10, 20, 40, 80, len(history))]
        print("   step  H/logK  std/ref  top  KL")
        for r in points:
            print(f"   {int(r['step']):4d}  {r['teacher_entropy'] / r['max_entropy']:.2f}"
                  f"    {r['output_std'] / r['output_std_ref']:.3f}  {r['dominant_dim_share']:.2f}"
                  f"  {r['kl_teacher_student']:.3f}")
    print(f"wrong verdicts: {wrong} of {2 * len(runs)}")
    # Every run cut at every step count from --short to its end (a server of any speed), and
    # the range of the windowed medians the verdict judges, per preset: the thresholds' margins.
    cut_wrong = 0
    ranges: dict[str, dict[str, list[float]]] = {}
    for key, history in runs.items():
        name = key.split("/")[0]
        for n in range(args.short, len(history) + 1):
            cut_wrong += not collapse_verdict(history[:n]).startswith(expected(name))
            window = history[n - verdict_window(n):n]
            for label, value in medians(window).items():
                lo_hi = ranges.setdefault(name, {}).setdefault(label, [math.inf, -math.inf])
                lo_hi[0], lo_hi[1] = min(lo_hi[0], value), max(lo_hi[1], value)
    print(f"wrong verdicts at every step count {args.short}..end: {cut_wrong}")
    print("windowed medians over those step counts, min-max per preset:")
    for name, by_label in ranges.items():
        print(f"  {name:14s} " + "  ".join(f"{label} {lo:.3f}-{hi:.3f}"
                                           for label, (lo, hi) in by_label.items()))


def medians(window: list[dict[str, float]]) -> dict[str, float]:
    def med(f) -> float:
        return statistics.median(f(r) for r in window)

    return {
        "H/logK": med(lambda r: r["teacher_entropy"] / r["max_entropy"]),
        "marginal/logK": med(lambda r: r["marginal_entropy"] / r["max_entropy"]),
        "top": med(lambda r: r["dominant_dim_share"]),
        "std/ref": med(lambda r: r["output_std"] / r["output_std_ref"]),
        "KL": med(lambda r: r["kl_teacher_student"]),
    }


if __name__ == "__main__":
    main()
