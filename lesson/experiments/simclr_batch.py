"""Does SimCLR need a large batch? Batch 32 vs 512 at the same number of images seen.

The lesson says SimCLR "works at batch 512, fails at 32": its negatives are the other images of
the batch, so a small batch gives few of them. This experiment measures it on the bundled
Fashion-MNIST with a small CNN (``cnn_small_28``, inputs standardised with mean 0.286 / std 0.353;
the bundled SimCLR up to issue 13 used it, the bundled one now is the larger ``cnn_base_28``
trained on the full train split): one :class:`ssl_core.train.Trainer` run per batch size, all
seeing the same number of images (102,400 by default: 200 steps at 512, 3,200 at 32), each with
its own warm-up + cosine schedule and the linear scaling rule ``lr = 1e-3 x batch / 256``. At 9
evenly spaced points (step 0 included) the frozen encoder is scored by weighted kNN (k=200 and
k=20, T=0.1, cosine) with a fixed subset of the train images as the labelled bank and a fixed
subset of the test images as queries.

The ``"finding"`` text is computed from the measured numbers: whatever they show is the result,
also when batch 32 is not worse at this budget. Run::

    python -m lesson.experiments.simclr_batch            # writes assets/results/simclr_batch.json
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lesson.results import Provenance, Record, Result, experiment_parser

__all__ = ["CLAIM", "BatchRun", "KnnPoint", "SimclrBatchResult", "finding", "main", "run"]

CLAIM = "SimCLR works at batch 512 and fails at batch 32 (the lesson)"
BACKBONE = "cnn_small_28"
BACKBONE_KWARGS = {"input_mean": [0.286], "input_std": [0.353]}  # the bundled 20k subset's stats
KNN_TEMPERATURE = 0.1
TIE_POINTS = 0.01  # differences below one accuracy point are reported as a tie
FAIL_SHARE = 0.5  # the small batch "fails" if it gets less than this share of the large's gain


@dataclass(frozen=True, kw_only=True)
class KnnPoint(Record):
    """kNN accuracy of the frozen encoder at one point of a run."""

    step: int | None = None
    images_seen: int
    knn_k200: float
    knn_k20: float
    loss: float | None = None


@dataclass(frozen=True, kw_only=True)
class BatchRun(Record):
    """One batch size's run: its schedule and its kNN curve (step 0 first)."""

    batch_size: int
    steps: int
    lr: float | None = None
    warmup_steps: int | None = None
    curve: list[KnnPoint]
    wall_time_s: float | None = None
    eval_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class SimclrBatchResult(Result):
    """The ``simclr_batch`` result: one run per batch size at equal images seen, the finding.

    ``measured_by``: the provenance of the measuring run when the finding was recomputed later
    (``--refresh-finding``)."""

    NAME = "simclr_batch"

    images_seen: int
    claim: str | None = None
    backbone: str | None = None
    backbone_kwargs: dict[str, Any] | None = None
    protocol: str | None = None
    knn: dict[str, Any] | None = None
    runs: list[BatchRun]
    finding: str | None = None
    complete: bool | None = None
    measured_by: Provenance | None = None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def eval_points(steps: int, n_points: int) -> list[int]:
    """``n_points`` evenly spaced steps from 0 to ``steps`` (both included), rounded, unique."""
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2 (the start and the end); got {n_points}")
    return sorted({round(steps * i / (n_points - 1)) for i in range(n_points)})


def _sign(gap: float) -> int:
    """+1 / -1 when ``gap`` exceeds the tie margin either way, 0 inside it."""
    return 0 if abs(gap) <= TIE_POINTS else (1 if gap > 0 else -1)


