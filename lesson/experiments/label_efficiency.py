"""``python3 -m lesson.experiments.label_efficiency``: linear-probe accuracy against labels.

For every encoder of ``probe_table`` (each bundled Fashion-MNIST checkpoint, its architecture at
random init, raw pixels) a linear probe is trained on 1, 10, 100 and all 2,000 labels per class
of the bundled 20,000 train images and scored on the 10,000 test images
(:func:`ssl_core.eval.label_efficiency`: multinomial logistic regression, torch L-BFGS, C=1,
standardised frozen features; the label subsets are nested per seed). Small budgets are repeated
over several seeds (mean and sample std); "all" is one run. Features come from the cache that
``probe_table`` fills (or are extracted and cached here). Writes
``assets/results/label_efficiency.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesson.experiments.probing import (
    DEFAULT_CACHE_DIR,
    encoder_features,
    fashion_encoders,
    load_probe_data,
    probing_parser,
)
from lesson.results import Record, Result, run_experiment_cli

__all__ = ["EfficiencyCurve", "LabelEfficiencyResult", "build_parser", "main", "run"]


@dataclass(frozen=True, kw_only=True)
class EfficiencyCurve(Record):
    """One encoder's probe accuracy at each labels-per-class budget (mean and sample std over
    the seeds; the last point, every label, is one run)."""

    name: str
    label: str
    kind: str | None = None  # "ssl" | "random" | "raw"
    backbone: str | None = None
    accuracy: list[float]
    std: list[float] | None = None
    n_train: list[int] | None = None
    runs: list[list[float]] | None = None
    seconds: float | None = None


@dataclass(frozen=True, kw_only=True)
class LabelEfficiencyResult(Result):
    """The ``label_efficiency`` result: one curve per encoder over ``labels_per_class``."""

    NAME = "label_efficiency"

    labels_per_class: list[int]
    seeds: list[int] | None = None
    curves: list[EfficiencyCurve]
    protocol: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(
    *,
    checkpoints_dir: str | Path | None = None,
    names: Sequence[str] | None = None,
    budgets: Sequence[int] = (1, 10, 100),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    limit_train: int | None = None,
    limit_test: int | None = None,
    max_iter: int = 1000,
    random_init_seed: int = 0,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
) -> dict[str, Any]:
    """Label-efficiency curves of every encoder of the probe table.

    ``budgets`` are labels per class (each repeated over ``seeds``); the last point is always
    every train label (one run, first seed). Returns ``{"labels_per_class": [1, 10, 100, 2000],
    "curves": [{"name", "label", "kind", "accuracy": [...], "std": [...], "runs": [...]}],
    "protocol": str}``; "all" is reported as the mean train images per class (2,000 bundled).
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. (0, 1, 2)")
    if any(int(b) < 1 for b in budgets) or list(budgets) != sorted(set(budgets)):
        raise ValueError(f"budgets must be increasing positive labels per class; got {budgets}")
    from ssl_core.eval import label_efficiency

    entries = fashion_encoders(checkpoints_dir, seed=random_init_seed, names=names)
    data = load_probe_data(limit_train=limit_train, limit_test=limit_test, seed=random_init_seed)
    counts = np.bincount(data.train[1].astype(np.int64))
    all_point = int(round(len(data.train[1]) / data.n_classes))  # 2,000 for the bundled set
    if budgets and budgets[-1] > counts.min():
        raise ValueError(
            f"the largest budget, {budgets[-1]} labels per class, exceeds the smallest class "
            f"({counts.min()} train images); the 'all labels' point is added by itself"
        )
    curves = []
    for entry in entries:
        started = time.perf_counter()
        x_train, y_train, x_test, y_test = encoder_features(entry, data, cache_dir=cache_dir)
        rows = label_efficiency(x_train, y_train, x_test, y_test,
                                n_per_class=(*[int(b) for b in budgets], None),
                                seeds=tuple(int(s) for s in seeds), method="torch",
                                max_iter=max_iter)
        curves.append({
            "name": entry.name,
            "label": entry.label,
            "kind": entry.kind,
            "backbone": entry.backbone,
            "accuracy": [row["mean_accuracy"] for row in rows],
            "std": [row["std_accuracy"] for row in rows],
            "n_train": [row["n_train"] for row in rows],
            "runs": [row["accuracies"] for row in rows],
            "seconds": round(time.perf_counter() - started, 1),
        })
        _log(f"[label_efficiency] {entry.label}: "
             + ", ".join(f"{a:.3f}" for a in curves[-1]["accuracy"]))
    protocol = (
        "linear probe (multinomial logistic regression, torch full-batch L-BFGS, C=1, "
        f"max_iter={max_iter}, standardised frozen features; ssl_core.eval."
        f"label_efficiency) trained on n labels per class drawn from {data.label}; n = "
        f"{', '.join(str(b) for b in budgets)}: mean and sample std over seeds "
        f"{list(seeds)} (nested subsets per seed); last point: all train labels, one run; "
        f"accuracy on the {len(data.test[1]):,} test images"
    )
    return {
        "labels_per_class": [*[int(b) for b in budgets], all_point],
        "seeds": [int(s) for s in seeds],
        "curves": curves,
        "protocol": protocol,
        "data": {"n_train": int(len(data.train[1])), "n_test": int(len(data.test[1])),
                 "sha256": data.sha256},
    }


def build_parser() -> argparse.ArgumentParser:
    parser = probing_parser(
        "label_efficiency",
        "Linear-probe accuracy with 1, 10, 100 and all labels per class for every encoder of "
        "probe_table; writes assets/results/label_efficiency.json",
        shares_cache_with="probe_table")
    parser.add_argument("--budgets", nargs="+", type=int, default=[1, 10, 100],
                        help="labels per class besides 'all' [1 10 100]")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="label draws per small budget [0 1 2 3 4]")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_experiment_cli(LabelEfficiencyResult, build_parser(), argv, lambda args: run(
        checkpoints_dir=args.checkpoints, names=args.only, budgets=args.budgets,
        seeds=args.seeds, limit_train=args.limit_train, limit_test=args.limit_test,
        max_iter=args.max_iter, cache_dir=args.cache_dir or None))


if __name__ == "__main__":
    raise SystemExit(main())
