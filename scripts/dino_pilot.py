"""A short DINO pilot: does a recipe stay clear of collapse over its first steps?

    python3 scripts/dino_pilot.py --pilot-steps 400 --backbone cnn_base_28 \\
        --data fashion-mnist-full --epochs 30 --batch-size 256 --lr 5e-4 --grad-clip 3 \\
        --channels-last --precision bf16-mixed --accelerator cpu --augment n_local=4 \\
        --method-config out_dim=4096 head_use_bn=True norm_last_layer=False \\
            momentum_base=0.996 freeze_last_layer_epochs=1

Takes ``python -m ssl_core.pretrain``'s options (the recipe; ``--method`` is dino) and builds
the run as pretrain would (so the warm-up and cosine schedules are the full run's), stops after
``--pilot-steps``, prints the collapse
diagnostics every ``--every`` steps (loss against ln K, teacher entropy against its maximum,
output spread, the largest dimension's share) and ends with weighted kNN k=20 / k=200 of the
teacher on a fixed bank of full-train images, scored on a fixed subset of the test split. A
run whose loss sits at ln K with the teacher's entropy at its maximum has collapsed to uniform.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def build_parser() -> argparse.ArgumentParser:
    """``python -m ssl_core.pretrain``'s options (the recipe), plus the pilot's own."""
    from ssl_core.pretrain import build_parser as pretrain_parser

    parser = pretrain_parser()
    parser.prog = "python3 scripts/dino_pilot.py"
    parser.description = __doc__.split("\n\n")[0]
    pilot = parser.add_argument_group("pilot")
    pilot.add_argument("--pilot-steps", type=int, default=400, help="steps to run [400]")
    pilot.add_argument("--bank", type=int, default=10_000, help="kNN bank of train images")
    pilot.add_argument("--test", type=int, default=2_000, help="test images scored")
    pilot.add_argument("--every", type=int, default=25, help="print every N steps [25]")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import numpy as np

    from ssl_core.data import load_fashion_mnist
    from ssl_core.eval.features import extract_features
    from ssl_core.eval.knn import knn_accuracy
    from ssl_core.pretrain import given_fields
    from ssl_core.train import TrainConfig, Trainer

    args = build_parser().parse_args(argv)
    given = given_fields(args) | {"method": "dino"}
    given.pop("out_dir", None)
    if "epochs" in given:
        given["steps"] = None
    config = TrainConfig(**given)
    started = time.perf_counter()
    run = Trainer(config)
    print(f"{run.total_steps} steps in the full run, warm-up {run.warmup_steps}, lr "
          f"{run.config.lr:.2e}; piloting {args.pilot_steps}; ln K = "
          f"{math.log(run.method.config.out_dim):.3f}", flush=True)
    for m in run.steps(max_steps=args.pilot_steps):
        if m["step"] % args.every == 0 or m["step"] == 1:
            spread = m["output_std"] / max(m["output_std_ref"], 1e-12)
            print(f"step {m['step']:5d} {time.perf_counter() - started:6.0f} s  loss "
                  f"{m['loss']:.3f}  teacher entropy {m['teacher_entropy']:.2f}/"
                  f"{m['max_entropy']:.2f}  spread {spread:.2f}  top share "
                  f"{m['dominant_dim_share']:.3f}  lr {m['lr']:.2e}", flush=True)
    train = load_fashion_mnist("train", source="full")
    test = load_fashion_mnist("test", source="full")
    rng = np.random.default_rng(0)
    bank = rng.permutation(len(train.labels))[:args.bank]
    query = rng.permutation(len(test.labels))[:args.test]
    bank_x, bank_y = np.asarray(train.images)[bank], np.asarray(train.labels)[bank]
    test_x, test_y = np.asarray(test.images)[query], np.asarray(test.labels)[query]
    encoder = run.encoder.eval()
    a, _ = extract_features(encoder, (bank_x, bank_y))
    b, _ = extract_features(encoder, (test_x, test_y))
    scores = [knn_accuracy(a, bank_y, b, test_y, k=k) for k in (20, 200)]
    print(f"after {args.pilot_steps} steps ({time.perf_counter() - started:.0f} s): kNN k=20 "
          f"{scores[0]:.3f}, k=200 {scores[1]:.3f} ({args.bank:,} train bank, {args.test:,} "
          "test images)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
