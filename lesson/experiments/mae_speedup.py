"""``python3 -m lesson.experiments.mae_speedup``: how much faster MAE's encoder runs when it sees
only the visible patches, at every mask ratio the MAE page's slider offers (0.05, 0.1, ...,
0.95).

For each encoder it times the forward pass of ``ViT.forward_tokens`` on CLS + the ``(1 - r) L``
kept patches (what MAE's encoder does, ``ids_keep``) and on CLS + all L patches, under
``torch.inference_mode``, and reports all-tokens time / kept-tokens time. Encoders:

- ``vit_tiny_p4_28``: the bundled Fashion-MNIST MAE's encoder (49 patches);
- ``vit_tiny_p8_64``: the bundled colour MAE's encoder (64 patches);
- ``vit_b16_224``: a ViT-B/16-sized encoder at 224 px (196 patches, D=768, 12 blocks, 12 heads,
  random weights: the speed does not depend on them), the size the MAE paper's speed-ups are for.

Each ratio is timed in ``--repeats`` pairs (all tokens, then kept tokens, back to back, after a
warm-up pair) and the speed-up is the median of the pairs' ratios, so that a shared machine's
drifting load cancels out; on this machine's CPU (or the device given). Timing belongs to
benchmarks (``benchmarks/bench_mae_speedup.py`` times whole training steps); this one writes
``assets/results/mae_speedup.json`` so that the MAE page shows a measured figure without
timing anything on page load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lesson.results import Record, Result, experiment_parser, run_experiment_cli

__all__ = ["ENCODERS", "RATIOS", "EncoderTiming", "MaeSpeedupResult", "build_parser", "main",
           "run", "speedup_sentence"]

RATIOS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # the MAE page's slider: 0.05 ... 0.95
# name -> (registry backbone, overrides, label, batch size)
ENCODERS: dict[str, tuple[str, dict[str, Any], str, int]] = {
    "vit_tiny_p4_28": ("vit_tiny_p4_28", {}, "tiny ViT, 28 px gray (the bundled MAE)", 64),
    "vit_tiny_p8_64": ("vit_tiny_p8_64", {}, "tiny ViT, 64 px colour (the colour MAE)", 64),
    "vit_b16_224": ("vit_tiny_p16_224", {"embed_dim": 768, "depth": 12, "num_heads": 12},
                    "ViT-B/16-sized, 224 px", 2),
}


@dataclass(frozen=True, kw_only=True)
class EncoderTiming(Record):
    """One encoder: the all-tokens time and, per ratio, the kept-tokens time and speed-up."""

    name: str
    label: str
    patches: int
    embed_dim: int
    depth: int
    batch_size: int
    all_tokens_ms: float
    kept_ms: list[float]  # per ratio of the result
    speedup: list[float]  # all_tokens_ms / kept_ms, per ratio


@dataclass(frozen=True, kw_only=True)
class MaeSpeedupResult(Result):
    """The ``mae_speedup`` result: encoder forward time, visible patches only vs all."""

    NAME = "mae_speedup"

    ratios: list[float]
    repeats: int
    device: str
    encoders: list[EncoderTiming]
    protocol: str

    def at(self, name: str, ratio: float) -> tuple[EncoderTiming, float, float] | None:
        """Encoder ``name``, the measured ratio nearest ``ratio`` and its speed-up; None when
        that encoder was not measured."""
        for timing in self.encoders:
            if timing.name == name:
                i = int(np.argmin(np.abs(np.asarray(self.ratios) - ratio)))
                return timing, self.ratios[i], timing.speedup[i]
        return None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _time_ms(encoder: torch.nn.Module, images: torch.Tensor, ids_keep: torch.Tensor | None
             ) -> float:
    """Milliseconds of one ``encoder.forward_tokens(images, ids_keep)``."""
    if images.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    encoder.forward_tokens(images, ids_keep=ids_keep)  # (B, 1 + L_keep, D)
    if images.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def _paired(encoder: torch.nn.Module, images: torch.Tensor, ids_keep: torch.Tensor,
            repeats: int) -> tuple[list[float], list[float]]:
    """``repeats`` (all tokens, kept tokens) timings, each pair back to back after one warm-up
    pair: on a shared machine the load drifts, and a pair sees nearly the same load."""
    full, kept = [], []
    with torch.inference_mode():
        for i in range(repeats + 1):
            pair = (_time_ms(encoder, images, None), _time_ms(encoder, images, ids_keep))
            if i:  # the first pair warms up allocators and kernels
                full.append(pair[0])
                kept.append(pair[1])
    return full, kept


def run(*, encoders: Sequence[str] = tuple(ENCODERS), ratios: Sequence[float] = RATIOS,
        repeats: int = 3, device: str = "cpu") -> dict[str, Any]:
    """Time each encoder at each ratio; the JSON form of :class:`MaeSpeedupResult`."""
    from ssl_core.masking import random_masking
    from ssl_core.models import build_backbone

    unknown = [name for name in encoders if name not in ENCODERS]
    if unknown:
        raise ValueError(f"unknown encoder(s) {unknown}; choose from {list(ENCODERS)}")
    if not ratios or any(not 0.0 < float(r) < 1.0 for r in ratios):
        raise ValueError(f"ratios must be in (0, 1); got {list(ratios)}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    ratios = [float(r) for r in ratios]
    dev = torch.device(device)
    timings = []
    for name in encoders:
        backbone, overrides, label, batch = ENCODERS[name]
        torch.manual_seed(0)
        encoder = build_backbone(backbone, **overrides).to(dev).eval()
        cfg = encoder.config
        side, chans = cfg.img_size, cfg.in_chans
        side = side[0] if isinstance(side, tuple | list) else side
        patches = (side // cfg.patch_size) ** 2
        images = torch.rand(batch, chans, side, side, device=dev)  # (B, C, H, W)
        all_full, kept, speedups = [], [], []
        for ratio in ratios:
            ids_keep = random_masking(batch, patches, ratio, seed=0).ids_keep.to(dev)  # (B, L_k)
            full_ms, kept_ms = _paired(encoder, images, ids_keep, repeats)
            all_full += full_ms
            kept.append(statistics.median(kept_ms))
            speedups.append(statistics.median(f / k for f, k in zip(full_ms, kept_ms,
                                                                     strict=True)))
        full = statistics.median(all_full)
        _log(f"[mae_speedup] {name}: all {full:.1f} ms, speed-ups "
             + " ".join(f"{r:g}:{x:.2f}x" for r, x in zip(ratios, speedups, strict=True)))
        timings.append({"name": name, "label": label, "patches": patches,
                        "embed_dim": int(cfg.embed_dim), "depth": int(cfg.depth),
                        "batch_size": batch, "all_tokens_ms": full, "kept_ms": kept,
                        "speedup": speedups})
    return {"ratios": ratios, "repeats": repeats, "device": str(dev), "encoders": timings,
            "protocol": (f"forward pass of the ViT encoder (ViT.forward_tokens, inference mode) "
                         f"on a batch of random images: CLS + the patches a random mask at each "
                         f"ratio keeps, against CLS + every patch, timed back to back in "
                         f"{repeats} pairs after a warm-up pair, on {dev}; speed-up = median "
                         f"over the pairs of all-tokens time / kept time")}


def speedup_sentence(result: MaeSpeedupResult, ratio: float) -> str:
    """The measured encoder speed-ups at ``ratio`` (the nearest measured), as one sentence."""
    parts = []
    for timing in result.encoders:
        found = result.at(timing.name, ratio)
        assert found is not None  # the encoder is in the result
        _, measured_ratio, speedup = found
        parts.append(f"{timing.label}: {speedup:.1f}x "
                     f"({timing.all_tokens_ms:.0f} ms for all {timing.patches} patches)")
    nearest = result.ratios[int(np.argmin(np.abs(np.asarray(result.ratios) - ratio)))]
    return (f"Encoding only the visible patches at mask ratio {nearest:g} makes the encoder's "
            f"forward pass faster by " + "; ".join(parts) + f" (measured on {result.device}).")


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser(
        "mae_speedup",
        "Encoder forward time on the visible patches only vs all patches, at the MAE page's "
        "mask ratios; writes assets/results/mae_speedup.json",
    )
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS),
                        help=f"encoders to time {list(ENCODERS)}")
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS),
                        help="mask ratios [0.05 0.1 ... 0.95]")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed pairs (all tokens, kept) per ratio [3]")
    parser.add_argument("--device", default="cpu", help="torch device [cpu]")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads [torch's default]")
    parser.add_argument("--results-dir", help="where to write mae_speedup.json [assets/results]")
    return parser


def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return run(encoders=args.encoders, ratios=args.ratios, repeats=args.repeats,
               device=args.device)


def main(argv: Sequence[str] | None = None) -> int:
    return run_experiment_cli(MaeSpeedupResult, build_parser(), argv, _run)


if __name__ == "__main__":
    raise SystemExit(main())
