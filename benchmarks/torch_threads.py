"""``--threads``, the option the CPU timing benchmarks share: how many intra-op threads torch uses
while they measure."""

from __future__ import annotations

import argparse

import torch


def parse_args_with_threads(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add ``--threads`` to ``parser``, parse the command line, and apply it to torch."""
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads [torch's default]; 1 gives steadier "
                        "figures on a machine other jobs share")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return args
