"""DINO trained live, step by step, with the diagnostics of its two collapses.

:func:`live_run` trains a small DINO (:class:`LiveDINOConfig`: a recipe sized so that a step
takes a fraction of a second on one CPU thread, and the switches a student flips: centring,
sharpening, temperatures, momenta) through the real :class:`ssl_core.train.Trainer` (one CPU
process, no Lightning import) and yields a report every few steps: the step's
:class:`ssl_core.losses.dino_collapse.CollapseDiagnostics` (teacher entropy against log K,
KL(teacher || student), the normalised output std, the dominant dimension's share...), the
teacher's output profile on a fixed probe batch of test images (:func:`teacher_profile`), and
:func:`~ssl_core.losses.dino_collapse.collapse_verdict` of every step so far. The four
:data:`VARIANTS` (centring and sharpening on / off) are what the ``dino_collapse`` experiment
measures.

The live trainers of the other methods (:mod:`lesson.live.simclr`, :mod:`lesson.live.mae`)
sit next to this one with the same shape: a frozen config of plain values (it keys caches and
crosses process boundaries) and a generator of JSON-ready reports.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ssl_core.images import images_to_batch
from ssl_core.losses.dino import teacher_probs
from ssl_core.losses.dino_collapse import CollapseDiagnostics, collapse_verdict
from ssl_core.methods.dino import DINOConfig
from ssl_core.train import TrainConfig, Trainer

__all__ = [
    "CURVE_COLUMNS",
    "DEFAULT_RECIPE",
    "DIAGNOSTIC_KEYS",
    "LIVE_STEPS",
    "VARIANTS",
    "LiveDINOConfig",
    "curve_records",
    "knn_k20",
    "knn_split",
    "live_run",
    "teacher_profile",
]

# The diagnostics a curve row keeps, all from the training step: the loss, every other
# CollapseDiagnostics field in its order, then the step's schedules.
DIAGNOSTIC_KEYS = (
    "loss",
    *(f.name for f in dataclasses.fields(CollapseDiagnostics) if f.name != "loss"),
    "teacher_temp",
    "momentum",
)
# Columns of a curve's CSV, in order (knn_k20 is empty where it was not measured).
CURVE_COLUMNS = ("step", *DIAGNOSTIC_KEYS, "knn_k20")

# The four arms of the experiment: (label, centering, sharpening).
VARIANTS: dict[str, tuple[str, bool, bool]] = {
    "healthy": ("centring + sharpening (DINO)", True, True),
    "no_centering": ("sharpening only: no centring", False, True),
    "no_sharpening": ("centring only: no sharpening", True, False),
    "neither": ("neither", False, False),
}


@dataclass(frozen=True)
class LiveDINOConfig:
    """A DINO small enough to train live on one CPU thread, and its collapse switches.

    The recipe (backbone, head, crops, batch, learning rate) is sized so that a step takes a
    fraction of a second on one thread; the switches (``centering`` ... ``momentum_base``)
    are the page's controls. Every field is a plain value, so the config is hashable and can key
    a cache.
    """

    # --- the switches (the page's controls) ---
    centering: bool = True  # subtract a running mean of the teacher logits
    sharpening: bool = True  # False: teacher temperature = student temperature
    teacher_temp: float = 0.04  # sharpening; DINO uses 0.04-0.07
    student_temp: float = 0.1  # rarely tuned
    center_momentum: float = 0.9  # EMA of the centre; 0.9 as DINO
    # Teacher EMA momentum at step 0, cosine to 1.0 at the end. Lower than DINO's 0.996: a run
    # of a few hundred steps needs a teacher that follows the student within tens of steps
    # (the values tried and what they did: docs/TUNING.md, "Live DINO").
    momentum_base: float = 0.97
    # --- the recipe ---
    backbone: str = "vit_tiny_p4_28"
    depth: int = 2  # transformer blocks (the registry's vit_tiny_p4_28 has 4)
    embed_dim: int = 64
    num_heads: int = 2
    # Zero-mean inputs (Fashion-MNIST's mean / std): without them a ViT's features start almost
    # identical and every variant, healthy included, drifts to the uniform collapse.
    input_mean: float = 0.286
    input_std: float = 0.353
    out_dim: int = 64  # K: small, so one-dimension collapse and the log K ceiling are visible
    head_hidden_dim: int = 128
    head_bottleneck_dim: int = 32
    norm_last_layer: bool = True
    n_local: int = 2  # local crops per image (DINO uses 8; each costs a forward pass)
    batch_size: int = 32
    # Peak AdamW learning rate: the largest that keeps the healthy run healthy (docs/TUNING.md).
    lr: float = 3e-4
    warmup_steps: int = 0  # a live run is too short for a warm-up
    grad_clip: float = 3.0  # as DINO
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum_base < 1.0:
            raise ValueError(
                f"momentum_base (the teacher's EMA momentum) must be in [0, 1); got "
                f"{self.momentum_base}. At 1.0 the teacher never leaves its random start and "
                "there is no collapse to watch; DINO uses 0.996, short runs 0.9-0.99"
            )
        for name in ("input_std", "lr"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number; got {value}")
        for name in ("n_local", "warmup_steps", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0; got {value!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or (
            self.batch_size < 2
        ):
            raise ValueError(
                f"batch_size must be an int >= 2 (the centre is a batch mean); got "
                f"{self.batch_size!r}"
            )
        self.method_config()  # validates the temperatures, the centre momentum and the head
        TrainConfig(**self._train_fields(steps=1))  # validates lr, grad_clip, ...

    # -- the pieces the Trainer needs ----------------------------------------------------------

    def method_config(self) -> DINOConfig:
        """The :class:`~ssl_core.methods.dino.DINOConfig` of this run (raises ValueError)."""
        return DINOConfig(
            out_dim=self.out_dim,
            head_hidden_dim=self.head_hidden_dim,
            head_bottleneck_dim=self.head_bottleneck_dim,
            norm_last_layer=self.norm_last_layer,
            student_temp=self.student_temp,
            teacher_temp=self.teacher_temp,
            warmup_teacher_temp=self.teacher_temp,
            center_momentum=self.center_momentum,
            centering=self.centering,
            sharpening=self.sharpening,
            momentum_base=self.momentum_base,
        )

    def backbone_kwargs(self) -> dict[str, Any]:
        """Registry overrides of the backbone (size and input normalisation)."""
        kwargs: dict[str, Any] = {
            "input_mean": [self.input_mean],
            "input_std": [self.input_std],
        }
        if self.backbone.startswith("vit"):
            kwargs |= {"depth": self.depth, "embed_dim": self.embed_dim,
                       "num_heads": self.num_heads}
        return kwargs

    def _train_fields(self, *, steps: int) -> dict[str, Any]:
        return dict(
            method="dino",
            backbone=self.backbone,
            backbone_kwargs=self.backbone_kwargs(),
            method_config=dataclasses.asdict(self.method_config()),
            augment={"n_local": self.n_local},
            data="bundled",
            steps=steps,
            batch_size=self.batch_size,
            lr=self.lr,
            warmup_steps=self.warmup_steps,
            grad_clip=self.grad_clip,
            seed=self.seed,
            accelerator="cpu",
        )

    def train_config(self, *, steps: int) -> TrainConfig:
        """The :class:`~ssl_core.train.TrainConfig` of a run of ``steps`` optimiser steps."""
        return TrainConfig(**self._train_fields(steps=steps))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self)

    def variant(self, name: str) -> LiveDINOConfig:
        """This recipe with the switches of variant ``name`` (a key of :data:`VARIANTS`)."""
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        _, centering, sharpening = VARIANTS[name]
        return dataclasses.replace(self, centering=centering, sharpening=sharpening)


# ----------------------------------------------------------------------------------------------
# Probe data: fixed test images for the teacher's output profile and the kNN accuracy
# ----------------------------------------------------------------------------------------------


def _probe_images(n: int, *, seed: int = 0) -> Tensor:
    """``n`` fixed Fashion-MNIST test images (stratified), float ``(n, 1, 28, 28)`` in [0, 1]."""
    from ssl_core.data import load_fashion_mnist
    from ssl_core.eval import subsample_per_class

    test = load_fashion_mnist("test", source="bundled")
    per_class = max(1, math.ceil(n / len(test.classes)))
    index = subsample_per_class(test.labels, per_class, seed=seed)[:n]
    return images_to_batch(np.asarray(test.images)[index])  # (n, 1, 28, 28)


def knn_split(n_train_per_class: int, n_test_per_class: int) -> tuple[tuple, tuple]:
    """(train images, labels), (test images, labels): fixed stratified subsets, uint8 arrays."""
    from ssl_core.data import load_fashion_mnist
    from ssl_core.eval import subsample_per_class

    train = load_fashion_mnist("train", source="bundled")
    test = load_fashion_mnist("test", source="bundled")
    tr = subsample_per_class(train.labels, n_train_per_class, seed=0)
    te = subsample_per_class(test.labels, n_test_per_class, seed=0)
    return ((np.asarray(train.images)[tr], np.asarray(train.labels)[tr]),
            (np.asarray(test.images)[te], np.asarray(test.labels)[te]))


@torch.no_grad()
def teacher_profile(trainer: Trainer, probe: Tensor) -> dict[str, list[float]]:
    """The teacher's output distribution on ``probe`` ``(N, 1, 28, 28)``, as two profiles.

    ``teacher_histogram`` (K,): the mean over the probe images of the centred, sharpened teacher
    distribution p_t, per output dimension, sorted from the most used dimension down. A single
    spike is one-dimension collapse; a flat line at 1/K is either uniform collapse or a healthy
    teacher that spreads its images over all dimensions.
    ``teacher_row_profile`` (K,): the mean over images of each image's own p_t sorted from its
    largest probability down. Healthy and one-dimension teachers are sharp per image (a high
    first value); a uniform teacher is flat (every value 1/K). The two together tell the three
    states apart.
    """
    method = trainer.method
    logits = method.teacher([probe])[0]  # (N, K)
    p = teacher_probs(logits, method.loss_fn.centering.center, method.teacher_temp())  # (N, K)
    marginal = p.mean(0).sort(descending=True).values  # (K,)
    rows = p.sort(dim=-1, descending=True).values.mean(0)  # (K,)
    return {"teacher_histogram": marginal.tolist(), "teacher_row_profile": rows.tolist()}


def knn_k20(trainer: Trainer, split: tuple[tuple, tuple]) -> float:
    """kNN (k = 20, T = 0.1) accuracy of the teacher backbone's features on ``split``."""
    from ssl_core.eval import extract_features, knn_accuracy

    encoder = trainer.encoder
    (x_train, y_train), (x_test, y_test) = split
    f_train, _ = extract_features(encoder, (x_train, y_train), device="cpu")
    f_test, _ = extract_features(encoder, (x_test, y_test), device="cpu")
    return knn_accuracy(f_train, y_train, f_test, y_test, k=20, temperature=0.1)


