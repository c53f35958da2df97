"""Training throughput (images/s) per method and backbone on this machine, through the Trainer.

    python benchmarks/bench_train_throughput.py [--batch-size 64] [--steps 6]
        [--methods simclr dino mae unet_mae] [--backbones vit_tiny_p4_28 ...]
        [--views batched per-image] [--compare-lightly] [--threads 1]

Runs ``ssl_core.train.Trainer`` on the bundled Fashion-MNIST (28 px, 1 channel) with
``num_workers=0`` and reports, after one warm-up step, the median over the timed steps of:

- ``end to end``: global batch / wall time of a whole step (views + forward + backward + AdamW),
  the ``images_per_s`` the trainer logs;
- ``views``: images/s of making the batch alone (``StepBatches``: crops, jitter, multi-crop);
- ``model``: images/s of the rest (end-to-end time minus view time).

``--clock cpu`` times with this process's CPU time instead of the wall clock: with
``--threads 1`` it counts the work of a step, not the time spent waiting for a core that other
jobs hold, so it is the steadier figure on a shared machine (DataLoader workers, none here, would
not be counted).

``--views`` picks how the trainer makes the views (``TrainConfig.views``): ``batched`` (the
default training path, :mod:`ssl_core.augment.batched`: one tensor op per stage for the whole
batch) and/or ``per-image`` (the traceable torchvision v2 pipeline of the Augmentations page, one
image at a time: what training ran before the batched path). Both rows in one command give the
before/after of the batched views.

``--compare-lightly`` adds, for SimCLR and DINO, a row for lightly's step on the same backbone
(our encoder module, through ``forward_features``), batch and 28 px 1-channel input: lightly's
heads and losses (``SimCLRProjectionHead`` + ``NTXentLoss``; ``DINOProjectionHead`` +
``DINOLoss`` with an EMA teacher moved by ``update_momentum``), sized as our methods' defaults,
forward passes per view as lightly's examples do, AdamW, and lightly's own per-image transforms
(``SimCLRTransform`` / ``DINOTransform`` on PIL images, set to our view configs' ranges,
``normalize=None``), timed the same way (median of the timed steps after one warm-up).

lightly is an optional, benchmark-only dependency, not in requirements-dev.txt (its pip
dependencies pull pytorch-lightning and hydra; the pieces used here import only torch and
torchvision): ``pip install --no-deps lightly==1.6.0``. Without it ``--compare-lightly`` says so
and prints our rows only.

DINO uses its default 2 global + 8 local crops (the views dominate on CPU; ``--augment n_local=4``
on the CLI halves them). Method/backbone pairs that do not fit (MAE needs a ViT, unet_mae a
U-Net) are skipped.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_threads import parse_args_with_threads  # benchmarks/torch_threads.py

from ssl_core.train import TrainConfig, Trainer

PAIRS = {
    "simclr": ["vit_tiny_p4_28", "vit_small_p4_28", "cnn_small_28"],
    "dino": ["vit_tiny_p4_28", "vit_small_p4_28", "cnn_small_28"],
    "mae": ["vit_tiny_p4_28", "vit_small_p4_28"],
    "unet_mae": ["unet_tiny_28"],
}
VIEW_PATHS = ("batched", "per-image")
LIGHTLY_METHODS = ("simclr", "dino")
LIGHTLY_INSTALL = "pip install --no-deps lightly==1.6.0"
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="timed steps (after 1 warm-up)")
    parser.add_argument("--methods", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--backbones", nargs="+", default=None,
                        help="default: every backbone listed for the method")
    parser.add_argument("--views", nargs="+", default=["batched"], choices=VIEW_PATHS,
                        help="how the trainer makes the views: batched (training's path) and/or "
                        "per-image (the v2 pipeline one image at a time, the path before)")
    parser.add_argument("--compare-lightly", action="store_true",
                        help="add lightly's SimCLR/DINO step on the same backbone and batch "
                        f"(needs lightly: {LIGHTLY_INSTALL})")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="wall: elapsed time (what a user waits); cpu: this process's CPU "
                        "time, steadier on a machine other jobs load (use with --threads 1)")
    return parser


def measure(method: str, backbone: str, *, batch_size: int, steps: int,
            views: str = "batched", clock: str = "wall") -> dict[str, float]:
    tick = CLOCKS[clock]
    run = Trainer(TrainConfig(method=method, backbone=backbone, steps=steps + 1,
                              batch_size=batch_size, views=views))
    totals, view_times = [], []
    stepping = run.steps()
    while True:
        start = tick()
        metrics = next(stepping, None)
        if metrics is None:
            break
        step_time = tick() - start if clock == "cpu" else metrics["step_time_s"]
        step = metrics["step"]
        start = tick()
        run.batches[step - 1]  # the same batch again: what making the views costs
        view_time = tick() - start
        if step > 1:  # the first step warms up
            totals.append(step_time)
            view_times.append(view_time)
    return rates(batch_size, totals, view_times)


def rates(batch_size: int, totals: Sequence[float], view_times: Sequence[float]
          ) -> dict[str, float]:
    """images/s from the per-step wall times: whole step, views alone, and the rest (model)."""
    total, view = statistics.median(totals), statistics.median(view_times)
    return {"end_to_end": batch_size / total, "views": batch_size / view,
            "model": batch_size / max(total - view, 1e-9)}


# -- lightly's step -----------------------------------------------------------------------------


def lightly_available() -> bool:
    try:
        import lightly.loss  # noqa: F401
        import lightly.models.modules  # noqa: F401
        import lightly.transforms  # noqa: F401
    except ImportError:
        return False
    return True


class _Features(nn.Module):
    """Our backbone as lightly's examples use one: ``x -> (B, D)`` features."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone.forward_features(x)


