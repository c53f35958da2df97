"""The pretraining run: :class:`Trainer` builds the method, the optimizer and the batch stream,
runs optimizer steps as an iterator that can stop and resume at any step, and saves and resumes
checkpoints (``model.safetensors``, ``config.json``, ``metrics.jsonl``, ``train_state.*``; see
:mod:`ssl_core.checkpoints`). The package docstring (:mod:`ssl_core.train`) says how a run is
made deterministic and how the learning rate scales.

One class in one module (about 400 lines): building, stepping, saving and resuming share the
run's state and are read together; its configuration, data and runtime are the package's other
modules.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ssl_core import checkpoints
from ssl_core.checkpoints import CheckpointError
from ssl_core.train.config import (
    STREAM_INIT,
    STREAM_STEP,
    TrainConfig,
    check_int,
    derive_seed,
    format_out_dir,
    lr_at,
    resolve_config,
)
from ssl_core.train.data import run_dataset, step_batches
from ssl_core.train.runtime import make_runtime, resolve_accelerator

__all__ = ["CHECKPOINT_FORMAT", "RESUMABLE_OVERRIDES", "Trainer", "decay_groups"]

CHECKPOINT_FORMAT = "ssl-explorer-checkpoint/1"

# Fields of TrainConfig that Trainer.resume may change: they alter how long or where a run goes,
# not what is being trained.
RESUMABLE_OVERRIDES = frozenset({
    "steps", "epochs", "accelerator", "devices", "num_nodes", "precision", "num_workers",
    "log_every", "checkpoint_every", "out_dir", "channels_last",
})


def decay_groups(params: Sequence[nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups: weight decay on matrices and kernels only; biases, norm scales,
    CLS tokens and position tables (ndim <= 1, or the (1, N, D) token parameters) are not
    decayed. Pretraining and :mod:`ssl_core.supervised` use the same rule."""
    decay = [p for p in params if p.ndim >= 2 and not (p.ndim == 3 and p.shape[0] == 1)]
    decayed = {id(p) for p in decay}
    keep = [p for p in params if id(p) not in decayed]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": keep, "weight_decay": 0.0}]


