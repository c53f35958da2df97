"""The probe report of a checkpoint: kNN and linear-probe accuracy, with the baselines, as JSON
and Markdown.

For each checkpoint (a directory written by ``python -m ssl_core.pretrain``) the frozen encoder
(DINO's teacher; the backbone otherwise) is evaluated on a labelled train set and a test set:

- weighted kNN, k=200 and k=20, T=0.1, cosine similarity (:func:`ssl_core.eval.knn_accuracy`);
- linear probe, multinomial logistic regression on standardised frozen features, with all train
  labels and with ``labels_per_class`` labels per class (:func:`ssl_core.eval.linear_probe`).

With baselines it adds two rows measured the same way: the same architecture at random
initialisation (what pretraining has to beat) and raw pixels. Every number carries its protocol
string; :func:`render_markdown` names the protocol in each column header and lists them in full
below the table. ``python -m ssl_core.probe`` is the command line over it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["KNN_KS", "KNN_TEMPERATURE", "evaluate_encoder", "probe_checkpoint",
           "render_markdown"]

KNN_TEMPERATURE = 0.1
KNN_KS = (200, 20)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def evaluate_encoder(
    encoder: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    labels_per_class: int,
    solver: str = "torch",
    max_iter: int = 1000,
    seed: int = 0,
    batch_size: int = 256,
    data_label: str = "",
) -> dict[str, Any]:
    """kNN (k=200, k=20) and linear-probe (all labels, ``labels_per_class``) accuracies.

    ``train`` and ``test`` are ``(uint8 images (N, H, W), labels (N,))``. Returns
    ``{"feature_dim": D, "seconds": s, "results": {key: {"value", "protocol", "column"}}}``
    with accuracies as fractions in [0, 1].
    """
    from ssl_core.eval import (
        extract_features,
        knn_accuracy,
        linear_probe,
        subsample_per_class,
    )
    from ssl_core.images import batch_adapter

    started = time.perf_counter()
    images = torch.from_numpy(train[0])
    transform = batch_adapter(encoder, 1, tuple(images.shape[-2:]))
    common = dict(batch_size=batch_size, transform=transform)
    x_train, y_train = extract_features(encoder, (train[0], train[1]), **common)  # (N, D)
    x_test, y_test = extract_features(encoder, (test[0], test[1]), **common)  # (M, D)
    n_train, n_test = len(y_train), len(y_test)
    where = f" ({data_label})" if data_label else ""
    results: dict[str, dict[str, Any]] = {}
    for k in KNN_KS:
        accuracy = knn_accuracy(x_train, y_train, x_test, y_test, k=k,
                                temperature=KNN_TEMPERATURE)
        results[f"knn_k{k}"] = {
            "column": f"kNN k={k} T={KNN_TEMPERATURE:g}",
            "value": accuracy,
            "protocol": (
                f"weighted kNN on frozen features: cosine similarity, the k={k} nearest of "
                f"{n_train:,} labelled train images vote with weight exp(sim/{KNN_TEMPERATURE:g}); "
                f"accuracy on {n_test:,} test images{where}"
            ),
        }
    for key, per_class in (("linear_all", None), (f"linear_{labels_per_class}pc",
                                                   labels_per_class)):
        keep = subsample_per_class(y_train, per_class, seed=seed)
        result = linear_probe(x_train[keep], y_train[keep], x_test, y_test, method=solver,
                              max_iter=max_iter, seed=seed)
        labels = (f"all {len(keep):,} train labels" if per_class is None else
                  f"{len(keep):,} train labels ({per_class}/class, drawn with seed {seed})")
        column = (f"linear, all {len(keep):,} labels" if per_class is None else
                  f"linear, {len(keep):,} labels ({per_class}/class)")
        results[key] = {
            "column": column,
            "value": result.accuracy,
            "protocol": f"{result.protocol}; {labels}; accuracy on {n_test:,} test "
                        f"images{where}",
        }
    return {"feature_dim": int(x_train.shape[1]), "seconds": time.perf_counter() - started,
            "results": results}


def probe_checkpoint(
    checkpoint: str | Path,
    *,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    data_label: str,
    baselines: bool,
    labels_per_class: int = 100,
    solver: str = "torch",
    max_iter: int = 1000,
    seed: int = 0,
    raw_pixels_cache: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report of one checkpoint (and the baselines): a JSON-ready dict."""
    from ssl_core.checkpoints import load_checkpoint, load_encoder, random_init_encoder
    from ssl_core.eval import RawPixels

    path = Path(checkpoint)
    directory = path if path.is_dir() else path.parent
    _, config = load_checkpoint(path)
    encoder = load_encoder(path)
    step = config.get("step")
    label = f"{config.get('method', '?')} {config.get('backbone', '')} (step {step})".strip()
    options = dict(labels_per_class=labels_per_class, solver=solver, max_iter=max_iter,
                   seed=seed, data_label=data_label)
    rows = []
    _log(f"[{directory.name}] evaluating the pretrained encoder")
    rows.append({"encoder": label, "kind": "pretrained",
                 **evaluate_encoder(encoder, train, test, **options)})
    if baselines:
        _log(f"[{directory.name}] evaluating the same architecture at random init")
        random_encoder = random_init_encoder(config, seed=seed)
        rows.append({"encoder": f"{config.get('backbone', 'encoder')}, random init "
                                f"(seed {seed})",
                     "kind": "random_init",
                     **evaluate_encoder(random_encoder, train, test, **options)})
        cache = raw_pixels_cache if raw_pixels_cache is not None else {}
        if "row" not in cache:
            _log(f"[{directory.name}] evaluating raw pixels")
            cache["row"] = {"encoder": "raw pixels", "kind": "raw_pixels",
                            **evaluate_encoder(RawPixels(), train, test, **options)}
        rows.append(cache["row"])
    return {
        "name": directory.name,
        "checkpoint": str(directory),
        "method": config.get("method"),
        "backbone": config.get("backbone"),
        "step": step,
        "total_steps": config.get("total_steps"),
        "pretraining_data": config.get("data"),
        "evaluation": {
            "data": data_label,
            "n_train": int(len(train[1])),
            "n_test": int(len(test[1])),
            "labels_per_class": labels_per_class,
            "solver": solver,
            "max_iter": max_iter,
            "seed": seed,
        },
        "rows": rows,
        "versions": {"torch": torch.__version__},
    }


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a table (protocol in each column header) and the protocols."""
    rows = report["rows"]
    keys = list(rows[0]["results"])
    columns = [rows[0]["results"][k]["column"] for k in keys]
    lines = [
        f"# Probe of `{report['name']}`",
        "",
        f"Checkpoint `{report['checkpoint']}`: {report['method']} with backbone "
        f"`{report['backbone']}`, step {report['step']} of {report['total_steps']}, pretrained "
        f"on {(report.get('pretraining_data') or {}).get('spec', '?')}.",
        f"Evaluation data: {report['evaluation']['data']}. Test-set accuracy of frozen encoders.",
        "",
        "| encoder | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for row in rows:
        cells = [f"{100 * row['results'][k]['value']:.1f}%" for k in keys]
        lines.append(f"| {row['encoder']} | " + " | ".join(cells) + " |")
    lines += ["", "Protocols:", ""]
    for key, column in zip(keys, columns, strict=True):
        lines.append(f"- **{column}**: {rows[0]['results'][key]['protocol']}")
    random_rows = [r for r in rows if r["kind"] == "random_init"]
    if random_rows:
        base = random_rows[0]["results"]
        gains = ", ".join(
            f"{column} {100 * (rows[0]['results'][k]['value'] - base[k]['value']):+.1f}"
            for k, column in zip(keys, columns, strict=True)
        )
        lines += ["", f"Pretrained minus random init (points): {gains}."]
    tuned = report.get("finetune")
    if tuned:
        lines += [
            "", f"## End-to-end fine-tuning on {tuned['n_labels']:,} labels", "",
            "| start | test accuracy | wall time |", "| --- | ---: | ---: |",
            f"| pretrained ({report['method']}) | {100 * tuned['fine_tuned']['accuracy']:.1f}% "
            f"| {tuned['fine_tuned']['wall_time_s']:.0f} s |",
            f"| random init (from scratch) | {100 * tuned['scratch']['accuracy']:.1f}% | "
            f"{tuned['scratch']['wall_time_s']:.0f} s |",
            "", f"Fine-tuned minus from scratch: {100 * tuned['gain']:+.1f} points.",
            f"Protocol: {tuned['protocol']['fine_tuned']}; from scratch the same recipe from "
            "random weights.",
        ]
    lines.append("")
    return "\n".join(lines)


