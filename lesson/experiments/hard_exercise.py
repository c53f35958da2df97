"""The lesson's hard exercise: masked pretraining vs supervised training on 1,000 labelled images.

For each backbone -- the ViT ``vit_tiny_p4_28`` (``global_pool="avg"``) and the TinyUNet
``unet_tiny_28`` -- and each budget of epochs (10, 50, 200 by default; separate runs, each with
its own cosine schedule):

- **MAE**: pretrain (``mae`` for the ViT, masked reconstruction ``unet_mae`` for the TinyUNet) with
  :class:`ssl_core.train.Trainer` on a fixed subset of ``labelled`` images of the bundled train set
  (``limit_images``), then a linear probe (:func:`ssl_core.eval.linear_probe`, torch L-BFGS)
  on the frozen features of the *same* images with their labels, tested on the test images;
- **Supervised**: the same backbone from random init plus a linear head, trained with
  cross-entropy on the same labelled images for the same number of epochs
  (:func:`ssl_core.supervised.train_supervised`), tested on the same test images.

Both sides use batch ``batch_size`` and ``lr = 1e-3 x batch / 256`` with warm-up + cosine, and
the same crop+flip augmentation. Run::

    python -m lesson.experiments.hard_exercise --epochs 10 50 200 --runs-dir runs/hard

writes ``assets/results/hard_exercise.json`` (after every row, so a long run that is stopped
keeps the rows it finished; ``"complete"`` says whether all rows ran).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesson.results import Provenance, Record, Result, experiment_parser

__all__ = ["MODELS", "HardExerciseResult", "HardRow", "main", "run"]

# The four rows of the table: what each one trains. "method" None = supervised from scratch.
MODELS: dict[str, dict[str, Any]] = {
    "MAE TinyUNet": {"method": "unet_mae", "backbone": "unet_tiny_28", "backbone_kwargs": {}},
    "Supervised TinyUNet": {"method": None, "backbone": "unet_tiny_28", "backbone_kwargs": {}},
    "MAE ViT": {"method": "mae", "backbone": "vit_tiny_p4_28",
                "backbone_kwargs": {"global_pool": "avg"}},
    "Supervised ViT": {"method": None, "backbone": "vit_tiny_p4_28",
                       "backbone_kwargs": {"global_pool": "avg"}},
}
DEFAULT_EPOCHS = (10, 50, 200)
BASE_LR = 1e-3  # per 256 images, for both pretraining and supervised training


@dataclass(frozen=True, kw_only=True)
class HardRow(Record):
    """One model at one epoch budget: its test accuracy and how it was measured."""

    model: str
    backbone: str
    backbone_kwargs: dict[str, Any] | None = None
    epochs: int
    accuracy: float
    protocol: str
    wall_time_s: float
    pretrain_s: float | None = None
    steps: int | None = None
    final_loss: float | None = None
    final_train_accuracy: float | None = None
    run_dir: str | None = None


@dataclass(frozen=True, kw_only=True)
class HardExerciseResult(Result):
    """The ``hard_exercise`` result: MAE + probe vs supervised, on the same labelled subset.

    ``complete`` is False while rows are missing (the run saves after each one);
    ``continued_from`` is the provenance of the run a ``--continue`` extended."""

    NAME = "hard_exercise"

    labelled_subset: int
    test_images: int | None = None
    batch_size: int | None = None
    epochs: dict[str, list[int]] | None = None
    protocol: str | None = None
    rows: list[HardRow]
    complete: bool | None = None
    continued_from: Provenance | None = None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _labelled_subset(labelled: int) -> tuple[np.ndarray, np.ndarray]:
    """Exactly the images a Trainer with ``limit_images=labelled`` pretrains on, with labels."""
    from ssl_core.train import load_train_data

    subset, _ = load_train_data("bundled", limit_images=labelled)
    indices = np.asarray(subset.indices)
    return np.asarray(subset.base.images)[indices], np.asarray(subset.labels)


def _mae_row(name: str, spec: Mapping[str, Any], *, epochs: int, labelled: int,
             batch_size: int, seed: int, train: tuple[np.ndarray, np.ndarray],
             test: tuple[np.ndarray, np.ndarray], out_dir: str | None) -> dict[str, Any]:
    from ssl_core.eval import extract_features, linear_probe
    from ssl_core.train import TrainConfig, Trainer

    started = time.perf_counter()
    cfg = TrainConfig(method=spec["method"], backbone=spec["backbone"],
                      backbone_kwargs=dict(spec["backbone_kwargs"]), data="bundled",
                      limit_images=labelled, steps=None, epochs=float(epochs),
                      batch_size=batch_size, base_lr=BASE_LR, seed=seed, out_dir=out_dir)
    trainer = Trainer(cfg)
    trainer.run()
    trainer.close()
    pretrain_s = time.perf_counter() - started
    encoder = trainer.encoder.eval()
    x_train, y_train = extract_features(encoder, train)  # (N, D), (N,)
    x_test, y_test = extract_features(encoder, test)  # (M, D), (M,)
    probe = linear_probe(x_train, y_train, x_test, y_test, method="torch", seed=seed)
    wall = time.perf_counter() - started
    resolved = trainer.config
    last = trainer.history[-1] if trainer.history else {}
    return {
        "model": name,
        "backbone": spec["backbone"],
        "backbone_kwargs": dict(spec["backbone_kwargs"]),
        "epochs": epochs,
        "accuracy": float(probe.accuracy),
        "protocol": (
            f"{spec['method']} pretraining of {spec['backbone']} on the {labelled:,} images for "
            f"{epochs} epochs ({trainer.total_steps} steps of batch {batch_size}, AdamW lr "
            f"{resolved.lr:.3g} = {BASE_LR:g} x batch/256, {resolved.warmup_steps} warm-up "
            f"steps then cosine, seed {seed}); then a linear probe ({probe.protocol}) on the "
            f"frozen features of the same {len(y_train):,} images with their labels; accuracy "
            f"on {len(y_test):,} test images"
        ),
        "wall_time_s": round(wall, 2),
        "pretrain_s": round(pretrain_s, 2),
        "steps": trainer.total_steps,
        "final_loss": float(last.get("loss", float("nan"))),
        "run_dir": str(trainer.out_dir) if trainer.out_dir is not None else None,
    }


def _supervised_row(name: str, spec: Mapping[str, Any], *, epochs: int, batch_size: int,
                    seed: int, train: tuple[np.ndarray, np.ndarray],
                    test: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    from ssl_core.supervised import SupervisedConfig, train_supervised

    started = time.perf_counter()
    result = train_supervised(
        spec["backbone"], train=train, test=test, backbone_kwargs=dict(spec["backbone_kwargs"]),
        config=SupervisedConfig(epochs=epochs, batch_size=batch_size, base_lr=BASE_LR, seed=seed),
    )
    return {
        "model": name,
        "backbone": spec["backbone"],
        "backbone_kwargs": dict(spec["backbone_kwargs"]),
        "epochs": epochs,
        "accuracy": result.accuracy,
        "protocol": result.protocol,
        "wall_time_s": round(time.perf_counter() - started, 2),
        "final_loss": result.history[-1]["loss"],
        "final_train_accuracy": result.history[-1]["train_accuracy"],
    }


def run(
    *,
    epochs: Sequence[int] = DEFAULT_EPOCHS,
    epochs_by_model: Mapping[str, Sequence[int]] | None = None,
    models: Sequence[str] = tuple(MODELS),
    labelled: int = 1000,
    batch_size: int = 100,
    n_test: int | None = None,
    seed: int = 0,
    runs_dir: str | Path | None = None,
    run_dirs: Mapping[str, str | Path] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    done_rows: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Measure the table; returns ``{"labelled_subset", "test_images", "protocol", "rows"}``.

    Args:
        epochs: budgets for every model; ``epochs_by_model`` overrides them per model name
            (e.g. fewer for the ViT rows when the CPU cannot afford 200 epochs).
        models: names from :data:`MODELS`; rows run shortest budget first, in this order
            within a budget.
        labelled: size of the fixed subset of the bundled train set (pretraining = probe labels
            = supervised labels).
        batch_size: for pretraining and supervised training (the subset should hold at least one
            batch; ``labelled // batch_size`` steps per epoch for the Trainer).
        n_test: a fixed random subset of the 10,000 test images (None: all of them).
        runs_dir: where MAE runs save their checkpoints (``<runs_dir>/<method>-<epochs>ep``);
            None saves nothing. ``run_dirs`` names a directory for particular runs, keyed
            ``"<model>@<epochs>"`` (e.g. ``{"MAE TinyUNet@200": "runs/unet_mae_hard"}``).
        on_row: called with the partial result after each row (``main`` saves it).
        done_rows: rows measured before by the same protocol (a stopped run's saved result):
            they are kept, in plan order, and not measured again.

    Each row: ``{"model", "backbone", "epochs", "accuracy", "protocol", "wall_time_s", ...}``.
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    budgets = {name: tuple(epochs) for name in models}
    for name, values in (epochs_by_model or {}).items():
        if name not in MODELS:
            raise ValueError(f"epochs_by_model names unknown model {name!r}; choose from "
                             f"{list(MODELS)}")
        budgets[name] = tuple(values)
    for name, values in budgets.items():
        if not values or any(isinstance(e, bool) or not isinstance(e, int) or e < 1
                             for e in values):
            raise ValueError(f"epochs must be a non-empty list of ints >= 1; got {values!r} for "
                             f"{name}")
    if labelled < batch_size:
        raise ValueError(f"labelled={labelled} is smaller than batch_size={batch_size}; the "
                         "pretraining needs at least one full batch per epoch")
    from ssl_core.data import array_subset, load_fashion_mnist

    train = _labelled_subset(labelled)
    test = array_subset(load_fashion_mnist("test", source="bundled"), n_test, seed=seed)
    result: dict[str, Any] = {
        "labelled_subset": labelled,
        "test_images": int(len(test[1])),
        "batch_size": batch_size,
        "epochs": {name: list(budgets[name]) for name in models},
        "protocol": (
            f"a fixed random subset of {labelled:,} images of the bundled Fashion-MNIST train set "
            f"(TrainConfig limit_images={labelled}); MAE rows pretrain on it and linear-probe "
            f"with its labels; supervised rows train from scratch on it with labels; both test "
            f"on {len(test[1]):,} test images; batch {batch_size}, lr {BASE_LR:g} x batch/256, "
            "warm-up + cosine, crop+flip augmentation, seed " + str(seed)
        ),
        "rows": [],
    }
    # Shortest budgets first, every model at each: a run stopped early (main saves after every
    # row) leaves a table that compares all models at the budgets it reached.
    plan = sorted(((budget, i, name) for i, name in enumerate(models) for budget in budgets[name]))
    done = {(row["model"], row["epochs"]): row for row in done_rows}
    for budget, _, name in plan:
        spec = MODELS[name]
        if (name, budget) in done:
            result["rows"].append(done[(name, budget)])
            continue
        _log(f"[hard_exercise] {name}, {budget} epochs")
        if spec["method"] is None:
            row = _supervised_row(name, spec, epochs=budget, batch_size=batch_size,
                                  seed=seed, train=train, test=test)
        else:
            out_dir = (run_dirs or {}).get(f"{name}@{budget}")
            if out_dir is None and runs_dir is not None:
                out_dir = Path(runs_dir) / f"{spec['method']}-{budget}ep"
            row = _mae_row(name, spec, epochs=budget, labelled=labelled,
                           batch_size=batch_size, seed=seed, train=train, test=test,
                           out_dir=None if out_dir is None else str(out_dir))
        _log(f"[hard_exercise]   accuracy {row['accuracy']:.4f} in {row['wall_time_s']:.0f} s")
        result["rows"].append(row)
        if on_row is not None:
            on_row(result)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser(
        "hard_exercise",
        "MAE (ViT, TinyUNet) pretraining + linear probe vs supervised training from "
        "scratch, on the same labelled subset; writes assets/results/hard_exercise.json.",
    )
    parser.add_argument("--epochs", type=int, nargs="+", default=list(DEFAULT_EPOCHS),
                        help="epoch budgets for every model [10 50 200]")
    parser.add_argument("--epochs-vit", type=int, nargs="+",
                        help="epoch budgets for the two ViT rows instead of --epochs")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                        metavar="MODEL", help=f"rows to run, in order {list(MODELS)}")
    parser.add_argument("--labelled", type=int, default=1000, help="labelled subset size [1000]")
    parser.add_argument("--batch-size", type=int, default=100, help="[100]")
    parser.add_argument("--n-test", type=int, help="fixed subset of the test images [all]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", help="save the MAE runs' checkpoints here [nothing saved]")
    parser.add_argument("--unet-mae-dir", help="directory for the longest TinyUNet MAE run "
                        "(the checkpoint the app bundles) [under --runs-dir]")
    parser.add_argument("--out", help="results directory [assets/results]")
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="keep the rows of a stopped run saved in the results directory "
                        "(same labelled subset, batch, test set and seed) and measure the rest")
    return parser


def _saved_rows(args: argparse.Namespace, test_images: int
                ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Rows (and provenance) of the saved result, measured with the same protocol as ``args``."""
    from lesson.results import ResultMissingError, load_result

    try:
        saved = load_result("hard_exercise", directory=args.out)
    except ResultMissingError:
        return [], None
    same = (saved.get("labelled_subset") == args.labelled
            and saved.get("batch_size") == args.batch_size
            and saved.get("test_images") == test_images
            and f"seed {args.seed}" in saved.get("protocol", ""))
    if not same:
        raise ValueError("--continue: the saved result was measured with another labelled "
                         "subset, batch size, test set or seed; run without --continue")
    return list(saved.get("rows", [])), saved.get("provenance")