class Trainer:
    """A pretraining run: method, optimizer, step counter and the batch stream.

    Args:
        config: the run; ``self.config`` is its resolved copy (backbone, lr, warm-up filled in).
        dataset: train on this dataset instead of ``config.data`` (items ``(image, label)`` with
            uint8 ``(C, H, W)`` images); described as ``"custom"`` in the checkpoint.
        method: use this module instead of building ``config.method`` (it must follow the
            method protocol of :mod:`ssl_core.methods`); the caller's module is trained in place.

    Construction is cheap for a single fp32 CPU process: no Lightning import and no process
    launch (:class:`~ssl_core.train.runtime.LocalRuntime`), and the bundled data's decoded arrays
    are cached by :mod:`ssl_core.data`.

    Attributes: ``method`` (the unwrapped module), ``encoder`` (what to evaluate),
    ``optimizer``, ``step`` (optimizer steps done), ``total_steps``, ``steps_per_epoch``,
    ``history`` (metrics of the steps run by this object), ``out_dir`` (None: writes nothing).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        dataset: Dataset | None = None,
        method: nn.Module | None = None,
        _resume: tuple[Path, dict[str, Tensor], dict[str, Any]] | None = None,
    ) -> None:
        cfg = self._checked(config)
        self.runtime = make_runtime(cfg)
        dataset, self.data_description = run_dataset(cfg, dataset)
        sample = dataset[0][0]
        channels = int(sample.shape[0]) if sample.ndim == 3 else 1
        self.config = cfg = resolve_config(cfg, channels=channels, method=method)
        self.method = method = self._method(cfg, method)
        if _resume is not None:
            self._load_weights(_resume[1])
        self.batches = step_batches(cfg, dataset, sample=sample, channels=channels,
                                    world_size=self.runtime.world_size,
                                    rank=self.runtime.global_rank)
        if cfg.channels_last:
            method.to(memory_format=torch.channels_last)
        self.steps_per_epoch = self.batches.steps_per_epoch
        self.total_steps = (cfg.steps if cfg.steps is not None
                            else max(1, math.ceil(cfg.epochs * self.steps_per_epoch)))
        self.warmup_steps = (cfg.warmup_steps if cfg.warmup_steps is not None
                             else self.total_steps // 10)
        # Stored resolved, so that extending the run on resume keeps the same warm-up.
        self.config = cfg = dataclasses.replace(cfg, warmup_steps=self.warmup_steps)
        self.model, self.optimizer = self.runtime.setup(method, self._optimizer(cfg, method))
        self.step = 0
        self.elapsed_s = 0.0  # training time over all sessions of this run
        self.history: list[dict[str, float]] = []
        self._iterator: Iterator[Any] | None = None
        self._iterator_step = -1
        self.out_dir = format_out_dir(cfg)
        if self.out_dir is not None:
            self.config = cfg = dataclasses.replace(cfg, out_dir=str(self.out_dir))
        if _resume is not None:
            self._load_train_state(_resume[0], _resume[2])
        if self.out_dir is not None and self.runtime.is_global_zero:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._truncate_metrics_log()

    # -- construction, in the order __init__ runs it -----------------------------------------

    @staticmethod
    def _checked(config: TrainConfig) -> TrainConfig:
        """The config with its accelerator resolved, after the checks that need the machine."""
        if config.precision == "16-mixed" and resolve_accelerator(config.accelerator) == "cpu":
            raise ValueError("precision '16-mixed' needs a GPU; on CPU use '32-true' or "
                             "'bf16-mixed'")
        if config.method == "simclr" and config.batch_size < 2:
            raise ValueError("SimCLR needs batch_size >= 2: the other images are the negatives")
        return dataclasses.replace(config, accelerator=resolve_accelerator(config.accelerator))

    @staticmethod
    def _method(cfg: TrainConfig, method: nn.Module | None) -> nn.Module:
        """The given method (checked against the config) or a fresh one built under the seed."""
        if method is not None:
            if getattr(method, "name", cfg.method) != cfg.method:
                raise ValueError(f"config.method is {cfg.method!r} but the given module is a "
                                 f"{method.name!r} method; make them agree (the views depend "
                                 "on it)")
            return method
        from ssl_core.methods import build_method

        with torch.random.fork_rng(devices=[]):  # the global RNG is left alone
            torch.random.default_generator.manual_seed(derive_seed(cfg.seed, STREAM_INIT))
            return build_method(cfg.method, backbone=cfg.backbone,
                                backbone_kwargs=cfg.backbone_kwargs, config=cfg.method_config)

    def _optimizer(self, cfg: TrainConfig, method: nn.Module) -> torch.optim.Optimizer:
        """AdamW over the method's trainable parameters (:func:`decay_groups`); MAE's betas."""
        if self.runtime.world_size > 1 and self.runtime.device.type == "cuda":
            # Global BatchNorm over all ranks, as SimCLR does (SyncBatchNorm needs a GPU; on CPU
            # each process normalises its own batch).
            nn.SyncBatchNorm.convert_sync_batchnorm(method)
        params = list(method.trainable_parameters())
        return torch.optim.AdamW(decay_groups(params, cfg.weight_decay), lr=cfg.lr,
                                 betas=(0.9, 0.95 if cfg.method in ("mae", "unet_mae")
                                        else 0.999))

    @property
    def encoder(self) -> nn.Module:
        """The module to evaluate (``forward_features``): DINO's teacher backbone, else the
        backbone."""
        return getattr(self.method, "encoder", self.method.backbone)

    @property
    def done(self) -> bool:
        """True once ``total_steps`` optimizer steps have run."""
        return self.step >= self.total_steps

    # -- the loop ----------------------------------------------------------------------------

    def _next_batch(self) -> Any:
        if self._iterator is None or self._iterator_step != self.step:
            loader = DataLoader(
                self.batches,
                batch_size=None,  # items are whole batches already
                sampler=range(self.step, self.total_steps),
                num_workers=self.config.num_workers,
                pin_memory=self.runtime.device.type == "cuda",
                # Its own generator: otherwise the loader draws its worker seed from the global
                # RNG. (Batches are seeded by step anyway; this only keeps the global RNG alone.)
                generator=torch.Generator().manual_seed(self.config.seed),
            )
            self._iterator = iter(loader)
            self._iterator_step = self.step
        batch = next(self._iterator)
        self._iterator_step += 1
        return self.runtime.to_device(batch)

    def _train_step(self) -> dict[str, float]:
        started = time.perf_counter()
        index = self.step  # 0-based index of the step about to run
        batch = self._next_batch()
        lr = lr_at(index, total_steps=self.total_steps, peak_lr=self.config.lr,
                   warmup_steps=self.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        epoch = index / self.steps_per_epoch
        if hasattr(self.method, "set_epoch"):
            self.method.set_epoch(epoch)
        self.method.train()
        device = self.runtime.device
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            seed = derive_seed(self.config.seed, STREAM_STEP, index, self.runtime.global_rank)
            torch.random.default_generator.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed(seed)
            loss, method_metrics = self.model(batch)  # forward == training_step (DDP syncs)
            self.runtime.backward(loss)
            self.method.on_before_optimizer_step()
            grad_norm = None
            if self.config.grad_clip is not None:
                grad_norm = self.runtime.clip_gradients(self.model, self.optimizer,
                                                        max_norm=self.config.grad_clip)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        end_metrics = self.method.on_train_step_end(index, self.total_steps) or {}

        values = {"loss": float(loss.detach())}
        values |= {k: float(v) for k, v in method_metrics.items() if k != "loss"}
        values |= {k: float(v) for k, v in end_metrics.items()}
        if grad_norm is not None:
            values["grad_norm"] = float(grad_norm)
        if self.runtime.world_size > 1:  # the mean over ranks (every rank gets the same numbers)
            keys = sorted(values)
            reduced = self.runtime.all_reduce(
                torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device),
                reduce_op="mean")
            values = dict(zip(keys, reduced.tolist(), strict=True))
        step_time = time.perf_counter() - started
        self.elapsed_s += step_time
        return {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "lr": lr,
            **values,
            "images_per_s": self.config.global_batch_size / step_time,
            "step_time_s": step_time,
            "elapsed_s": self.elapsed_s,
        }

    def steps(self, max_steps: int | None = None, *,
              time_limit_s: float | None = None) -> Iterator[dict[str, float]]:
        """Run optimizer steps, yielding a metrics dict after each one.

        Runs until ``total_steps``, or ``max_steps`` more steps, or until ``time_limit_s``
        seconds have passed (checked before each step; the step under way finishes).
        Breaking out of the loop is safe at any point: the step just yielded is complete, and
        calling ``steps()`` again continues with the next one, as if never interrupted.

        Metrics: ``step`` (steps done, 1-based), ``epoch`` (fractional), ``lr``, ``loss``, the
        method's own metrics (e.g. DINO's ``teacher_entropy``, ``momentum``), ``grad_norm``
        (with ``grad_clip``), ``images_per_s`` (global batch / wall time of the step, data
        included), ``step_time_s``, ``elapsed_s`` (training time of the whole run). With several
        processes the numbers are means over ranks.

        With ``out_dir`` set, rank 0 appends to ``metrics.jsonl`` every ``log_every`` steps and
        saves every ``checkpoint_every`` steps and at the end of the run.
        """
        if max_steps is not None:
            check_int("max_steps", max_steps, minimum=0)
        end = self.total_steps if max_steps is None else min(self.total_steps,
                                                             self.step + max_steps)
        started = time.perf_counter()
        while self.step < end:
            if time_limit_s is not None:
                over = time.perf_counter() - started >= time_limit_s
                if self.runtime.broadcast(over, src=0):  # every rank stops at the same step
                    return
            metrics = self._train_step()
            self.history.append(metrics)
            if self.out_dir is not None:
                last = self.step == self.total_steps
                if self.runtime.is_global_zero and (self.step % self.config.log_every == 0
                                                    or last):
                    self._append_metrics(metrics)
                every = self.config.checkpoint_every
                if last or (every is not None and self.step % every == 0):
                    self.save()
            yield metrics

    def run(self, *, callback: Callable[[dict[str, float]], None] | None = None) -> Trainer:
        """Run to ``total_steps`` (calling ``callback(metrics)`` after each step); returns self."""
        for metrics in self.steps():
            if callback is not None:
                callback(metrics)
        return self

    def close(self) -> None:
        """Stop DataLoader workers (if any); ``steps()`` starts new ones when called again."""
        self._iterator = None
        self._iterator_step = -1

    # -- checkpoints -------------------------------------------------------------------------

    def checkpoint_config(self) -> dict[str, Any]:
        """The JSON written as config.json: the method spec (enough for build_method), the
        resolved train config, the data description and where the run stands."""
        import torchvision

        from ssl_core.methods import method_spec

        return {
            "format": CHECKPOINT_FORMAT,
            **method_spec(self.method),
            "train": self.config.to_dict(),
            "data": self.data_description,
            "step": self.step,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "world_size": self.runtime.world_size,
            "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__},
        }

    def save(self, directory: str | Path | None = None) -> Path:
        """Write a resumable checkpoint (default: ``out_dir``); returns the directory.

        Every rank must call it (rank 0 writes, the others wait). Files: train state first,
        then ``model.safetensors``, then ``config.json``; each file is replaced atomically, and
        both JSON files record the step, so a save cut short is detected on resume.
        """
        target = Path(directory) if directory is not None else self.out_dir
        if target is None:
            raise ValueError("save() needs a directory: this run has no out_dir")
        if self.runtime.is_global_zero:
            checkpoints.save_train_state(
                target, optimizer_state=self.optimizer.state_dict(),
                extra={"step": self.step, "elapsed_s": self.elapsed_s},
            )
            checkpoints.save_checkpoint(target, state_dict=self.method.state_dict(),
                                        config=self.checkpoint_config())
        self.runtime.barrier()
        if directory is None:
            return target

    @classmethod
    def resume(cls, directory: str | Path, *, dataset: Dataset | None = None,
               **overrides: Any) -> Trainer:
        """Continue the run saved in ``directory`` exactly where it stopped.

        ``overrides`` may change only how long and where it runs (``steps``, ``epochs``,
        ``devices``, ``num_nodes``, ``accelerator``, ``precision``, ``num_workers``,
        ``log_every``, ``checkpoint_every``, ``out_dir``; default ``out_dir`` is ``directory``).
        Changing ``steps`` changes the cosine schedule from here on. The data must be the same
        as when the run started (its description and hashes are compared).
        """
        directory = Path(directory)
        state, config = checkpoints.load_checkpoint(directory)
        if config.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{directory} is not a training checkpoint of ssl_core.train (format "
                f"{config.get('format')!r}, expected {CHECKPOINT_FORMAT!r}); it cannot be resumed"
            )
        bad = sorted(set(overrides) - RESUMABLE_OVERRIDES)
        if bad:
            raise ValueError(f"cannot change {bad} when resuming; only "
                             f"{sorted(RESUMABLE_OVERRIDES)} may change")
        values = dict(config["train"])
        values.setdefault("views", "per-image")  # runs saved before the batched path existed
        if "epochs" in overrides and "steps" not in overrides:
            values["steps"] = None
        if "steps" in overrides and "epochs" not in overrides:
            values["epochs"] = None
        values |= overrides
        values["out_dir"] = str(overrides.get("out_dir") or directory)
        cfg = TrainConfig.from_dict(values)
        trainer = cls(cfg, dataset=dataset, _resume=(directory, state, config))
        saved = config["data"]
        if trainer.data_description != saved:
            raise ValueError(
                f"the data differs from the data this run was trained on: now "
                f"{trainer.data_description}, in {directory}/config.json {saved}; resume with "
                "the same data (or start a new run)"
            )
        return trainer

    def _load_weights(self, state: dict[str, Tensor]) -> None:
        try:
            self.method.load_state_dict(state)
        except RuntimeError as err:
            raise CheckpointError(f"the checkpoint's weights do not fit the method: {err}") from err

    def _load_train_state(self, directory: Path, config: dict[str, Any]) -> None:
        optimizer_state, extra, _ = checkpoints.load_train_state(directory)
        if extra.get("step") != config.get("step"):
            raise CheckpointError(
                f"{directory}: train_state.json is at step {extra.get('step')} but config.json "
                f"at step {config.get('step')}: the last save was interrupted; resume from a "
                "complete checkpoint"
            )
        self.optimizer.load_state_dict(optimizer_state)
        self.step = int(extra["step"])
        self.elapsed_s = float(extra.get("elapsed_s", 0.0))
        if self.step > self.total_steps:
            raise ValueError(f"the checkpoint is at step {self.step}, beyond the run's "
                             f"{self.total_steps} steps; pass a larger steps= to continue")

    def _append_metrics(self, metrics: Mapping[str, float]) -> None:
        assert self.out_dir is not None
        with open(self.out_dir / checkpoints.METRICS_FILE, "a") as handle:
            handle.write(json.dumps(dict(metrics)) + "\n")

    def _truncate_metrics_log(self) -> None:
        """Drop log lines past the current step (left by a run that stopped between saves)."""
        assert self.out_dir is not None
        path = self.out_dir / checkpoints.METRICS_FILE
        if not path.is_file():
            return
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= self.step]
        if len(kept) != len(lines):
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            os.replace(tmp, path)
