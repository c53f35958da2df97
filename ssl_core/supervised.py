"""Supervised training of a registry backbone plus a linear head on labelled images, from scratch
or from pretrained weights (end-to-end fine-tuning).

From scratch, it is the baseline every self-supervised number should stand next to: the same
architecture, trained end to end with cross-entropy on the labels the probe is allowed to use.
Given ``init`` (a pretrained encoder of the same architecture), the same recipe fine-tunes it:
the MAE paper's protocol, where masked pretraining shows its strength (He et al. 2022). ::

    result = train_supervised(
        "unet_tiny_28", train=(images, labels), test=(test_images, test_labels),
        config=SupervisedConfig(epochs=50, batch_size=100),
    )
    result.accuracy  # fraction of the test images classified correctly

Recipe (stated in :attr:`SupervisedResult.protocol`): AdamW (weight decay on matrices and
kernels only, as in :mod:`ssl_core.train`), linear warm-up then cosine learning rate
(:func:`ssl_core.train.lr_at`) with ``lr = base_lr * batch_size / 256``, and the MAE pipeline's
light augmentation (:func:`ssl_core.augment.mae_train`: random resized crop + horizontal flip),
the same crop/flip the self-supervised runs see. The test images are not augmented.

Determinism: the model is built, the data shuffled and augmented under one generator seeded by
``seed`` inside ``torch.random.fork_rng``, so on CPU the same call gives the same numbers bit for
bit and the global RNG is left alone.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SupervisedClassifier", "SupervisedConfig", "SupervisedResult", "train_supervised"]


@dataclass(frozen=True)
class SupervisedConfig:
    """How to train; the defaults match the MAE runs of the hard exercise (batch 100, base 1e-3)."""

    epochs: int = 10  # passes over the labelled images; each run has its own cosine schedule
    batch_size: int = 100  # the last batch of an epoch may be smaller
    base_lr: float = 1e-3  # per 256 images: lr = base_lr * batch_size / 256 (as ssl_core.train)
    weight_decay: float = 0.05  # AdamW, on weights only (not biases, norms, tokens)
    warmup_fraction: float = 0.1  # linear warm-up over this share of the steps
    crop_scale: tuple[float, float] = (0.2, 1.0)  # RandomResizedCrop area range; MAE's default
    augment: bool = True  # False: train on the images as they are
    seed: int = 0
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop_scale", tuple(self.crop_scale))
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1; got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0; got {self.seed!r}")
        if not self.base_lr > 0:
            raise ValueError(f"base_lr must be > 0; got {self.base_lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0; got {self.weight_decay!r}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1); got {self.warmup_fraction!r}")

    @property
    def lr(self) -> float:
        """Peak learning rate by the linear scaling rule."""
        return self.base_lr * self.batch_size / 256


class SupervisedClassifier(nn.Module):
    """``backbone.forward_features`` followed by a linear head: ``(B, C, H, W) -> (B, classes)``."""

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        dim = getattr(backbone, "embed_dim", None)
        if not isinstance(dim, int):
            raise ValueError(f"{type(backbone).__name__} has no integer embed_dim; the head "
                             "needs the feature dimension")
        self.backbone = backbone
        self.head = nn.Linear(dim, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The backbone's embedding ``(B, D)``."""
        return self.backbone.forward_features(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.head(self.backbone.forward_features(x))


@dataclass
class SupervisedResult:
    """What a supervised run measured.

    ``history``: one dict per epoch, ``{"epoch", "loss", "train_accuracy", "lr"}`` (loss and
    accuracy averaged over the epoch's augmented batches, ``lr`` of its last step).
    """

    accuracy: float  # on the test images, fraction in [0, 1]
    history: list[dict[str, float]]
    protocol: str
    wall_time_s: float
    n_train: int
    n_test: int
    model: SupervisedClassifier = field(repr=False)


def _as_images(images: Any, name: str) -> Tensor:
    """uint8 or float images ``(N, H, W)`` / ``(N, C, H, W)`` -> uint8-or-float ``(N, C, H, W)``."""
    t = images if isinstance(images, Tensor) else torch.from_numpy(np.array(images))
    if t.ndim == 3:
        t = t.unsqueeze(1)  # (N, 1, H, W)
    if t.ndim != 4:
        raise ValueError(f"{name} images must be (N, H, W) or (N, C, H, W); got shape "
                         f"{tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} set is empty; give at least one labelled image")
    if t.dtype != torch.uint8:
        raise ValueError(f"{name} images must be uint8 (0-255), as ssl_core.data loads them; got "
                         f"{t.dtype}")
    return t


def _as_labels(labels: Any, n: int, name: str) -> Tensor:
    y = torch.as_tensor(np.asarray(labels))
    if y.shape != (n,):
        raise ValueError(f"{name} labels must have shape ({n},) to match the images; got "
                         f"{tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"{name} labels must be integers; got {y.dtype}")
    if int(y.min()) < 0:
        raise ValueError(f"{name} labels must be >= 0 (class indices); got min {int(y.min())}")
    return y.long()


def _predict(model: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    """Predicted classes ``(N,)`` of uint8 ``images (N, C, H, W)``, in eval mode, no grad."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].float().div_(255.0)  # (b, C, H, W) in [0, 1]
            out.append(model(x).argmax(dim=1))
    return torch.cat(out)


def train_supervised(
    backbone: str,
    *,
    train: tuple[Any, Any],
    test: tuple[Any, Any],
    config: SupervisedConfig | None = None,
    backbone_kwargs: dict[str, Any] | None = None,
    num_classes: int | None = None,
    init: nn.Module | None = None,
) -> SupervisedResult:
    """Train ``backbone`` (a registry name) with a linear head, from random init or, given
    ``init``, from its weights (fine-tuning end to end); test it.

    Args:
        backbone: name from :func:`ssl_core.models.registry.list_backbones`.
        train, test: ``(uint8 images (N, H, W) or (N, C, H, W), integer labels (N,))``.
        config: the recipe (:class:`SupervisedConfig`).
        backbone_kwargs: overrides of the backbone's config, e.g. ``{"global_pool": "avg"}``.
        num_classes: default ``max(label) + 1`` over train and test.
        init: a pretrained encoder built as ``build_backbone(backbone, **backbone_kwargs)``
            (e.g. :func:`ssl_core.checkpoints.load_encoder` of a checkpoint with that backbone):
            its weights are copied in (strictly: a different architecture is a ValueError) and
            left untouched; the head still starts at random.

    Returns a :class:`SupervisedResult` with the test accuracy, the per-epoch history and the
    trained model (in eval mode).
    """
    from ssl_core.augment import mae_train
    from ssl_core.models.registry import build_backbone
    from ssl_core.train import decay_groups, derive_seed, lr_at

    cfg = config if config is not None else SupervisedConfig()
    x_train = _as_images(train[0], "train")
    y_train = _as_labels(train[1], x_train.shape[0], "train")
    x_test = _as_images(test[0], "test")
    y_test = _as_labels(test[1], x_test.shape[0], "test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"train images {tuple(x_train.shape[1:])} and test images "
                         f"{tuple(x_test.shape[1:])} differ in shape; give them the same size")
    classes = int(max(y_train.max(), y_test.max())) + 1 if num_classes is None else num_classes
    if int(max(y_train.max(), y_test.max())) >= classes:
        raise ValueError(f"labels go up to {int(max(y_train.max(), y_test.max()))} but "
                         f"num_classes={classes}; raise num_classes or fix the labels")
    kwargs = dict(backbone_kwargs or {})
    n, channels, height, width = x_train.shape
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    warmup = int(cfg.warmup_fraction * total)
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, 0))
        net = build_backbone(backbone, **kwargs)
        if init is not None:
            try:
                net.load_state_dict(init.state_dict())
            except RuntimeError as err:
                raise ValueError(f"init does not fit backbone {backbone!r} with {kwargs}: pass "
                                 f"the checkpoint's own backbone and backbone_kwargs ({err})"
                                 ) from err
        want = int(getattr(net, "in_chans", channels))
        if want != channels:
            raise ValueError(f"backbone {backbone!r} takes {want}-channel images but the data has "
                             f"{channels}; pass backbone_kwargs={{'in_chans': {channels}}}")
        model = SupervisedClassifier(net, classes)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(decay_groups(params, cfg.weight_decay), lr=cfg.lr)
        views = (mae_train(height, scale=cfg.crop_scale) if cfg.augment else None)
        if views is not None and height != width:
            raise ValueError(f"augmentation needs square images; got {height}x{width} "
                             "(pass SupervisedConfig(augment=False))")
        step = 0
        for epoch in range(cfg.epochs):
            model.train()
            order = torch.randperm(n)
            loss_sum, correct = 0.0, 0
            for start in range(0, n, cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                if views is None:
                    x = x_train[idx].float().div_(255.0)  # (b, C, H, W)
                else:
                    x = torch.stack([views(x_train[i]) for i in idx.tolist()])  # (b, C, H, W)
                y = y_train[idx]
                lr = lr_at(step, total_steps=total, peak_lr=cfg.lr, warmup_steps=warmup)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                logits = model(x)  # (b, classes)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(dim=1) == y).sum())
            history.append({"epoch": epoch + 1, "loss": loss_sum / n,
                            "train_accuracy": correct / n, "lr": lr})
        predictions = _predict(model, x_test, cfg.eval_batch_size)
    accuracy = float((predictions == y_test).float().mean())
    protocol = (
        ("fine-tuned end to end from pretrained weights" if init is not None
         else "supervised from scratch")
        + f": {backbone} + linear head, cross-entropy on {n:,} labelled "
        f"images for {cfg.epochs} epochs ({total} steps of batch {cfg.batch_size}), AdamW lr "
        f"{cfg.lr:.3g} (base {cfg.base_lr:g} x batch/256, weight decay {cfg.weight_decay:g}), "
        f"{warmup} warm-up steps then cosine; "
        + (f"random resized crop (scale {cfg.crop_scale[0]:g}-{cfg.crop_scale[1]:g}) + "
           "horizontal flip" if cfg.augment else "no augmentation")
        + f"; seed {cfg.seed}; accuracy on {len(y_test):,} test images"
    )
    return SupervisedResult(accuracy=accuracy, history=history, protocol=protocol,
                            wall_time_s=time.perf_counter() - started, n_train=n,
                            n_test=len(y_test), model=model.eval())
