"""``python3 -m lesson.experiments.probe_table``: every bundled Fashion-MNIST encoder, probed.

One table for the lesson: each bundled checkpoint whose backbone takes 1-channel 28 x 28 images
(discovered in ``assets/checkpoints/``), the same architecture at random init (seed 0), and raw
pixels, all measured with the protocol of ``python -m ssl_core.probe`` (its
``evaluate_encoder``): bundled 20,000 train / 10,000 test images, weighted kNN (k=200 and k=20,
T=0.1, cosine) and a multinomial logistic-regression probe (torch L-BFGS, C=1, standardised
features) on all train labels and on 100 labels per class (1,000, drawn with seed 0).

It also checks the issue's targets: every SSL checkpoint beats its random-init encoder on kNN
(k=200) and on the linear probe (all labels); the best SSL kNN (k=200) reaches 0.85; the best
SSL linear probe (all labels) reaches 0.88. Writes ``assets/results/probe_table.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesson.experiments.probing import (
    DEFAULT_CACHE_DIR,
    EncoderEntry,
    evaluate_entry,
    fashion_encoders,
    load_probe_data,
    probing_parser,
)
from lesson.results import Record, Result, run_experiment_cli

__all__ = ["TARGETS", "ProbeRow", "ProbeTableResult", "build_parser", "main", "run",
           "targets_met"]

TARGETS = {"knn_k200": 0.85, "linear_all": 0.88}
"""The issue's absolute targets for the best SSL encoder (fractions)."""


@dataclass(frozen=True, kw_only=True)
class ProbeRow(Record):
    """One encoder of the table: accuracies as fractions of the test set; SSL rows carry their
    checkpoint's run. The label-scarce probe's column is named by the result's
    ``few_labels_key`` (``linear_1000`` for 100 labels x 10 classes) and kept in ``extra``."""

    name: str
    label: str
    kind: str  # "ssl" | "random" | "raw"
    backbone: str
    knn_k200: float
    knn_k20: float
    linear_all: float
    feature_dim: int | None = None
    eval_seconds: float | None = None
    features_from_cache: bool | None = None
    of: str | None = None  # a random-init row: the checkpoint whose architecture it copies
    checkpoint: str | None = None
    method: str | None = None
    steps: int | None = None
    total_steps: int | None = None
    batch_size: int | None = None
    train_wall_time_s: float | None = None
    command: str | None = None
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def column(self, key: str) -> float | None:
        """The accuracy in column ``key`` (a field, or the label-scarce ``linear_<n>``)."""
        value = getattr(self, key, None) if key in self.__dataclass_fields__ else None
        return value if value is not None else self.extra.get(key)


@dataclass(frozen=True, kw_only=True)
class ProbeTableResult(Result):
    """The ``probe_table`` result: every encoder's row, the protocols and the targets."""

    NAME = "probe_table"

    protocol: dict[str, str]
    rows: list[ProbeRow]
    targets: dict[str, Any] | None = None
    few_labels_key: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def few_key(self) -> str:
        """The label-scarce probe's column, e.g. ``linear_1000``."""
        if self.few_labels_key:
            return self.few_labels_key
        keys = [k for k in self.rows[0].extra if k.startswith("linear_")] if self.rows else []
        return keys[0] if keys else "linear_1000"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _provenance(entry: EncoderEntry) -> dict[str, Any]:
    info = entry.checkpoint
    if info is None or entry.kind != "ssl":
        return {}
    return {
        "checkpoint": f"assets/checkpoints/{info.name}",
        "method": info.method,
        "steps": info.step,
        "total_steps": info.total_steps,
        "batch_size": info.batch_size,
        "train_wall_time_s": info.wall_time_s,
        "command": info.command,
        "sha256": info.sha256,
    }