def finding(runs: Sequence[dict[str, Any]], *, n_queries: int | None = None) -> str:
    """One paragraph comparing the smallest and largest batch at the end of training, computed
    from the kNN accuracies (k=200 and k=20) of ``runs`` (rows of :func:`run`).

    Besides the final gap it reports how much of the large batch's gain over the random-init
    encoder (the curve's first point) the small batch achieves: the small batch "fails" only if
    that share is below :data:`FAIL_SHARE`. With ``n_queries`` it adds the binomial standard
    error of one accuracy (one seed per batch size: differences of about two standard errors
    are within run-to-run noise).
    """
    small = min(runs, key=lambda r: r["batch_size"])
    large = max(runs, key=lambda r: r["batch_size"])
    if small is large:
        raise ValueError("finding needs runs with at least two different batch sizes")
    s, g = small["curve"][-1], large["curve"][-1]
    gap200 = g["knn_k200"] - s["knn_k200"]
    gap20 = g["knn_k20"] - s["knn_k20"]
    numbers = (
        f"After {s['images_seen']:,} images, kNN accuracy (k=200) is "
        f"{100 * s['knn_k200']:.1f}% at batch {small['batch_size']} ({small['steps']:,} steps) "
        f"and {100 * g['knn_k200']:.1f}% at batch {large['batch_size']} ({large['steps']:,} "
        f"steps); k=20: {100 * s['knn_k20']:.1f}% vs {100 * g['knn_k20']:.1f}%."
    )
    gain_small = s["knn_k200"] - small["curve"][0]["knn_k200"]
    gain_large = g["knn_k200"] - large["curve"][0]["knn_k200"]
    fails = gain_large > 0 and gain_small < FAIL_SHARE * gain_large
    gains = (f" Over the random-init encoder (step 0, {100 * small['curve'][0]['knn_k200']:.1f}%)"
             f" batch {small['batch_size']} gains {100 * gain_small:+.1f} points at k=200 and "
             f"batch {large['batch_size']} {100 * gain_large:+.1f}.")
    noise = ""
    if n_queries:
        p = (s["knn_k200"] + g["knn_k200"]) / 2
        noise = (f" One seed per batch size; on {n_queries:,} test queries the binomial standard "
                 f"error of one accuracy is about {100 * math.sqrt(p * (1 - p) / n_queries):.1f} "
                 "points.")
    signs = {_sign(gap200), _sign(gap20)}
    gaps = (f"batch {large['batch_size']} minus batch {small['batch_size']}: "
            f"{100 * gap200:+.1f} points at k=200, {100 * gap20:+.1f} at k=20")
    why = (f" For the same images batch {small['batch_size']} takes "
           f"{small['steps'] // max(large['steps'], 1)}x more optimizer steps, and with only 10 "
           "classes even a small batch holds many negatives from other classes. The lesson's "
           "claim comes from ImageNet (1,000 classes), where SimCLR's paper compares batch "
           "sizes at the same number of epochs.")
    if signs <= {0, 1} and 1 in signs and fails:
        verdict = (f" The large batch is better ({gaps}) and the small batch gets less than "
                   f"{100 * FAIL_SHARE:.0f}% of its gain: as the lesson says, batch "
                   f"{small['batch_size']} fails at this budget.")
    elif signs <= {0, 1} and 1 in signs:
        verdict = (f" The large batch is better ({gaps}), in the direction the lesson says, but "
                   f"batch {small['batch_size']} does NOT fail: it gets "
                   f"{100 * gain_small / gain_large:.0f}% of the large batch's gain.{why}")
    elif signs <= {0, -1} and -1 in signs:
        verdict = (f" At this budget batch {small['batch_size']} is NOT worse: it is better "
                   f"({gaps}).{why}")
    elif signs == {0}:
        verdict = (f" At this budget the two are within {100 * TIE_POINTS:.0f} point ({gaps}): "
                   f"batch {small['batch_size']} does NOT fail.{why}")
    else:
        verdict = (f" The two measures disagree ({gaps}), so neither batch size clearly wins at "
                   f"this budget: batch {small['batch_size']} does not fail.")
    return numbers + gains + verdict + noise


