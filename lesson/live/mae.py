"""MAE trained live: a fixed strip of masked test images, reconstructed better and better.

:func:`live_run` trains a small MAE (:class:`LiveMAEConfig`: a two-block ViT on 4 px patches,
sized for one CPU thread) through the real :class:`ssl_core.train.Trainer`, and yields a frame
before the first step and every few steps after it: the reconstructions of a fixed **strip**
(:func:`make_strip`: one bundled test image per class, each under its own fixed random mask at
the config's ratio) and their masked-patch MSE, beside the classical baseline's, biharmonic
inpainting (:func:`ssl_core.masking.biharmonic_masked`), computed once per run: the error the
model has to beat.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lesson.live.dino import check_positive
from lesson.live.framed import framed_steps, live_train_config
from ssl_core.images import images_to_batch
from ssl_core.losses.mae import masked_patch_errors
from ssl_core.masking import biharmonic_masked, make_mask, mask_to_image
from ssl_core.train import TrainConfig, Trainer

__all__ = ["DEFAULT_RECIPE", "LIVE_STEPS", "LiveMAEConfig", "Strip", "live_run", "make_strip",
           "strip_frame"]


@dataclass(frozen=True)
class LiveMAEConfig:
    """An MAE small enough to train live on one CPU thread. Every field is a plain value."""

    mask_ratio: float = 0.75  # MAE's default
    batch_size: int = 64
    backbone: str = "vit_tiny_p4_28"  # 4 px patches: a 7 x 7 grid
    depth: int = 2
    embed_dim: int = 64
    num_heads: int = 2
    decoder_dim: int = 64
    decoder_depth: int = 1
    decoder_heads: int = 2
    lr: float = 2e-3  # peak AdamW rate; warm-up over warmup_steps, then cosine
    warmup_steps: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or (
            self.batch_size < 1
        ):
            raise ValueError(f"batch_size must be an int >= 1; got {self.batch_size!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number; got {self.lr}")
        self.train_config(steps=1)  # validates the mask ratio, the decoder, ...

    def train_config(self, *, steps: int) -> TrainConfig:
        """The :class:`~ssl_core.train.TrainConfig` of a run of ``steps`` optimiser steps."""
        from ssl_core.methods.mae import MAEConfig

        method = MAEConfig(mask_ratio=self.mask_ratio, decoder_dim=self.decoder_dim,
                           decoder_depth=self.decoder_depth, decoder_heads=self.decoder_heads)
        return live_train_config(self, method="mae", method_config=method, steps=steps,
                                 backbone_kwargs={"depth": self.depth,
                                                  "embed_dim": self.embed_dim,
                                                  "num_heads": self.num_heads})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, eq=False)
class Strip:
    """The fixed test images ``(N, 1, 28, 28)`` float in [0, 1], their labels ``(N,)``, masks
    ``(N, L)`` bool (True = hidden), the biharmonic fills ``(N, 1, 28, 28)`` and their
    masked-patch MSE ``(N,)``."""

    images: Tensor
    labels: np.ndarray
    masks: Tensor
    baseline: Tensor
    baseline_mse: Tensor
    patch_size: int


def make_strip(n: int = 10, *, mask_ratio: float = 0.75, patch_size: int = 4, seed: int = 0
               ) -> Strip:
    """``n`` bundled test images (the first of each class in turn), image i under
    ``make_mask("random", ..., seed=seed + i)``, and their biharmonic fills."""
    from ssl_core.data import load_fashion_mnist
    from ssl_core.eval import subsample_per_class

    check_positive("n", n)
    test = load_fashion_mnist("test", source="bundled")
    labels = np.asarray(test.labels)
    per_class = math.ceil(n / len(test.classes))
    index = subsample_per_class(labels, per_class, seed=seed)
    index = index[np.argsort(labels[index], kind="stable")]  # class 0, 0, ..., 1, 1, ...
    order = np.argsort(np.arange(index.size) % per_class, kind="stable")  # one per class first
    index = index[order][:n]
    images = images_to_batch(np.asarray(test.images)[index])  # (n, 1, 28, 28)
    grid = (images.shape[-2] // patch_size, images.shape[-1] // patch_size)
    masks = torch.from_numpy(np.stack([make_mask("random", *grid, mask_ratio, seed=seed + i)
                                       for i in range(n)]))  # (n, L) bool
    baseline = biharmonic_masked(images, masks, patch_size)  # (n, 1, 28, 28)
    _, mse = masked_patch_errors(baseline, images, masks, patch_size=patch_size)  # (n,)
    return Strip(images, labels[index].astype(np.int64), masks, baseline, mse, patch_size)


@torch.no_grad()
def strip_frame(method: Any, strip: Strip) -> dict[str, Any]:
    """The model's reconstructions of ``strip`` under its masks, in eval mode (the training
    mode is restored): ``reconstruction`` (N, 1, 28, 28) float, visible patches pasted back
    from the input, and ``mse`` (N,), the masked-patch MSE (the MAE loss on these images)."""
    was_training = method.training
    method.eval()
    try:
        recon = method.reconstruct(strip.images, mask=strip.masks)
    finally:
        method.train(was_training)
    return {"reconstruction": recon.reconstruction_pasted, "mse": recon.masked_mse}


def _uint8(images: Tensor) -> list:
    """``(N, 1, H, W)`` float in [0, 1] -> nested lists of uint8 ``(N, H, W)``."""
    return (images[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).tolist()


def live_run(
    cfg: LiveMAEConfig,
    *,
    steps: int,
    time_limit_s: float | None = 60.0,
    every: int = 10,
    strip: Strip | None = None,
) -> Iterator[dict[str, Any]]:
    """Train a fresh MAE of ``cfg``; yield a frame at step 0 (the random model), every
    ``every`` steps, and at the end (the same time and step bounds as
    :func:`lesson.live.simclr.live_run`). A frame is a JSON-ready dict:

    - ``step``, ``total_steps``, ``loss`` (the step's training loss; None at step 0);
    - ``reconstructions`` (N, 28, 28) uint8 lists, ``mse`` (N,) and ``strip_mse`` (their mean):
      the model on the strip, see :func:`strip_frame`;
    - ``baseline_mse`` (N,) and ``baseline_strip_mse``: biharmonic inpainting's;
    - at step 0 only, ``strip``: ``images``, ``masked`` (the input with hidden patches at 0)
      and ``baseline`` ((N, 28, 28) uint8 lists each) and ``labels``;
    - ``elapsed_s``, ``steps_per_s``, ``done``.
    """
    check_positive("steps", steps)
    check_positive("every", every)
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0 seconds or None; got {time_limit_s}")
    started = time.perf_counter()
    trainer = Trainer(cfg.train_config(steps=steps))
    patch = trainer.method.patch_size
    if strip is None:
        strip = make_strip(mask_ratio=cfg.mask_ratio, patch_size=patch, seed=cfg.seed)
    baseline_mse = strip.baseline_mse.tolist()

    def frame(step: int, loss: float | None, *, done: bool) -> dict[str, Any]:
        shown = strip_frame(trainer.method, strip)
        mse = shown["mse"]
        return {
            "step": step, "total_steps": steps, "loss": loss,
            "reconstructions": _uint8(shown["reconstruction"]), "mse": mse.tolist(),
            "strip_mse": float(mse.mean()), "baseline_mse": baseline_mse,
            "baseline_strip_mse": float(strip.baseline_mse.mean()),
            "elapsed_s": time.perf_counter() - started,
            "steps_per_s": step / trainer.elapsed_s if trainer.elapsed_s > 0 else 0.0,
            "done": done,
        }

    hidden = mask_to_image(strip.masks, strip.patch_size)[:, None]  # (N, 1, H, W) bool
    pictures = {"images": _uint8(strip.images),
                "masked": _uint8(strip.images.masked_fill(hidden, 0)),
                "baseline": _uint8(strip.baseline), "labels": strip.labels.tolist()}
    for shown in framed_steps(trainer, frame, every=every, time_limit_s=time_limit_s,
                              started=started):
        yield shown | {"strip": pictures} if shown["step"] == 0 else shown


DEFAULT_RECIPE = LiveMAEConfig()
"""The live page's recipe."""

LIVE_STEPS = 1000
"""The live run's default step count; the 60 s limit usually ends it first on a shared server."""