def targets_met(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Which targets the rows meet, with the numbers behind each boolean.

    ``rows`` need ``name``, ``kind``, ``knn_k200``, ``linear_all`` and (random rows) ``of``.
    """
    ssl = [row for row in rows if row["kind"] == "ssl"]
    random_of = {row.get("of"): row for row in rows if row["kind"] == "random"}
    per_checkpoint = []
    for row in ssl:
        base = random_of.get(row["name"])
        if base is None:
            per_checkpoint.append({"name": row["name"], "measured": False})
            continue
        knn_gain = row["knn_k200"] - base["knn_k200"]
        linear_gain = row["linear_all"] - base["linear_all"]
        per_checkpoint.append({
            "name": row["name"], "measured": True,
            "knn_k200": row["knn_k200"], "random_knn_k200": base["knn_k200"],
            "linear_all": row["linear_all"], "random_linear_all": base["linear_all"],
            "knn_gain": knn_gain, "linear_gain": linear_gain,
            "beats_random": bool(knn_gain > 0 and linear_gain > 0),
        })
    out: dict[str, Any] = {
        "beats_random": {
            "met": bool(per_checkpoint) and all(c.get("beats_random", False)
                                                for c in per_checkpoint),
            "rule": "every SSL checkpoint > its random-init encoder on kNN k=200 and linear "
                    "(all labels)",
            "checkpoints": per_checkpoint,
        },
    }
    for key, threshold in TARGETS.items():
        best = max(ssl, key=lambda row, k=key: row[k]) if ssl else None
        out[f"best_{key}"] = {
            "met": bool(best is not None and best[key] >= threshold),
            "threshold": threshold,
            "best": None if best is None else best[key],
            "best_name": None if best is None else best["name"],
        }
    out["all_met"] = all(value["met"] for key, value in out.items() if isinstance(value, dict))
    return out


def run(
    *,
    checkpoints_dir: str | Path | None = None,
    names: Sequence[str] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    labels_per_class: int = 100,
    max_iter: int = 1000,
    seed: int = 0,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
) -> dict[str, Any]:
    """Probe every Fashion-MNIST checkpoint in ``checkpoints_dir`` plus the baselines.

    Returns ``{"protocol", "rows", "targets", "data"}``; each row has ``name``, ``label``,
    ``kind`` ("ssl" | "random" | "raw"), ``backbone``, ``knn_k200``, ``knn_k20``,
    ``linear_all`` and ``linear_<n>`` (``n`` = ``labels_per_class`` x classes: ``linear_1000``
    by default), accuracies as fractions of the test set; SSL rows carry their run's provenance.
    ``limit_*`` (quick checks) use fixed random subsets as ``python -m ssl_core.probe`` does.
    """
    entries = fashion_encoders(checkpoints_dir, seed=seed, names=names)
    data = load_probe_data(limit_train=limit_train, limit_test=limit_test, seed=seed)
    n_few = labels_per_class * data.n_classes
    few_key = f"linear_{n_few}"
    rows: list[dict[str, Any]] = []
    protocol: dict[str, str] = {}
    for entry in entries:
        _log(f"[probe_table] {entry.label}")
        result = evaluate_entry(entry, data, labels_per_class=labels_per_class,
                                max_iter=max_iter, seed=seed, cache_dir=cache_dir)
        measured = result["results"]
        renamed = {"knn_k200": "knn_k200", "knn_k20": "knn_k20", "linear_all": "linear_all",
                   f"linear_{labels_per_class}pc": few_key}
        row: dict[str, Any] = {"name": entry.name, "label": entry.label, "kind": entry.kind,
                               "backbone": entry.backbone}
        for source, target in renamed.items():
            row[target] = measured[source]["value"]
            protocol.setdefault(target, measured[source]["protocol"])
        row["feature_dim"] = result["feature_dim"]
        row["eval_seconds"] = round(result["seconds"], 1)
        row["features_from_cache"] = result["features_from_cache"]
        if entry.of is not None:
            row["of"] = entry.of
        row.update(_provenance(entry))
        rows.append(row)
        _log(f"[probe_table]   kNN k=200 {row['knn_k200']:.4f}, linear all "
             f"{row['linear_all']:.4f} ({row['eval_seconds']} s)")
    protocol["summary"] = (
        "protocol of `python -m ssl_core.probe` (ssl_core.eval.report.evaluate_encoder): frozen "
        f"encoders; {data.label}; kNN = weighted kNN (cosine, T=0.1) with k=200 and k=20; "
        f"linear = multinomial logistic regression (torch L-BFGS, C=1, max_iter={max_iter}, "
        f"standardised features) on all train labels and on {n_few:,} labels "
        f"({labels_per_class}/class, seed {seed}); random init = the checkpoint's architecture "
        f"built with seed {seed}; accuracies are fractions of the test set"
    )
    return {
        "protocol": protocol,
        "rows": rows,
        "targets": targets_met(rows),
        "few_labels_key": few_key,
        "data": {"n_train": int(len(data.train[1])), "n_test": int(len(data.test[1])),
                 "labels_per_class": labels_per_class, "seed": seed, "sha256": data.sha256},
    }


def build_parser() -> argparse.ArgumentParser:
    parser = probing_parser(
        "probe_table",
        "kNN and linear-probe accuracy of every bundled Fashion-MNIST checkpoint, its "
        "random-init twin and raw pixels; writes assets/results/probe_table.json",
        shares_cache_with="label_efficiency")
    parser.add_argument("--labels-per-class", type=int, default=100,
                        help="labels per class of the label-scarce probe [100]")
    parser.add_argument("--seed", type=int, default=0, help="label subset and random init [0]")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_experiment_cli(ProbeTableResult, build_parser(), argv, lambda args: run(
        checkpoints_dir=args.checkpoints, names=args.only, limit_train=args.limit_train,
        limit_test=args.limit_test, labels_per_class=args.labels_per_class,
        max_iter=args.max_iter, seed=args.seed, cache_dir=args.cache_dir or None))


if __name__ == "__main__":
    raise SystemExit(main())
