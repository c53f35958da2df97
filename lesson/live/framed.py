"""The loop the SimCLR and MAE live runs share: steps under a time limit, a frame every few.

:func:`framed_steps` runs a :class:`ssl_core.train.Trainer` one optimiser step at a time and
yields a frame (whatever ``frame(step, loss, done=...)`` measures) before the first step, every
``every`` steps, and at the end, so that a page sees where training started and where it ended.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

from ssl_core.train import TrainConfig, Trainer

__all__ = ["Frame", "framed_steps", "live_train_config"]


def live_train_config(recipe: Any, *, method: str, method_config: Any,
                      backbone_kwargs: dict[str, Any], steps: int) -> TrainConfig:
    """The :class:`~ssl_core.train.TrainConfig` of a live run of ``steps`` optimiser steps on
    the bundled data, on the CPU: ``recipe`` gives ``backbone``, ``batch_size``, ``lr``,
    ``warmup_steps`` (capped at ``steps``) and ``seed``; ``method_config`` is the method's config
    dataclass. Raises ValueError with the library's message for a bad setting."""
    return TrainConfig(
        method=method,
        backbone=recipe.backbone,
        backbone_kwargs=backbone_kwargs,
        method_config=dataclasses.asdict(method_config),
        data="bundled",
        steps=steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        warmup_steps=min(recipe.warmup_steps, steps),
        seed=recipe.seed,
        accelerator="cpu",
    )

Frame = Callable[..., dict[str, Any]]  # frame(step, loss, *, done) -> a JSON-ready dict


def framed_steps(trainer: Trainer, frame: Frame, *, every: int, time_limit_s: float | None,
                 started: float) -> Iterator[dict[str, Any]]:
    """``frame(0, None, done=False)``, then ``frame(step, loss, done=False)`` every ``every``
    steps, then one frame with ``done=True`` at the last step.

    Runs until the trainer's ``total_steps`` or until ``time_limit_s`` seconds have passed since
    ``started`` (``time.perf_counter()`` seconds; the frames' own work counts); the limit is
    checked before each step and the first step always runs. When the limit falls right after
    a frame, the last frame is that frame again with ``done=True`` (not measured twice).
    """
    shown = frame(0, None, done=False)
    yield shown
    last: dict[str, float] | None = None
    while not trainer.done:
        if last is not None and time_limit_s is not None and (
                time.perf_counter() - started >= time_limit_s):
            break
        *_, last = trainer.steps(max_steps=1)  # one optimiser step
        step = int(last["step"])
        if step % every == 0 and step < trainer.total_steps:
            shown = frame(step, float(last["loss"]), done=False)
            yield shown
    if last is None:  # a trainer that had nothing left to run
        yield shown | {"done": True}
    elif shown["step"] == int(last["step"]):
        yield shown | {"done": True}  # the time limit fell right after a frame
    else:
        yield frame(int(last["step"]), float(last["loss"]), done=True)