def lightly_transform(method: str, *, size: int = 28, local_size: int = 12, n_local: int = 8
                      ) -> Callable[[Any], list[Tensor]]:
    """lightly's per-image transform for ``method``, set to the ranges of our default view
    configs (``ViewConfig`` at 28 px for SimCLR: no blur below 64 px; ``MultiCropConfig`` for
    DINO, whose defaults are DINO's and so lightly's), without normalisation (1 channel).

    PIL image -> list of float tensors ``(1, s, s)``: 2 for SimCLR; 2 global then ``n_local``
    local crops for DINO."""
    from lightly.transforms import DINOTransform, SimCLRTransform

    from ssl_core.augment import MultiCropConfig, ViewConfig

    if method == "simclr":
        v = ViewConfig(size=size)
        # lightly scales cj_bright/contrast/sat/hue by cj_strength: 0.5 x (0.8, 0.8, 0.8, 0.2)
        # gives our (0.4, 0.4, 0.4, 0.1).
        return SimCLRTransform(
            input_size=size, cj_prob=v.jitter_p, cj_strength=0.5, cj_bright=2 * v.brightness,
            cj_contrast=2 * v.contrast, cj_sat=2 * v.saturation, cj_hue=2 * v.hue,
            min_scale=v.scale[0], random_gray_scale=v.grayscale_p,
            gaussian_blur=0.5 if size >= 64 else 0.0, sigmas=v.blur_sigma, hf_prob=v.hflip_p,
            normalize=None)
    if method == "dino":
        m = MultiCropConfig(global_size=size, local_size=local_size, n_local=n_local)
        return DINOTransform(
            global_crop_size=size, global_crop_scale=m.global_scale, local_crop_size=local_size,
            local_crop_scale=m.local_scale, n_local_views=n_local, hf_prob=m.hflip_p,
            cj_prob=m.jitter_p, cj_strength=0.5, cj_bright=2 * m.brightness,
            cj_contrast=2 * m.contrast, cj_sat=2 * m.saturation, cj_hue=2 * m.hue,
            random_gray_scale=m.grayscale_p,
            gaussian_blur=(*m.global_blur_p, m.local_blur_p), sigmas=m.blur_sigma,
            solarization_prob=m.global_solarize_p[1], normalize=None)
    raise ValueError(f"no lightly transform for {method!r}; known: {LIGHTLY_METHODS}")


def lightly_batch(images: np.ndarray, transform: Callable[[Any], list[Tensor]]) -> list[Tensor]:
    """uint8 ``(B, H, W)`` images -> one ``(B, 1, s, s)`` batch per view, as lightly's data path
    makes them: a PIL image each, the transform per image, then stacked per view."""
    import PIL.Image

    samples = [transform(PIL.Image.fromarray(image)) for image in images]
    return [torch.stack([s[v] for s in samples]) for v in range(len(samples[0]))]


