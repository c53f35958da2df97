"""End-to-end fine-tuning on a few labels, against the same backbone trained from scratch on them.

Linear probing freezes the encoder; fine-tuning trains all of it with the labels. MAE's features
are weak under a linear probe and strong when fine-tuned (He et al. 2022, table 1 and fig. 9), so
an evaluation of a masked model that stops at the probe undersells it. The comparison that says
what pretraining bought is the same recipe from random weights on the same labelled images. ::

    result = finetune_comparison("runs/mae", train=(images, labels), test=(test_x, test_y),
                                 labels_per_class=100)
    result["fine_tuned"]["accuracy"] - result["scratch"]["accuracy"]  # the gain, in [-1, 1]

Both runs are :func:`ssl_core.supervised.train_supervised` with one :class:`SupervisedConfig`
(the crop + flip augmentation, AdamW, warm-up then cosine) and the same seed: the only
difference is the starting weights of the backbone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ssl_core.supervised import SupervisedConfig, train_supervised

__all__ = ["FINETUNE_CONFIG", "finetune_comparison"]

# 1,000 labels at batch 100 are 10 steps an epoch: 50 epochs are 500 steps, a few CPU-minutes
# per run for the 28 px backbones.
FINETUNE_CONFIG = SupervisedConfig(epochs=50, batch_size=100)


def finetune_comparison(
    checkpoint: str | Path, *, train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray], labels_per_class: int = 100,
    config: SupervisedConfig | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Fine-tune the checkpoint's encoder and train its backbone from scratch, on the same
    ``labels_per_class`` labelled images per class of ``train`` (drawn with ``seed``); test both
    on ``test``. ``train`` / ``test``: ``(uint8 images (N, H, W) or (N, C, H, W), labels (N,))``.

    Returns a JSON-ready dict: ``n_labels``, ``fine_tuned`` and ``scratch`` (each ``accuracy``
    and ``wall_time_s``), ``gain`` (fine-tuned minus scratch accuracy), ``protocol`` (both
    runs' recipes in words) and ``seconds``.
    """
    from ssl_core.checkpoints import load_checkpoint, load_encoder
    from ssl_core.checkpoints.models import method_spec_of
    from ssl_core.eval.label_efficiency import subsample_per_class

    cfg = config if config is not None else FINETUNE_CONFIG
    started = time.perf_counter()
    _, ckpt_config = load_checkpoint(checkpoint)
    spec = method_spec_of(ckpt_config)
    backbone, kwargs = str(spec["backbone"]), dict(spec["backbone_kwargs"])
    idx = subsample_per_class(train[1], labels_per_class, seed=seed)
    labelled = (np.asarray(train[0])[idx], np.asarray(train[1])[idx])
    runs = {}
    for name, init in (("fine_tuned", load_encoder(checkpoint)), ("scratch", None)):
        result = train_supervised(backbone, train=labelled, test=test, config=cfg,
                                  backbone_kwargs=kwargs, init=init)
        runs[name] = {"accuracy": result.accuracy, "wall_time_s": result.wall_time_s,
                      "protocol": result.protocol}
    return {
        "n_labels": int(len(idx)),
        "labels_per_class": labels_per_class,
        "fine_tuned": {k: v for k, v in runs["fine_tuned"].items() if k != "protocol"},
        "scratch": {k: v for k, v in runs["scratch"].items() if k != "protocol"},
        "gain": runs["fine_tuned"]["accuracy"] - runs["scratch"]["accuracy"],
        "protocol": {name: run["protocol"] for name, run in runs.items()},
        "seconds": time.perf_counter() - started,
    }
