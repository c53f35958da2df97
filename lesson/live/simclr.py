"""SimCLR trained live: a 2-D map of fixed test images that moves as the encoder learns.

:func:`live_run` trains a small SimCLR (:class:`LiveSimCLRConfig`: a small CNN sized for one CPU
thread, and the two switches a student flips: the InfoNCE temperature and the batch size)
through the real :class:`ssl_core.train.Trainer`, and yields a frame before the first step and
every few steps after it:

- the kNN accuracy (k = 20, T = 0.1) of the fixed **map set** (:func:`map_split`: 1,000 bundled
  *test* images, 100 per class) against a labelled **bank** (1,000 bundled *train* images, 100
  per class); the encoder never sees a label;
- the map: PCA of the map set's L2-normalised features to 2-D, scaled to unit RMS and turned onto
  the previous frame's points with an orthogonal Procrustes fit (:func:`align`), so that a point
  moves between frames rather than jumping (PCA's axes may swap or flip from one frame to the
  next);
- the silhouette of the 2-D points by class (how separated the classes look on the map), and
  the training loss.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import orthogonal_procrustes
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from lesson.live.dino import check_positive
from lesson.live.framed import framed_steps, live_train_config
from ssl_core.train import TrainConfig, Trainer

__all__ = [
    "BATCH_SIZES",
    "DEFAULT_RECIPE",
    "LIVE_STEPS",
    "TEMPERATURES",
    "LiveSimCLRConfig",
    "MapSplit",
    "align",
    "live_run",
    "map_frame",
    "map_split",
]

# The page's switches: InfoNCE temperatures and batch sizes a student can pick.
TEMPERATURES = (0.05, 0.1, 0.2, 0.5, 1.0)
BATCH_SIZES = (16, 32, 64, 128, 256)


@dataclass(frozen=True)
class LiveSimCLRConfig:
    """A SimCLR small enough to train live on one CPU thread, and its two switches.

    Every field is a plain value (hashable, picklable: it crosses into the worker process).
    """

    # --- the switches (the page's controls) ---
    temperature: float = 0.2  # InfoNCE's tau: low = the hardest negatives dominate the loss
    batch_size: int = 64  # 2 x batch_size views per step; the other 2B - 2 are the negatives
    # --- the recipe ---
    backbone: str = "cnn_small_28"
    widths: tuple[int, ...] = (16, 32, 64, 128)  # D = widths[-1]
    # 2: the stem halves the 28 px input first, about 4x cheaper a step than 1 and learning as
    # fast per step, so a minute holds several times the steps (docs/TUNING.md, "Live SimCLR")
    stem_stride: int = 2
    input_mean: float = 0.286  # Fashion-MNIST's pixel mean / std
    input_std: float = 0.353
    proj_hidden_dim: int = 128
    proj_out_dim: int = 64
    lr: float = 2e-3  # peak AdamW rate; warm-up over the first warmup_steps, then cosine
    warmup_steps: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or (
            self.batch_size < 2
        ):
            raise ValueError(
                f"batch_size must be an int >= 2 (the other images of the batch are the "
                f"negatives); got {self.batch_size!r}"
            )
        for name in ("input_std", "lr"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number; got {value}")
        self.train_config(steps=1)  # validates the temperature, head, lr, ...

    def backbone_kwargs(self) -> dict[str, Any]:
        """Registry overrides of the backbone (size and input normalisation)."""
        return {"widths": list(self.widths), "stem_stride": self.stem_stride,
                "input_mean": [self.input_mean], "input_std": [self.input_std]}

    def train_config(self, *, steps: int) -> TrainConfig:
        """The :class:`~ssl_core.train.TrainConfig` of a run of ``steps`` optimiser steps
        (raises ValueError with the library's message for a bad setting)."""
        from ssl_core.methods.simclr import SimCLRConfig

        method = SimCLRConfig(proj_hidden_dim=self.proj_hidden_dim,
                              proj_out_dim=self.proj_out_dim, temperature=self.temperature)
        return live_train_config(self, method="simclr", method_config=method, steps=steps,
                                 backbone_kwargs=self.backbone_kwargs())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self) | {"widths": list(self.widths)}


# ----------------------------------------------------------------------------------------------
# The fixed images: the map set (test split) and the labelled kNN bank (train split)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MapSplit:
    """The map set (queries, drawn on the map) and the kNN bank: uint8 ``(N, 28, 28)`` images
    and int64 ``(N,)`` labels each, stratified and fixed by ``seed``."""

    map_images: np.ndarray
    map_labels: np.ndarray
    bank_images: np.ndarray
    bank_labels: np.ndarray


