"""``python -m ssl_core.pretrain``: pretrain SimCLR, DINO or MAE from the command line.

Examples::

    # 300 SimCLR steps on the bundled Fashion-MNIST (CPU, a few minutes)
    python -m ssl_core.pretrain --method simclr --steps 300 --batch-size 128 --out runs/simclr

    # continue it to 600 steps
    python -m ssl_core.pretrain --resume runs/simclr --steps 600

    # DINO on an image folder, 2 GPUs with bf16 autocast
    python -m ssl_core.pretrain --method dino --data ~/photos --epochs 100 --devices 2 \\
        --precision bf16-mixed

    # 2 CPU processes (DDP over gloo); several nodes: --num-nodes M with torchrun or SLURM
    python -m ssl_core.pretrain --method simclr --accelerator cpu --devices 2 --steps 100

Everything a run needs is in :mod:`ssl_core.train`; this module only parses arguments, shows a
progress bar (loss, images/s, ETA) on rank 0 and turns bad input into a one-line error with exit
code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ssl_core.distributed import shutdown
from ssl_core.train import PRECISIONS, TrainConfig

__all__ = ["DEFAULT_OUT", "build_parser", "given_fields", "main"]

DEFAULTS = TrainConfig()
DEFAULT_OUT = "runs/{method}-{backbone}-{time}"


def _key_values(text: str) -> tuple[str, Any]:
    """``key=value`` with value parsed as JSON when it can be (numbers, true, [1, 2]), else text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value; got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    d = DEFAULTS
    parser = argparse.ArgumentParser(
        prog="python -m ssl_core.pretrain",
        description="Pretrain an encoder with SimCLR, DINO or MAE. Writes model.safetensors, "
        "config.json, metrics.jsonl and a resumable train state into --out.",
        epilog="Defaults shown in brackets. Options left unset on --resume keep the run's values.",
    )
    what = parser.add_argument_group("what to train")
    what.add_argument("--method", choices=("simclr", "dino", "mae", "unet_mae"),
                      help=f"pretraining method [{d.method}]")
    what.add_argument("--backbone", help="encoder from ssl_core.models.registry "
                      "[vit_tiny_p4_28 for 1-channel data, vit_tiny_p8_64 for RGB; unet_tiny_* "
                      "for unet_mae]")
    what.add_argument("--backbone-kwargs", nargs="+", type=_key_values, metavar="KEY=VALUE",
                      help="backbone overrides, e.g. depth=2 embed_dim=64")
    what.add_argument("--method-config", nargs="+", type=_key_values, metavar="KEY=VALUE",
                      help="method settings, e.g. temperature=0.2 (simclr), out_dim=256 (dino), "
                      "mask_ratio=0.6 (mae)")
    what.add_argument("--augment", nargs="+", type=_key_values, metavar="KEY=VALUE",
                      help="view overrides, e.g. n_local=4 (dino), scale=[0.3,1.0]")
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="bundled | fashion-mnist-full | PATH (image folder, "
                      f"<class>/<image> or flat) | cifar10:PATH | stl10:PATH [{d.data}]")
    data.add_argument("--data-root", help="where fashion-mnist-full looks "
                      "[data/FashionMNIST/raw, then /usr/share/datasets/fashion-mnist]")
    data.add_argument("--limit-images", type=int, metavar="N",
                      help="train on a fixed random subset of N images [all]")
    data.add_argument("--repeat-data", type=int, metavar="K", help="list every image K times "
                      "per epoch, each time with fresh random views: for folders with fewer "
                      "images than a batch, e.g. the 16 bundled photos [1]")
    data.add_argument("--num-workers", type=int, help="DataLoader worker processes making "
                      f"batches; results do not depend on it [{d.num_workers}]")
    schedule = parser.add_argument_group("schedule")
    length = schedule.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help=f"optimizer steps [{d.steps}]")
    length.add_argument("--epochs", type=float, help="passes over the data (instead of --steps)")
    schedule.add_argument("--batch-size", type=int,
                          help=f"images per device and step [{d.batch_size}]")
    schedule.add_argument("--lr", type=float, help="peak learning rate [base-lr x global "
                          "batch / 256]")
    schedule.add_argument("--base-lr", type=float, help="learning rate per 256 images [simclr "
                          "1e-3, dino 5e-4, mae 1e-3]")
    schedule.add_argument("--weight-decay", type=float, help=f"AdamW [{d.weight_decay}]")
    schedule.add_argument("--warmup-steps", type=int, help="linear warm-up [10%% of the run]")
    schedule.add_argument("--grad-clip", type=float, help="max gradient norm [none]")
    schedule.add_argument("--seed", type=int, help=f"[{d.seed}]")
    hardware = parser.add_argument_group("hardware")
    hardware.add_argument("--accelerator", choices=("auto", "cpu", "cuda"),
                          help=f"[{d.accelerator}: cuda when available]")
    hardware.add_argument("--devices", type=int, help=f"processes per node [{d.devices}]")
    hardware.add_argument("--num-nodes", type=int, help=f"[{d.num_nodes}]")
    hardware.add_argument("--precision", choices=PRECISIONS,
                          help=f"[{d.precision}]; bf16-mixed on recent GPUs")
    hardware.add_argument("--channels-last", action="store_true", default=None,
                          help="NHWC memory layout: faster ResNet steps on CPU [off]")
    data.add_argument("--views", choices=("batched", "per-image"),
                      help="make a batch's views at once (in-memory arrays) or one image at a "
                      f"time [{d.views}]")
    output = parser.add_argument_group("output")
    output.add_argument("--out", help=f"run directory [{DEFAULT_OUT}]")
    output.add_argument("--resume", metavar="DIR",
                        help="continue the run saved in DIR (its config; --steps/--epochs "
                        "extend it)")
    output.add_argument("--log-every", type=int, help=f"metrics.jsonl interval [{d.log_every}]")
    output.add_argument("--checkpoint-every", type=int,
                        help="also save every N steps [only at the end]")
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


