"""Pretraining: a step iterator that can stop and resume at any step, and the run behind the CLI.

One loop serves short interactive runs, scripted studies and ``python -m ssl_core.pretrain``::

    run = Trainer(TrainConfig(method="dino", steps=200, batch_size=64))
    for metrics in run.steps(time_limit_s=30):  # a dict after every optimizer step
        plot(metrics["step"], metrics["loss"])
    run.steps()  # ...later: continues exactly where the loop stopped

The pieces, in the order a step runs them (one module each):

1. :mod:`~ssl_core.train.config`: :class:`TrainConfig`, the learning-rate schedule
   (:func:`lr_at`) and the seeds of the random streams (:func:`derive_seed`);
2. :mod:`~ssl_core.train.data`: :func:`load_train_data` turns a data spec (``"bundled"``,
   ``"fashion-mnist-full"``, an image folder, ``"cifar10:PATH"``, ``"stl10:PATH"``) into a
   dataset plus a JSON description with the sha256 of what was read; :func:`view_pipeline`
   builds the method's views (SimCLR two views, DINO multi-crop, MAE crop+flip) at the
   backbone's input size; :class:`StepBatches` makes batch ``s`` of the run;
3. :mod:`~ssl_core.train.runtime`: one CPU process or Lightning Fabric (below);
4. :mod:`~ssl_core.train.trainer`: :class:`Trainer` builds the method
   (:func:`ssl_core.methods.build_method`), AdamW (:func:`decay_groups`) with a linear warm-up
   then cosine learning rate, runs :meth:`Trainer.steps`, and writes and reads a checkpoint
   directory (:meth:`Trainer.save` / :meth:`Trainer.resume`; see :mod:`ssl_core.checkpoints`).

Determinism. Batch ``s`` depends only on ``(seed, s)``: the epoch's order is a permutation seeded
by ``(seed, epoch)``, and image ``j`` of the global batch is augmented under a generator seeded by
``(seed, s, j)``; the randomness inside the step (MAE's masks, drop-path) is seeded by
``(seed, s, rank)``. Nothing about the data stream needs saving, so on CPU a run of 20 steps
equals 10 steps + save + resume + 10 steps bit for bit, and ``num_workers`` changes nothing but
speed. The global RNG is never touched (every draw happens inside ``torch.random.fork_rng``), so a
run inside another program does not disturb anything else. On GPU, kernels (atomics in backward,
autocast) are not bit-reproducible; runs are seeded but may differ in the last bits. Because the
global batch is the same whatever the number of processes, 2 processes with ``batch_size=B``
see exactly the batches of 1 process with ``batch_size=2B``.

Runtime. A single CPU process in fp32 (interactive runs, tests, most CPU runs) uses
:class:`LocalRuntime`, a stand-in with the few methods of Lightning Fabric the loop calls, so
constructing a run costs no Lightning import. Anything else -- a GPU, bf16/fp16 autocast,
several devices or nodes -- goes through ``lightning_fabric.Fabric`` (DDP when
``devices * num_nodes > 1``). Both sit behind the same calls, so the loop is written once.

Batch size and learning rate. ``batch_size`` is per device; the global batch is
``batch_size * devices * num_nodes``. Unless ``lr`` is given, the linear scaling rule applies:
``lr = base_lr * global_batch / 256`` (Goyal et al. 2017; SimCLR, DINO and MAE all state their
rates this way).
"""

from ssl_core.train.config import (
    DEFAULT_BACKBONES,
    DEFAULT_BASE_LR,
    PRECISIONS,
    TrainConfig,
    derive_seed,
    lr_at,
)
from ssl_core.train.data import (
    StepBatches,
    batch_view_pipeline,
    load_train_data,
    view_pipeline,
)
from ssl_core.train.runtime import LocalRuntime
from ssl_core.train.trainer import Trainer, decay_groups

__all__ = [
    "DEFAULT_BACKBONES",
    "DEFAULT_BASE_LR",
    "PRECISIONS",
    "LocalRuntime",
    "StepBatches",
    "TrainConfig",
    "Trainer",
    "batch_view_pipeline",
    "decay_groups",
    "derive_seed",
    "load_train_data",
    "lr_at",
    "view_pipeline",
]