def main(argv: Sequence[str] | None = None) -> int:
    from ssl_core.data import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    by_model = ({name: args.epochs_vit for name in MODELS if "ViT" in name}
                if args.epochs_vit else None)
    run_dirs = {}
    if args.unet_mae_dir:
        unet_budgets = (by_model or {}).get("MAE TinyUNet", args.epochs)
        run_dirs[f"MAE TinyUNet@{max(unet_budgets)}"] = args.unet_mae_dir
    started = time.perf_counter()
    command = ["python3", "-m", "lesson.experiments.hard_exercise",
               *(sys.argv[1:] if argv is None else argv)]

    earlier: dict[str, Any] | None = None  # provenance of the run that --continue extends

    def save(partial: dict[str, Any], complete: bool = False) -> None:
        extra = {} if earlier is None else {"continued_from": earlier}
        HardExerciseResult.from_json({**partial, "complete": complete, **extra}).save(
            command=" ".join(command), wall_time_s=time.perf_counter() - started,
            directory=args.out)

    try:
        done_rows: list[dict[str, Any]] = []
        if args.resume:
            done_rows, earlier = _saved_rows(args, args.n_test or 10_000)
        result = run(epochs=args.epochs, epochs_by_model=by_model, models=args.models,
                     labelled=args.labelled, batch_size=args.batch_size, n_test=args.n_test,
                     seed=args.seed, runs_dir=args.runs_dir, run_dirs=run_dirs, on_row=save,
                     done_rows=done_rows)
    except (DataError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    save(result, complete=True)
    for row in result["rows"]:
        print(f"{row['model']:<22} {row['epochs']:>4} ep  {100 * row['accuracy']:5.1f}%  "
              f"{row['wall_time_s']:7.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