# Command-line options that are TrainConfig fields of the same name (--out is out_dir).
_FIELDS = (
    "method", "backbone", "data", "data_root", "limit_images", "repeat_data", "num_workers",
    "steps", "epochs",
    "batch_size", "lr", "base_lr", "weight_decay", "warmup_steps", "grad_clip", "seed",
    "accelerator", "devices", "num_nodes", "precision", "log_every", "checkpoint_every",
    "channels_last", "views",
)
_DICT_FIELDS = ("backbone_kwargs", "method_config", "augment")  # KEY=VALUE lists


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields set on the command line (parsed by :func:`build_parser`): what
    ``main`` trains with, and what tools that read the same options compare (the bundled
    checkpoints' recipes in ``scripts/bundle_checkpoints.py``)."""
    values = {name: getattr(args, name) for name in _FIELDS if getattr(args, name) is not None}
    values |= {name: dict(getattr(args, name)) for name in _DICT_FIELDS
               if getattr(args, name) is not None}
    if args.out is not None:
        values["out_dir"] = args.out
    return values


def _progress(trainer: Any, enabled: bool) -> Any:
    if not (enabled and trainer.runtime.is_global_zero):
        return None
    from tqdm import tqdm

    return tqdm(total=trainer.total_steps, initial=trainer.step, unit="step", dynamic_ncols=True,
                desc=f"{trainer.config.method} {trainer.config.backbone}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ssl_core.checkpoints import CheckpointError
    from ssl_core.data import DataError
    from ssl_core.train import Trainer

    given = given_fields(args)
    try:
        if args.resume:
            trainer = Trainer.resume(args.resume, **given)
        else:
            if "epochs" in given:
                given["steps"] = None
            given.setdefault("out_dir", DEFAULT_OUT)
            trainer = Trainer(TrainConfig(**given))
    except (DataError, CheckpointError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    rank0 = trainer.runtime.is_global_zero
    if rank0:
        cfg = trainer.config
        print(f"{cfg.method} / {cfg.backbone} on {trainer.data_description['n_images']} images "
              f"({cfg.data}); {trainer.total_steps} steps of {cfg.global_batch_size} images "
              f"(lr {cfg.lr:.3g}, {trainer.runtime.world_size} process(es), {cfg.precision}) "
              f"-> {trainer.out_dir}", file=sys.stderr)
        if trainer.step:
            print(f"resuming at step {trainer.step}", file=sys.stderr)
        if trainer.done:
            print(f"the run is complete ({trainer.step} steps); pass a larger --steps to extend "
                  "it", file=sys.stderr)
    bar = _progress(trainer, enabled=not args.no_progress)
    try:
        for metrics in trainer.steps():
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}",
                                img_s=f"{metrics['images_per_s']:.0f}", refresh=False)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        if trainer.runtime.world_size == 1 and trainer.step > 0:
            trainer.save()
            print(f"\ninterrupted: saved step {trainer.step} to {trainer.out_dir}; continue with "
                  f"python -m ssl_core.pretrain --resume {trainer.out_dir}", file=sys.stderr)
        shutdown(wait=False)
        return 130
    finally:
        trainer.close()
    if bar is not None:
        bar.close()
    if rank0:
        last = trainer.history[-1] if trainer.history else {}
        summary = {k: last[k] for k in ("step", "loss", "images_per_s", "elapsed_s") if k in last}
        print(f"done: {json.dumps(summary)}; checkpoint in {trainer.out_dir}", file=sys.stderr)
    shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
