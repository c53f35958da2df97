"""cProfile of one training step (after a warm-up step), timed by this process's CPU time.

    PYTHONPATH=. python3 benchmarks/profile_train_step.py [--method dino]
        [--backbone cnn_small_28] [--views per-image] [--batch-size 64] [--lines 14]

Prints the step's CPU seconds and the cumulative time of the trainer's parts: making the views
(``_next_batch``: the per-image v2 pipeline's ``Compose`` calls, or the batched views), forward
and loss (``training_step``) and ``backward``. One torch thread, so CPU time is the step's work
even on a machine other jobs load. The profiler slows Python-heavy code (the per-image views)
more than torch kernels: use ``bench_train_throughput.py`` for the rates.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import torch

from ssl_core.train import TrainConfig, Trainer

PARTS = (r"(_train_step|_next_batch|data.py.*__getitem__|_batched|v2/_container.py:49|"
         r"training_step|run_backward|on_train_step_end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="dino", choices=("simclr", "dino", "mae", "unet_mae"))
    parser.add_argument("--backbone", default="cnn_small_28")
    parser.add_argument("--views", default="per-image", choices=("batched", "per-image"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lines", type=int, default=14)
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = Trainer(TrainConfig(method=args.method, backbone=args.backbone, steps=2,
                              batch_size=args.batch_size, views=args.views))
    steps = run.steps()
    next(steps)  # warm-up
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    next(steps)
    profile.disable()
    stats = pstats.Stats(profile)
    print(f"{args.method} {args.backbone} {args.views}, batch {args.batch_size}: one step "
          f"{stats.total_tt:.2f} s CPU")
    stats.sort_stats("cumulative").print_stats(PARTS, args.lines)


if __name__ == "__main__":
    main()
