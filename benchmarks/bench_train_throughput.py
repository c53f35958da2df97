"""Training throughput (images/s) per method and backbone on this machine, through the Trainer.

    python benchmarks/bench_train_throughput.py [--batch-size 64] [--steps 6]
        [--methods simclr dino mae unet_mae] [--backbones vit_tiny_p4_28 ...]

Runs ``ssl_core.train.Trainer`` on the bundled Fashion-MNIST (28 px, 1 channel) with
``num_workers=0`` and reports, after one warm-up step, the median over the timed steps of:

- ``end to end``: global batch / wall time of a whole step (views + forward + backward + AdamW),
  the ``images_per_s`` the trainer logs;
- ``views``: images/s of making the batch alone (``StepBatches``: crops, jitter, multi-crop);
- ``model``: images/s of the rest (end-to-end time minus view time).

DINO uses its default 2 global + 8 local crops (the views dominate on CPU; ``--augment n_local=4``
on the CLI halves them). Method/backbone pairs that do not fit (MAE needs a ViT, unet_mae a
U-Net) are skipped.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch_threads import parse_args_with_threads  # benchmarks/torch_threads.py

from ssl_core.train import TrainConfig, Trainer

PAIRS = {
    "simclr": ["vit_tiny_p4_28", "vit_small_p4_28", "cnn_small_28"],
    "dino": ["vit_tiny_p4_28", "vit_small_p4_28", "cnn_small_28"],
    "mae": ["vit_tiny_p4_28", "vit_small_p4_28"],
    "unet_mae": ["unet_tiny_28"],
}


def measure(method: str, backbone: str, *, batch_size: int, steps: int) -> dict[str, float]:
    run = Trainer(TrainConfig(method=method, backbone=backbone, steps=steps + 1,
                              batch_size=batch_size))
    totals, views = [], []
    for metrics in run.steps():
        step = metrics["step"]
        start = time.perf_counter()
        run.batches[step - 1]  # the same batch again: what making the views costs
        view_time = time.perf_counter() - start
        if step > 1:  # the first step warms up
            totals.append(metrics["step_time_s"])
            views.append(view_time)
    total, view = statistics.median(totals), statistics.median(views)
    return {"end_to_end": batch_size / total, "views": batch_size / view,
            "model": batch_size / max(total - view, 1e-9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="timed steps (after 1 warm-up)")
    parser.add_argument("--methods", nargs="+", default=list(PAIRS))
    parser.add_argument("--backbones", nargs="+", default=None,
                        help="default: every backbone listed for the method")
    args = parse_args_with_threads(parser)
    print(f"images/s, batch {args.batch_size}, CPU with {torch.get_num_threads()} threads, "
          f"median of {args.steps} steps")
    print(f"{'method':<9} {'backbone':<17} {'end to end':>10} {'views':>8} {'model':>8}")
    for method in args.methods:
        for backbone in args.backbones or PAIRS[method]:
            try:
                r = measure(method, backbone, batch_size=args.batch_size, steps=args.steps)
            except ValueError as err:  # e.g. MAE on a CNN
                print(f"{method:<9} {backbone:<17} skipped: {str(err)[:60]}")
                continue
            print(f"{method:<9} {backbone:<17} {r['end_to_end']:>10.0f} {r['views']:>8.0f} "
                  f"{r['model']:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
