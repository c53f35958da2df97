"""Where a run executes: one CPU process, or Lightning Fabric for GPUs, mixed precision and DDP.

A single CPU process in fp32 (interactive runs, tests, most CPU runs) uses :class:`LocalRuntime`, a
stand-in with the few methods of Lightning Fabric the trainer calls, so that constructing a run
costs no Lightning import. Anything else -- a GPU, bf16/fp16 autocast, several devices or
nodes -- goes through ``lightning_fabric.Fabric`` (DDP when ``devices * num_nodes > 1``). Both sit
behind the same calls, so the training loop is written once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import torch
from torch import Tensor, nn

from ssl_core.train.config import TrainConfig

__all__ = ["LocalRuntime", "make_runtime", "resolve_accelerator"]


class LocalRuntime:
    """The part of ``lightning_fabric.Fabric``'s interface the trainer uses, for one CPU process.

    It does nothing Fabric would not do with ``accelerator="cpu", devices=1,
    precision="32-true"``, but it avoids importing Lightning (seconds of CPU), which keeps
    starting a short run cheap.
    """

    world_size = 1
    global_rank = 0
    is_global_zero = True
    device = torch.device("cpu")

    def launch(self) -> None:
        """Nothing to launch: this process is the only one."""

    def setup(self, module: nn.Module, optimizer: torch.optim.Optimizer
              ) -> tuple[nn.Module, torch.optim.Optimizer]:
        return module, optimizer

    def backward(self, loss: Tensor) -> None:
        loss.backward()

    def clip_gradients(self, module: nn.Module, optimizer: torch.optim.Optimizer, *,
                       max_norm: float) -> Tensor:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        return torch.nn.utils.clip_grad_norm_(params, max_norm)

    def to_device(self, obj: Any) -> Any:
        return obj

    def all_reduce(self, data: Tensor, reduce_op: str = "mean") -> Tensor:
        return data

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        return obj

    def barrier(self) -> None:
        """Nothing to wait for."""


def resolve_accelerator(accelerator: str) -> str:
    """``\"auto\"`` -> ``\"cuda\"`` when a GPU is visible, else ``\"cpu\"``; ValueError for an
    unavailable ``\"cuda\"``."""
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise ValueError("accelerator='cuda' but no CUDA device is available; use 'cpu' or 'auto'")
    return accelerator


def make_runtime(cfg: TrainConfig) -> Any:
    """LocalRuntime for one fp32 CPU process, else a launched Fabric (DDP for > 1 process)."""
    if cfg.accelerator == "cpu" and cfg.world_size == 1 and cfg.precision == "32-true":
        return LocalRuntime()
    try:
        from lightning_fabric import Fabric
        from lightning_fabric.strategies import DDPStrategy
    except ImportError as err:
        raise ImportError(
            "GPU, mixed-precision and multi-process training run through Lightning Fabric: "
            "pip install lightning-fabric (see requirements.txt)"
        ) from err
    # A rank that never joins should fail within minutes, not hang for Fabric's default 30 min.
    strategy = DDPStrategy(timeout=timedelta(minutes=10)) if cfg.world_size > 1 else "auto"
    fabric = Fabric(accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
                    strategy=strategy, precision=cfg.precision)
    fabric.launch()
    return fabric