# ----------------------------------------------------------------------------------------------
# The live run
# ----------------------------------------------------------------------------------------------


def _row(metrics: Mapping[str, float]) -> dict[str, float]:
    row: dict[str, float] = {"step": int(metrics["step"])}
    row |= {key: float(metrics[key]) for key in DIAGNOSTIC_KEYS if key in metrics}
    return row


def live_run(
    cfg: LiveDINOConfig,
    *,
    steps: int,
    time_limit_s: float | None = 30.0,
    every: int = 5,
    probe_size: int = 256,
    knn_at: Sequence[int] = (),
    knn_split: tuple[tuple, tuple] | None = None,
) -> Iterator[dict[str, Any]]:
    """Train a fresh DINO of ``cfg`` and yield a report every ``every`` steps (and the last one).

    The model is built here and belongs to this call alone. Stops after ``steps`` optimiser steps
    or once ``time_limit_s`` seconds of wall time have passed since the first step began (the
    caller's work between reports counts; checked before each step, and the first step always
    runs; None: no limit). Each report is a dict:

    - ``row``: ``{"step", *DIAGNOSTIC_KEYS}`` of the step just done (plus ``knn_k20`` at the
      steps in ``knn_at`` that are reported; needs ``knn_split``);
    - ``teacher_histogram``, ``teacher_row_profile``: see :func:`teacher_profile`;
    - ``verdict``: :func:`~ssl_core.losses.dino_collapse.collapse_verdict` of every step so far;
    - ``total_steps``, ``elapsed_s`` (training time), ``steps_per_s``, and ``done`` (True on
      the last report: the run reached ``steps`` or its time limit). When the time limit
      falls right after a report, the last report repeats that report's step with
      ``done=True``; keep one row per step.
    """
    check_positive("steps", steps)
    check_positive("every", every)
    check_positive("probe_size", probe_size)
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0 seconds or None; got {time_limit_s}")
    if knn_at and knn_split is None:
        raise ValueError("knn_at needs knn_split (the images and labels of the kNN probe)")
    knn_steps = set(knn_at)
    trainer = Trainer(cfg.train_config(steps=steps))
    probe = _probe_images(probe_size)

    def report(metrics: Mapping[str, float], *, done: bool) -> dict[str, Any]:
        row = _row(metrics)
        if row["step"] in knn_steps:
            row["knn_k20"] = knn_k20(trainer, knn_split)  # type: ignore[arg-type]
        elapsed = trainer.elapsed_s
        return {
            "row": row,
            **teacher_profile(trainer, probe),
            "verdict": collapse_verdict(trainer.history),
            "total_steps": steps,
            "elapsed_s": elapsed,
            "steps_per_s": trainer.step / elapsed if elapsed > 0 else 0.0,
            "done": done,
        }

    last: Mapping[str, float] | None = None
    previous: dict[str, Any] | None = None
    for metrics in _bounded_steps(trainer, time_limit_s):
        last = metrics
        step = int(metrics["step"])
        if step % every == 0 and step < steps:
            previous = report(metrics, done=False)
            yield previous
    if last is None:
        return
    if previous is not None and previous["row"]["step"] == int(last["step"]):
        yield previous | {"done": True}  # the time limit fell right after a report
    else:
        yield report(last, done=True)


def _bounded_steps(trainer: Trainer, time_limit_s: float | None) -> Iterator[dict[str, float]]:
    """The trainer's steps: the first always, then more until ``time_limit_s`` of wall time
    (counted from the start, the caller's work between steps included) has passed."""
    started = time.perf_counter()
    yield from trainer.steps(max_steps=1)
    if time_limit_s is None:
        yield from trainer.steps()
        return
    remaining = time_limit_s - (time.perf_counter() - started)
    if remaining > 0:
        yield from trainer.steps(time_limit_s=remaining)


def check_positive(name: str, value: int) -> None:
    """ValueError naming ``name`` unless ``value`` is an int (not a bool) >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}")


def curve_records(curve: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Curve rows with every column of :data:`CURVE_COLUMNS` (None where not measured), for CSV."""
    return [{key: row.get(key) for key in CURVE_COLUMNS} for row in curve]


DEFAULT_RECIPE = LiveDINOConfig()
"""The recipe of the live run and of the measured ``dino_collapse`` result."""

LIVE_STEPS = 40
"""The live run's default step count: short enough for a 30 s limit on a loaded two-core server
(about 4 steps/s on one thread), and the verdict of every preset is right at it and at every
step count from 20 up (docs/TUNING.md, "Live DINO")."""