def run(
    *,
    images_seen: int = 102_400,
    batch_sizes: Sequence[int] = (32, 512),
    base_lr: float = 1e-3,
    n_points: int = 9,
    knn_train: int | None = 5000,
    knn_test: int | None = 2000,
    limit_images: int | None = None,
    seed: int = 0,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train SimCLR once per batch size on ``images_seen`` images; kNN curves along the way.

    Args:
        images_seen: images per run; each batch size must divide it (steps = images / batch).
        batch_sizes: one run each, in this order.
        base_lr: lr per 256 images (AdamW, linear scaling ``lr = base_lr * batch / 256``).
        n_points: kNN evaluations per run, evenly spaced from step 0 to the last step.
        knn_train, knn_test: sizes of the fixed random subsets of the bundled train / test images
            used as the kNN bank / queries (None: the whole split).
        limit_images: pretrain on a fixed subset of the bundled train set (tests); None: all.
        on_run: called with the partial result after each run (``main`` saves it).

    Returns ``{"images_seen", "claim", "finding", "protocol", "runs": [{"batch_size", "steps",
    "lr", "curve": [{"step", "images_seen", "knn_k200", "knn_k20"}], "wall_time_s"}]}``.
    """
    from ssl_core.data import array_subset, load_fashion_mnist
    from ssl_core.eval import extract_features, knn_accuracy
    from ssl_core.train import TrainConfig, Trainer

    if not batch_sizes:
        raise ValueError("batch_sizes is empty; give at least one, e.g. (32, 512)")
    for batch in batch_sizes:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 2:
            raise ValueError(f"batch sizes must be ints >= 2 (SimCLR's negatives are the rest "
                             f"of the batch); got {batch!r}")
        if images_seen % batch:
            raise ValueError(f"images_seen={images_seen} is not a multiple of batch size {batch};"
                             " pick one that all batch sizes divide (e.g. 102400 for 32 and 512)")
    bank = array_subset(load_fashion_mnist("train", source="bundled"), knn_train, seed=seed)
    queries = array_subset(load_fashion_mnist("test", source="bundled"), knn_test, seed=seed)
    k_large = min(200, len(bank[1]))
    if k_large != 200:
        _log(f"[simclr_batch] kNN bank has {len(bank[1])} images; k=200 becomes k={k_large}")
    result: dict[str, Any] = {
        "images_seen": images_seen,
        "claim": CLAIM,
        "backbone": BACKBONE,
        "backbone_kwargs": BACKBONE_KWARGS,
        "protocol": (
            f"SimCLR ({BACKBONE}, inputs standardised with mean 0.286 / std 0.353) on the bundled "
            f"Fashion-MNIST train set{'' if limit_images is None else f' ({limit_images} images)'}"
            f", {images_seen:,} images per run, AdamW lr = {base_lr:g} x batch/256, 10% warm-up "
            f"then cosine, seed {seed}; weighted kNN (cosine, T={KNN_TEMPERATURE:g}, k={k_large} "
            f"and k=20) with a fixed random subset of {len(bank[1]):,} train images as the "
            f"labelled bank and {len(queries[1]):,} test images as queries, at {n_points} evenly "
            "spaced points (step 0 included)"
        ),
        "knn": {"bank_images": int(len(bank[1])), "query_images": int(len(queries[1])),
                "temperature": KNN_TEMPERATURE},
        "runs": [],
    }
    for batch in batch_sizes:
        steps = images_seen // batch
        started = time.perf_counter()
        trainer = Trainer(TrainConfig(method="simclr", backbone=BACKBONE,
                                      backbone_kwargs=BACKBONE_KWARGS, steps=steps,
                                      batch_size=batch, base_lr=base_lr, seed=seed,
                                      limit_images=limit_images))
        curve = []
        eval_s = 0.0
        for point in eval_points(steps, n_points):
            for _ in trainer.steps(max_steps=point - trainer.step):
                pass
            eval_start = time.perf_counter()
            encoder = trainer.encoder
            x_bank, y_bank = extract_features(encoder, bank)  # (N, D), (N,)
            x_query, y_query = extract_features(encoder, queries)  # (Q, D), (Q,)
            accuracy = {
                f"knn_k{k}": knn_accuracy(x_bank, y_bank, x_query, y_query, k=min(k, len(y_bank)),
                                          temperature=KNN_TEMPERATURE)
                for k in (200, 20)
            }
            eval_s += time.perf_counter() - eval_start
            curve.append({"step": trainer.step, "images_seen": trainer.step * batch,
                          "knn_k200": float(accuracy["knn_k200"]),
                          "knn_k20": float(accuracy["knn_k20"]),
                          "loss": float(trainer.history[-1]["loss"]) if trainer.history
                          else None})
            _log(f"[simclr_batch] batch {batch} step {trainer.step}/{steps}: kNN k200 "
                 f"{accuracy['knn_k200']:.4f} k20 {accuracy['knn_k20']:.4f}")
        trainer.close()
        wall = time.perf_counter() - started
        result["runs"].append({"batch_size": batch, "steps": steps, "lr": trainer.config.lr,
                               "warmup_steps": trainer.config.warmup_steps, "curve": curve,
                               "wall_time_s": round(wall, 2), "eval_s": round(eval_s, 2)})
        if len({r["batch_size"] for r in result["runs"]}) >= 2:
            result["finding"] = finding(result["runs"], n_queries=len(queries[1]))
        if on_run is not None:
            on_run(result)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser(
        "simclr_batch",
        "SimCLR at batch 32 vs 512 with the same number of images seen; kNN "
        "accuracy along training. Writes assets/results/simclr_batch.json.",
    )
    parser.add_argument("--images-seen", type=int, default=102_400, help="[102400]")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 512], help="[32 512]")
    parser.add_argument("--base-lr", type=float, default=1e-3, help="lr per 256 images [1e-3]")
    parser.add_argument("--points", type=int, default=9, help="kNN evaluations per run [9]")
    parser.add_argument("--knn-train", type=int, default=5000, help="kNN bank size [5000]")
    parser.add_argument("--knn-test", type=int, default=2000, help="kNN queries [2000]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="results directory [assets/results]")
    parser.add_argument("--refresh-finding", action="store_true",
                        help="measure nothing: recompute the finding text of the saved result "
                        "from its numbers with this code (the measuring run's provenance is kept "
                        "as measured_by)")
    return parser


def _refresh_finding(out: str | None, command: list[str]) -> dict[str, Any]:
    from lesson.results import load_result

    saved = load_result("simclr_batch", directory=out)
    measured_by = saved.pop("measured_by", None) or saved.pop("provenance")
    saved.pop("provenance", None)
    saved["finding"] = finding(saved["runs"], n_queries=saved.get("knn", {}).get("query_images"))
    SimclrBatchResult.from_json({**saved, "measured_by": measured_by}).save(
        command=" ".join(command), directory=out)
    return saved


def main(argv: Sequence[str] | None = None) -> int:
    from lesson.results import ResultMissingError
    from ssl_core.data import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.perf_counter()
    command = ["python3", "-m", "lesson.experiments.simclr_batch",
               *(sys.argv[1:] if argv is None else argv)]

    def save(partial: dict[str, Any], complete: bool = False) -> None:
        SimclrBatchResult.from_json({**partial, "complete": complete}).save(
            command=" ".join(command), wall_time_s=time.perf_counter() - started,
            directory=args.out)

    if args.refresh_finding:
        try:
            print(_refresh_finding(args.out, command)["finding"])
        except (ResultMissingError, ValueError, KeyError) as err:
            print(f"{parser.prog}: error: cannot refresh the finding: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        result = run(images_seen=args.images_seen, batch_sizes=args.batch_sizes,
                     base_lr=args.base_lr, n_points=args.points, knn_train=args.knn_train,
                     knn_test=args.knn_test, seed=args.seed, on_run=save)
    except (DataError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    save(result, complete=True)
    print(result.get("finding", ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