class LightlyStep:
    """One training step as lightly's SimCLR / DINO examples write it, on our backbone:
    ``step(views) -> loss`` runs forward, backward and AdamW (and, for DINO, the teacher's EMA).

    Heads sized as our methods' defaults (:class:`~ssl_core.methods.simclr.SimCLRConfig`,
    :class:`~ssl_core.methods.dino.DINOConfig`)."""

    def __init__(self, method: str, backbone: str, *, lr: float = 1e-3,
                 weight_decay: float = 0.05) -> None:
        from lightly.loss import DINOLoss, NTXentLoss
        from lightly.models.modules import DINOProjectionHead, SimCLRProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        # lightly's DINOProjectionHead still uses torch.nn.utils.weight_norm (deprecated).
        warnings.filterwarnings("ignore", message=".*weight_norm.* is deprecated",
                                category=FutureWarning)

        from ssl_core.methods.dino import DINOConfig
        from ssl_core.methods.simclr import SimCLRConfig
        from ssl_core.models.registry import build_backbone

        self.method = method
        encoder = _Features(build_backbone(backbone))
        dim = encoder.backbone.embed_dim
        if method == "simclr":
            c = SimCLRConfig()
            head = SimCLRProjectionHead(input_dim=dim, hidden_dim=c.proj_hidden_dim,
                                        output_dim=c.proj_out_dim, num_layers=c.proj_layers)
            self.student = nn.Sequential(encoder, head)
            self.teacher = None
            self.loss_fn = NTXentLoss(temperature=c.temperature)
        elif method == "dino":
            c = DINOConfig()
            def dino_head() -> nn.Module:
                return DINOProjectionHead(input_dim=dim, hidden_dim=c.head_hidden_dim,
                                          bottleneck_dim=c.head_bottleneck_dim,
                                          output_dim=c.out_dim, batch_norm=c.head_use_bn,
                                          norm_last_layer=c.norm_last_layer)

            self.student = nn.Sequential(encoder, dino_head())
            # As lightly's DINO example: a copy of the backbone and a head built anew (a
            # weight-normalised layer cannot be deep-copied).
            self.teacher = nn.Sequential(copy.deepcopy(encoder), dino_head())
            deactivate_requires_grad(self.teacher)
            self.momentum = c.momentum_base
            self.loss_fn = DINOLoss(output_dim=c.out_dim, warmup_teacher_temp=c.teacher_temp,
                                    teacher_temp=c.teacher_temp, warmup_teacher_temp_epochs=0,
                                    student_temp=c.student_temp,
                                    center_momentum=c.center_momentum)
        else:
            raise ValueError(f"no lightly step for {method!r}; known: {LIGHTLY_METHODS}")
        params = [p for p in self.student.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def __call__(self, views: Sequence[Tensor]) -> float:
        self.student.train()
        if self.teacher is None:  # SimCLR: z0 = model(x0); z1 = model(x1); criterion(z0, z1)
            loss = self.loss_fn(self.student(views[0]), self.student(views[1]))
        else:  # DINO: the teacher on the 2 global crops, the student on every crop
            from lightly.models.utils import update_momentum

            self.teacher.eval()
            with torch.no_grad():
                teacher_out = [self.teacher(v) for v in views[:2]]
            student_out = [self.student(v) for v in views]
            loss = self.loss_fn(teacher_out, student_out)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.teacher is not None:
            update_momentum(self.student, self.teacher, m=self.momentum)
        return float(loss.detach())


def measure_lightly(method: str, backbone: str, *, batch_size: int, steps: int,
                    seed: int = 0, clock: str = "wall") -> dict[str, float]:
    """lightly's step on the bundled images: views by lightly's per-image transform (timed
    apart), then :class:`LightlyStep`; median over ``steps`` steps after one warm-up."""
    from ssl_core.train import load_train_data

    torch.manual_seed(seed)  # lightly's transforms draw from the global RNG
    dataset, _ = load_train_data("bundled")
    images = np.asarray(dataset.images)  # (N, 28, 28) uint8
    step_fn = LightlyStep(method, backbone)
    transform = lightly_transform(method, size=images.shape[-1])
    order = np.random.default_rng(seed).permutation(len(images))
    tick = CLOCKS[clock]
    totals, view_times = [], []
    for step in range(steps + 1):
        start = tick()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # per-image work, as our per-image path makes its views
        try:
            views = lightly_batch(images[order[step * batch_size:(step + 1) * batch_size]],
                                  transform)
        finally:
            torch.set_num_threads(threads)
        made = tick()
        step_fn(views)
        if step > 0:  # the first step warms up
            totals.append(tick() - start)
            view_times.append(made - start)
    return rates(batch_size, totals, view_times)


def main() -> None:
    args = parse_args_with_threads(build_parser())
    lightly = args.compare_lightly and lightly_available()
    if args.compare_lightly and not lightly:
        print(f"lightly is not installed: no lightly rows ({LIGHTLY_INSTALL} to add them)")
    print(f"images/s ({args.clock} clock), batch {args.batch_size}, CPU with "
          f"{torch.get_num_threads()} threads, median of {args.steps} steps after 1 warm-up")
    print(f"{'step':<8} {'method':<9} {'backbone':<17} {'views':<10} {'end to end':>10} "
          f"{'views':>8} {'model':>8}")
    for method in args.methods:
        for backbone in args.backbones or PAIRS[method]:
            rows = [("ours", path) for path in args.views]
            if lightly and method in LIGHTLY_METHODS:
                rows.append(("lightly", "lightly"))
            for who, path in rows:
                label = f"{who:<8} {method:<9} {backbone:<17} {path:<10}"
                try:
                    if who == "lightly":
                        r = measure_lightly(method, backbone, batch_size=args.batch_size,
                                            steps=args.steps, clock=args.clock)
                    else:
                        r = measure(method, backbone, batch_size=args.batch_size,
                                    steps=args.steps, views=path, clock=args.clock)
                except ValueError as err:  # e.g. MAE on a CNN
                    print(f"{label} skipped: {str(err)[:60]}")
                    break
                print(f"{label} {r['end_to_end']:>10.0f} {r['views']:>8.0f} "
                      f"{r['model']:>8.0f}", flush=True)

if __name__ == "__main__":
    main()