def map_split(map_per_class: int = 100, bank_per_class: int = 100, *, seed: int = 0) -> MapSplit:
    """``map_per_class`` bundled test images per class (the map) and ``bank_per_class`` bundled
    train images per class (the kNN bank). The two splits share no image."""
    from ssl_core.data import load_fashion_mnist
    from ssl_core.eval import subsample_per_class

    check_positive("map_per_class", map_per_class)
    check_positive("bank_per_class", bank_per_class)
    train = load_fashion_mnist("train", source="bundled")
    test = load_fashion_mnist("test", source="bundled")
    te = subsample_per_class(test.labels, map_per_class, seed=seed)
    tr = subsample_per_class(train.labels, bank_per_class, seed=seed)
    return MapSplit(np.asarray(test.images)[te], np.asarray(test.labels)[te].astype(np.int64),
                    np.asarray(train.images)[tr], np.asarray(train.labels)[tr].astype(np.int64))


# ----------------------------------------------------------------------------------------------
# One frame: kNN, the aligned map, its silhouette
# ----------------------------------------------------------------------------------------------


def align(points: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """``points (N, 2)`` centred and scaled to unit RMS radius, then (with ``previous (N, 2)``,
    the last frame's aligned points) rotated or reflected onto them by an orthogonal Procrustes
    fit (``scipy.linalg.orthogonal_procrustes``): the rotation R minimising
    ``||points @ R - previous||``. A rotation or reflection changes no distance, so the map is
    the same map; only its orientation follows the previous frame."""
    x = np.asarray(points, dtype=np.float64)
    x = x - x.mean(axis=0)
    rms = math.sqrt(float((x**2).sum(axis=1).mean()))
    x = x / rms if rms > 0 else x
    if previous is not None:
        rotation, _ = orthogonal_procrustes(x, np.asarray(previous, dtype=np.float64))  # (2, 2)
        x = x @ rotation
    return x


def map_frame(encoder: Any, split: MapSplit, previous: np.ndarray | None, *, seed: int = 0
              ) -> dict[str, Any]:
    """The encoder's frame on ``split``: ``knn`` (accuracy of the map set against the bank,
    k = 20, T = 0.1), ``points`` (N, 2) aligned to ``previous`` (:func:`align`) and
    ``silhouette`` (of the 2-D points, by class; in [-1, 1], higher = classes apart)."""
    from ssl_core.eval import extract_features, knn_accuracy

    bank, _ = extract_features(encoder, (split.bank_images, split.bank_labels), device="cpu")
    query, _ = extract_features(encoder, (split.map_images, split.map_labels), device="cpu")
    knn = knn_accuracy(bank, split.bank_labels, query, split.map_labels, k=20, temperature=0.1)
    unit = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)  # (N, D)
    flat = PCA(n_components=2, random_state=seed).fit_transform(unit)  # (N, 2)
    points = align(flat, previous)
    return {"knn": float(knn), "points": points,
            "silhouette": float(silhouette_score(points, split.map_labels))}


# ----------------------------------------------------------------------------------------------
# The live run
# ----------------------------------------------------------------------------------------------


def live_run(
    cfg: LiveSimCLRConfig,
    *,
    steps: int,
    time_limit_s: float | None = 60.0,
    every: int = 10,
    split: MapSplit | None = None,
) -> Iterator[dict[str, Any]]:
    """Train a fresh SimCLR of ``cfg``; yield a frame at step 0 (the random encoder), every
    ``every`` steps, and at the end.

    Stops after ``steps`` optimiser steps or once ``time_limit_s`` seconds of wall time have
    passed since the run began (the frames' own work counts; checked before each step; the
    first step always runs; None: no limit). A frame is a JSON-ready dict:

    - ``step``, ``total_steps``, ``loss`` (the step's InfoNCE; None at step 0);
    - ``knn``, ``silhouette``, ``points`` (a list of [x, y], one per map image, in the order of
      ``labels``), see :func:`map_frame`; ``labels`` (the map images' classes);
    - ``elapsed_s`` (since the run began), ``steps_per_s`` (training steps per second of
      training time), ``done`` (True on the last frame).
    """
    check_positive("steps", steps)
    check_positive("every", every)
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0 seconds or None; got {time_limit_s}")
    started = time.perf_counter()
    split = split if split is not None else map_split()
    trainer = Trainer(cfg.train_config(steps=steps))
    labels = split.map_labels.tolist()
    previous: np.ndarray | None = None

    def frame(step: int, loss: float | None, *, done: bool) -> dict[str, Any]:
        nonlocal previous
        shown = map_frame(trainer.encoder, split, previous, seed=cfg.seed)
        previous = shown["points"]
        return {
            "step": step, "total_steps": steps, "loss": loss, "knn": shown["knn"],
            "silhouette": shown["silhouette"], "points": shown["points"].round(4).tolist(),
            "labels": labels, "elapsed_s": time.perf_counter() - started,
            "steps_per_s": step / trainer.elapsed_s if trainer.elapsed_s > 0 else 0.0,
            "done": done,
        }

    yield from framed_steps(trainer, frame, every=every, time_limit_s=time_limit_s,
                            started=started)


DEFAULT_RECIPE = LiveSimCLRConfig()
"""The live page's recipe (its switches are the page's defaults)."""

LIVE_STEPS = 1000
"""The live run's default step count; the 60 s limit usually ends it first on a shared server."""
