"""``python -m ssl_core.probe``: kNN and linear-probe accuracy of pretrained encoders, as a report.

Example::

    python -m ssl_core.probe --checkpoint runs/simclr --baselines
    # -> outputs/probe-simclr.json and outputs/probe-simclr.md

The evaluation is :mod:`ssl_core.eval.report` (kNN k=200 / k=20 and the linear probe with all
labels and with ``--labels-per-class`` labels per class, on the frozen encoder, plus the
random-init and raw-pixel baselines with ``--baselines``) on Fashion-MNIST: training set = the
train split (the bundled subset, or all of it with ``--data full``), test set = the test
images. ``--finetune`` adds end-to-end fine-tuning on ``--labels-per-class`` labels per class
against the same backbone trained from scratch on them (:mod:`ssl_core.eval.finetune`).
``--protocol full`` is the whole protocol at once: ``--data full --baselines --finetune``.
This module only parses the arguments and writes the files.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "expand_protocol", "main"]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "checkpoint"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ssl_core.probe",
        description="kNN and linear-probe accuracy of pretrained encoders on Fashion-MNIST; "
        "writes OUT/probe-<checkpoint name>.json and .md.",
        epilog="Defaults in brackets.",
    )
    parser.add_argument("--checkpoint", nargs="+", required=True, metavar="DIR",
                        help="checkpoint directories written by ssl_core.pretrain")
    parser.add_argument("--protocol", choices=("custom", "full"), default="custom",
                        help="full: the whole protocol, --data full --baselines --finetune "
                        "[custom: the flags as given]")
    parser.add_argument("--data", choices=("bundled", "full"), default="bundled",
                        help="Fashion-MNIST train set: the bundled 20,000 or the full 60,000; "
                        "the test set is always the 10,000 test images [bundled]")
    parser.add_argument("--data-root", help="where --data full looks [data/, then Debian's]")
    parser.add_argument("--baselines", action="store_true",
                        help="add the same backbone at random init and raw pixels")
    parser.add_argument("--labels-per-class", type=int, default=100,
                        help="labels per class of the label-scarce linear probe and of "
                        "fine-tuning [100]")
    parser.add_argument("--finetune", action="store_true",
                        help="add end-to-end fine-tuning on those labels vs the same backbone "
                        "from scratch (a few CPU-minutes per checkpoint)")
    parser.add_argument("--finetune-epochs", type=int, default=50,
                        help="epochs of both fine-tuning runs [50]")
    parser.add_argument("--solver", choices=("torch", "sklearn"), default="torch",
                        help="linear-probe solver; both minimise the same objective [torch: "
                        "full-batch L-BFGS, faster here]")
    parser.add_argument("--max-iter", type=int, default=1000, help="L-BFGS iterations [1000]")
    parser.add_argument("--seed", type=int, default=0, help="label subset and random init [0]")
    parser.add_argument("--limit-train", type=int, metavar="N",
                        help="use a fixed random subset of N train images (quick checks) [all]")
    parser.add_argument("--limit-test", type=int, metavar="N",
                        help="use a fixed random subset of N test images (quick checks) [all]")
    parser.add_argument("--out", default="outputs", help="output directory [outputs]")
    return parser


def expand_protocol(args: argparse.Namespace) -> argparse.Namespace:
    """``--protocol full`` sets the flags it stands for: ``--data full --baselines --finetune``."""
    if args.protocol == "full":
        args.data, args.baselines, args.finetune = "full", True, True
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = expand_protocol(parser.parse_args(argv))
    from ssl_core.checkpoints import CheckpointError
    from ssl_core.data import DataError, array_subset, load_fashion_mnist
    from ssl_core.eval.finetune import FINETUNE_CONFIG, finetune_comparison
    from ssl_core.eval.report import probe_checkpoint, render_markdown

    try:
        source = "bundled" if args.data == "bundled" else "full"
        train_set = load_fashion_mnist("train", source=source, root=args.data_root)
        test_set = load_fashion_mnist("test", source=source, root=args.data_root)
        train = array_subset(train_set, args.limit_train, seed=args.seed)
        test = array_subset(test_set, args.limit_test, seed=args.seed)
        data_label = (
            f"Fashion-MNIST ({'bundled subset' if source == 'bundled' else 'full'}): "
            f"{len(train[1]):,} train images (labels for the probes), {len(test[1]):,} test "
            "images"
        )
        if args.limit_train or args.limit_test:
            data_label += " (subsets from --limit-train/--limit-test)"
        out = Path(args.out)
        cache: dict[str, Any] = {}
        for checkpoint in args.checkpoint:
            report = probe_checkpoint(
                checkpoint, train=train, test=test, data_label=data_label,
                baselines=args.baselines, labels_per_class=args.labels_per_class,
                solver=args.solver, max_iter=args.max_iter, seed=args.seed,
                raw_pixels_cache=cache,
            )
            if args.finetune:
                print(f"[{report['name']}] fine-tuning vs from scratch on "
                      f"{args.labels_per_class} labels per class", file=sys.stderr, flush=True)
                report["finetune"] = finetune_comparison(
                    checkpoint, train=train, test=test, labels_per_class=args.labels_per_class,
                    seed=args.seed,
                    config=replace(FINETUNE_CONFIG, epochs=args.finetune_epochs, seed=args.seed))
            out.mkdir(parents=True, exist_ok=True)
            stem = out / f"probe-{_safe_name(report['name'])}"
            Path(f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
            markdown = render_markdown(report)
            Path(f"{stem}.md").write_text(markdown)
            print(markdown)
            print(f"wrote {stem}.json and {stem}.md", file=sys.stderr, flush=True)
    except (DataError, CheckpointError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
