"""MAE's speed-up from encoding visible patches only: a training step at mask 0.75 vs all tokens.

    python benchmarks/bench_mae_speedup.py [--backbones vit_tiny_p4_28 vit_tiny_p16_224]
        [--batch-size 64] [--repeats 5] [--device cpu]

For each backbone it times one full MAE training step -- patchify, encode, decode, loss,
backward, AdamW step -- of the same model (``ssl_core.methods.MAE``) twice:

- ``mask 0.75``: the encoder sees CLS + 25% of the patches (MAE);
- ``all tokens``: the encoder sees CLS + every patch (``ids_keep`` = all patches, no mask token
  is inserted), the decoder the same L positions and the loss covers every patch.

The decoder always runs on all L positions, so the speed-up grows with the encoder's share of
the compute: the MAE paper reports 2.8-4.1x for ViT-L/H with a light decoder (its Table 2).
Prints the median step time of ``--repeats`` timed steps after one warm-up step, and the ratio.
The encoder alone, at every mask ratio and with a results file the MAE page reads, is
``python3 -m lesson.experiments.mae_speedup``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch_threads import parse_args_with_threads  # benchmarks/torch_threads.py

from ssl_core.masking import MaskResult
from ssl_core.methods import build_method


def all_tokens(batch: int, num_patches: int, device: torch.device) -> MaskResult:
    """Every patch visible, in raster order; mask = 1 everywhere so the loss counts all."""
    ids = torch.arange(num_patches, device=device).expand(batch, -1)  # (B, L)
    return MaskResult(ids_keep=ids, mask=torch.ones(batch, num_patches, device=device),
                      ids_restore=ids)


def time_steps(method: torch.nn.Module, images: torch.Tensor, *, full: bool, repeats: int
               ) -> float:
    """Median seconds of one training step (forward, backward, AdamW)."""
    optimizer = torch.optim.AdamW(method.trainable_parameters(), lr=1e-4)
    device = images.device
    times = []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        masks = (all_tokens(images.shape[0], method.num_patches, device) if full
                 else method.random_mask(images.shape[0], device=device))
        pred = method.predict(images, masks)  # (B, L, P)
        loss = method.loss(pred, method.patchify(images), masks.mask)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+",
                        default=["vit_tiny_p4_28", "vit_small_p4_28", "vit_tiny_p16_224"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parse_args_with_threads(parser)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"MAE training step, batch {args.batch_size}, {device}, "
          f"{torch.get_num_threads()} threads; median of {args.repeats} steps")
    print(f"{'backbone':<20} {'tokens':>7} {'mask ' + str(args.mask_ratio):>12} "
          f"{'all tokens':>12} {'speed-up':>9}")
    for name in args.backbones:
        method = build_method("mae", backbone=name,
                              config={"mask_ratio": args.mask_ratio}).to(device).train()
        c, (h, w) = method.backbone.in_chans, method.backbone.img_size
        images = torch.rand(args.batch_size, c, h, w, device=device)
        masked = time_steps(method, images, full=False, repeats=args.repeats)
        full = time_steps(method, images, full=True, repeats=args.repeats)
        print(f"{name:<20} {method.num_patches:>7} {masked * 1e3:>10.1f}ms {full * 1e3:>10.1f}ms "
              f"{full / masked:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
