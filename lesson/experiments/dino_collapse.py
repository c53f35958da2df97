"""DINO's two collapses, measured: the four variants of the live run, same recipe and seed.

Trains the live recipe (:data:`lesson.live.dino.DEFAULT_RECIPE`) once per variant:

- ``healthy``: centring and sharpening on (DINO as published);
- ``no_centering``: sharpening alone; one output dimension takes all the teacher's mass;
- ``no_sharpening``: centring alone (teacher temperature = student temperature); the teacher
  drifts to the uniform distribution and its output stops depending on the input;
- ``neither``: both off.

Each variant's curve holds the diagnostics of the training steps (:func:`lesson.live.dino.live_run`)
and kNN (k = 20) accuracy of the teacher backbone at a few steps; the verdict is
:func:`ssl_core.losses.dino_collapse.collapse_verdict` of every step.

``python3 -m lesson.experiments.dino_collapse`` writes ``assets/results/dino_collapse.json``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lesson.live.dino import (
    DEFAULT_RECIPE,
    VARIANTS,
    LiveDINOConfig,
    check_positive,
    knn_k20,
    knn_split,
    live_run,
)
from lesson.results import Record, Result, experiment_parser
from ssl_core.train import Trainer

__all__ = ["DinoCollapseResult", "DinoVariant", "main", "run"]

RESULT_NAME = "dino_collapse"


@dataclass(frozen=True, kw_only=True)
class DinoVariant(Record):
    """One variant's run: its switches and config, its curve (rows of the live run's
    diagnostics, ``knn_k20`` where measured), the verdict and the teacher's final profile."""

    label: str
    centering: bool
    sharpening: bool
    config: dict[str, Any] | None = None
    curve: list[dict[str, float | None]]
    verdict: str
    teacher_histogram: list[float] | None = None
    teacher_row_profile: list[float] | None = None
    steps_per_s: float | None = None
    wall_time_s: float | None = None

    @property
    def last(self) -> dict[str, float | None]:
        """The curve's last row (the end of the run)."""
        return self.curve[-1]

    def last_knn(self) -> float | None:
        """The last kNN k=20 accuracy measured along the curve."""
        return next((r["knn_k20"] for r in reversed(self.curve)
                     if r.get("knn_k20") is not None), None)


@dataclass(frozen=True, kw_only=True)
class DinoCollapseResult(Result):
    """The ``dino_collapse`` result: the four variants of the live recipe, same steps and seed."""

    NAME = "dino_collapse"

    recipe: dict[str, Any]
    steps: int
    every: int | None = None
    knn: dict[str, Any] | None = None
    variants: dict[str, DinoVariant]


def run(
    cfg: LiveDINOConfig | None = None,
    *,
    steps: int = 300,
    every: int = 10,
    knn_every: int = 100,
    variants: Sequence[str] = tuple(VARIANTS),
    knn_train_per_class: int = 100,
    knn_test_per_class: int = 50,
    probe_size: int = 256,
) -> dict[str, Any]:
    """Train each variant of ``cfg`` for ``steps`` steps (same seed) and collect its curves.

    Returns the ``dino_collapse`` result: ``{"recipe", "steps", "every", "knn", "variants":
    {name: {"label", "centering", "sharpening", "config", "curve", "verdict",
    "teacher_histogram", "teacher_row_profile", "wall_time_s", "steps_per_s"}}}``. Curve rows
    come every ``every`` steps; ``knn_k20`` (kNN k=20 accuracy of the teacher backbone,
    ``knn_train_per_class`` x 10 train images against ``knn_test_per_class`` x 10 test images)
    at step 0 (the random start, in its own row) and every ``knn_every`` steps.
    """
    cfg = cfg or DEFAULT_RECIPE
    check_positive("knn_every", knn_every)
    split = knn_split(knn_train_per_class, knn_test_per_class)
    if len(split[0][1]) < 20:
        raise ValueError(
            f"kNN with k=20 needs at least 20 reference images; knn_train_per_class="
            f"{knn_train_per_class} gives {len(split[0][1])}. Use knn_train_per_class >= 2"
        )
    knn_at = [s for s in range(knn_every, steps + 1, knn_every)] + [steps]
    out: dict[str, Any] = {
        "recipe": cfg.to_dict(),
        "steps": steps,
        "every": every,
        "knn": {"k": 20, "temperature": 0.1, "train_images": len(split[0][1]),
                "test_images": len(split[1][1]), "encoder": "teacher backbone"},
        "variants": {},
    }
    for name in variants:
        variant = cfg.variant(name)
        label, centering, sharpening = VARIANTS[name]
        started = time.perf_counter()
        initial = Trainer(variant.train_config(steps=steps))  # the shared random start
        curve: list[dict[str, Any]] = [{"step": 0, "knn_k20": knn_k20(initial, split)}]
        del initial
        final: dict[str, Any] = {}
        for report in live_run(variant, steps=steps, time_limit_s=None, every=every,
                               probe_size=probe_size, knn_at=knn_at, knn_split=split):
            if report["row"]["step"] != curve[-1]["step"]:
                curve.append(report["row"])
            final = report
        out["variants"][name] = {
            "label": label,
            "centering": centering,
            "sharpening": sharpening,
            "config": variant.to_dict(),
            "curve": curve,
            "verdict": final["verdict"],
            "teacher_histogram": final["teacher_histogram"],
            "teacher_row_profile": final["teacher_row_profile"],
            "steps_per_s": final["steps_per_s"],
            "wall_time_s": time.perf_counter() - started,
        }
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: measure the four variants and write the ``dino_collapse`` result."""
    parser = experiment_parser(
        "dino_collapse",
        "Train a small DINO four times (centring and sharpening on/off) and write "
        "assets/results/dino_collapse.json.",
    )
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per variant")
    parser.add_argument("--every", type=int, default=10, help="a curve row every this many steps")
    parser.add_argument("--knn-every", type=int, default=100, help="kNN k=20 every this many steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--knn-train-per-class", type=int, default=100,
                        help="kNN reference images per class (bundled train split)")
    parser.add_argument("--knn-test-per-class", type=int, default=50,
                        help="kNN query images per class (bundled test split)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out-dir", default=None, help="results folder (default assets/results)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    data = run(dataclasses.replace(DEFAULT_RECIPE, seed=args.seed), steps=args.steps,
               every=args.every, knn_every=args.knn_every, variants=args.variants,
               knn_train_per_class=args.knn_train_per_class,
               knn_test_per_class=args.knn_test_per_class)
    wall = time.perf_counter() - started
    path = DinoCollapseResult.from_json(data).save(wall_time_s=wall, directory=args.out_dir)
    for name, variant in data["variants"].items():
        last = variant["curve"][-1]
        print(f"{name:14s} H={last['teacher_entropy']:.2f}/{last['max_entropy']:.2f} "
              f"KL={last['kl_teacher_student']:.3f} std={last['output_std']:.4f} "
              f"dom={last['dominant_dim_share']:.3f} knn={last.get('knn_k20')} "
              f"| {variant['verdict']}")
    print(f"wrote {path} in {wall:.0f} s")


if __name__ == "__main__":
    main()
