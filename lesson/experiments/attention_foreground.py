"""Does DINO's CLS token attend to the garment rather than the background? Measured.

On the bundled Fashion-MNIST test set (10,000 images, 28 x 28), for the bundled DINO ViT (the first
bundled DINO checkpoint with a ViT backbone, ``dino_vit``: the bundled ``dino`` is a CNN, which has
no attention), the same ViT at random initialisation (seeds 0, 1, 2) and the bundled ``mae`` ViT:

- foreground = the pixels brighter than ``threshold`` (default 0.1, i.e. uint8 > 25.5; the
  background of Fashion-MNIST is 0). Its share of the image is the **area share**.
- **attention share** = the share of the last layer's CLS-to-patch attention mass (head mean,
  renormalised over the 49 patches, each patch's mass spread over its 4 x 4 pixels) that falls
  on foreground pixels (:func:`ssl_core.eval.attention.foreground_share`).
- **lift** = mean attention share / mean area share (1 = attention spread as the area is; above 1
  = on the garment more than its size explains). Also: the share of images whose attention share
  exceeds their own area share, per-head shares, per-class shares, the CLS token's weight on
  itself, and the Jaccard index between the foreground and DINO's thresholded map (the fewest
  patches holding ``keep`` = 60 % of the mass, as the DINO paper's Fig. 3; a kept patch counts
  all its pixels).
- the attention share at other foreground thresholds (0.0, 0.3, 0.5) as a sensitivity check.

``python3 -m lesson.experiments.attention_foreground`` writes
``assets/results/attention_foreground.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lesson.results import Record, Result, experiment_parser
from ssl_core import paths
from ssl_core.checkpoints import (
    checkpoint_info,
    checkpoint_names,
    load_encoder,
    random_init_encoder,
    read_json,
)
from ssl_core.data import load_fashion_mnist
from ssl_core.eval.attention import cls_attention, foreground_share, mass_threshold_mask, upsample
from ssl_core.images import images_to_batch
from ssl_core.models.registry import resolve_config
from ssl_core.models.vit import ViTConfig

NAME = "attention_foreground"
THRESHOLD = 0.1  # foreground: pixel / 255 > 0.1
SENSITIVITY = (0.0, 0.1, 0.3, 0.5)
KEEP = 0.6  # DINO's Fig. 3 keeps the patches holding 60 % of the mass
RANDOM_SEEDS = (0, 1, 2)


@dataclass(frozen=True, kw_only=True)
class AttentionModel(Record):
    """One encoder's measurements, means over the images (a random-init row: over seeds)."""

    name: str
    label: str
    kind: str  # "ssl" | "random"
    checkpoint: str | None = None
    steps: int | None = None
    seeds: list[int] | None = None
    per_seed_attention_share: list[float] | None = None
    attention_share: float
    attention_share_sem: float | None = None
    area_share: float
    lift: float | None = None
    images_above_area: float
    per_head: list[float] | None = None
    cls_self: float | None = None
    jaccard: float
    per_class: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    sensitivity: list[dict[str, float]] | None = None


@dataclass(frozen=True, kw_only=True)
class AttentionForegroundResult(Result):
    """The ``attention_foreground`` result: how much CLS attention lands on the garment."""

    NAME = "attention_foreground"

    dataset: dict[str, Any]
    foreground: dict[str, Any]
    attention: str | None = None
    keep: float
    classes: list[str] | None = None
    models: list[AttentionModel]
    skipped: list[str] | None = None
    verdict: str


def dino_vit_checkpoints(checkpoints_dir: str | Path | None = None) -> list[str]:
    """Checkpoints in ``checkpoints_dir`` (default: the bundled ones) trained with DINO on a ViT
    backbone -- the ones with CLS attention to show -- sorted by name. One whose config cannot be
    read is listed too, so that loading it says what is wrong rather than it vanishing."""
    root = Path(checkpoints_dir or paths.checkpoints_dir())
    names = []
    for name in checkpoint_names(root):
        try:
            info = checkpoint_info(root / name)
            is_vit = isinstance(resolve_config(info.backbone), ViTConfig)
        except (OSError, ValueError):
            names.append(name)
            continue
        if info.method == "dino" and is_vit:
            names.append(name)
    return names


def _check_vit(encoder: nn.Module, name: str) -> None:
    if not hasattr(encoder, "get_last_selfattention"):
        raise ValueError(f"checkpoint {name!r} has a {type(encoder).__name__}, not a ViT: it has "
                         "no attention to measure")


@torch.inference_mode()
def measure(encoder: nn.Module, images: np.ndarray, *, threshold: float = THRESHOLD,
            sensitivity: Sequence[float] = SENSITIVITY, keep: float = KEEP,
            batch_size: int = 500) -> dict[str, np.ndarray]:
    """Per-image measurements for ``images: uint8 (N, H, W)``.

    Returns ``share (N,)``, ``head_share (N, heads)``, ``area (N,)``, ``cls_self (N,)`` (mean
    over heads), ``jaccard (N,)`` and ``share@t`` / ``area@t`` ``(N,)`` for every ``t`` in
    ``sensitivity``.
    """
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 (N, H, W); got {images.dtype} {images.shape}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold is a pixel level in [0, 1); got {threshold}")
    out: dict[str, list[np.ndarray]] = {}

    def add(key: str, value: np.ndarray) -> None:
        out.setdefault(key, []).append(value)

    device = next(encoder.parameters()).device
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]  # (B, H, W) uint8
        x = images_to_batch(chunk).to(device)  # (B, 1, H, W)
        grid = encoder.input_grid(x)
        attention = encoder.get_last_selfattention(x).float()  # (B, heads, 1+L, 1+L)
        heads = cls_attention(attention, grid).cpu().numpy()  # (B, heads, gh, gw)
        mean = heads.mean(axis=1)  # (B, gh, gw)
        pixels = chunk.astype(np.float64) / 255.0
        fg = pixels > threshold  # (B, H, W)
        add("share", foreground_share(mean, fg))
        add("head_share", foreground_share(heads, np.repeat(fg[:, None], heads.shape[1], 1)))
        add("area", fg.mean(axis=(1, 2)))
        add("cls_self", attention[:, :, 0, 0].mean(dim=1).cpu().numpy())
        kept = upsample(mass_threshold_mask(mean, keep).astype(np.float32), fg.shape[1:]) > 0.5
        union = (kept | fg).sum(axis=(1, 2))
        add("jaccard", np.where(union > 0, (kept & fg).sum(axis=(1, 2)) / np.maximum(union, 1),
                                np.nan))
        for t in sensitivity:
            fg_t = pixels > t
            add(f"share@{t:g}", foreground_share(mean, fg_t))
            add(f"area@{t:g}", fg_t.mean(axis=(1, 2)))
    return {key: np.concatenate(values) for key, values in out.items()}


def _sem(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def summarise(per_image: dict[str, np.ndarray], labels: np.ndarray, classes: Sequence[str],
              *, sensitivity: Sequence[float] = SENSITIVITY) -> dict[str, Any]:
    """Means over images (NaN-safe) of :func:`measure`'s arrays, per class too."""
    share, area = per_image["share"], per_image["area"]
    valid = np.isfinite(share)
    mean_share, mean_area = float(np.nanmean(share)), float(area.mean())
    return {
        "attention_share": mean_share,
        "attention_share_sem": _sem(share),
        "area_share": mean_area,
        "lift": mean_share / mean_area if mean_area > 0 else None,
        "images_above_area": float((share[valid] > area[valid]).mean()),
        "per_head": [float(v) for v in np.nanmean(per_image["head_share"], axis=0)],
        "cls_self": float(per_image["cls_self"].mean()),
        "jaccard": float(np.nanmean(per_image["jaccard"])),
        "per_class": [
            {"class": name, "attention_share": float(np.nanmean(share[labels == c])),
             "area_share": float(area[labels == c].mean())}
            for c, name in enumerate(classes) if (labels == c).any()
        ],
        "sensitivity": [
            {"threshold": float(t), "area_share": float(per_image[f"area@{t:g}"].mean()),
             "attention_share": float(np.nanmean(per_image[f"share@{t:g}"]))}
            for t in sensitivity
        ],
    }


def verdict(models: Sequence[dict[str, Any]]) -> str:
    """One sentence per model from the measured numbers."""
    parts = []
    for model in models:
        parts.append(f"{model['label']}: {100 * model['attention_share']:.1f} % of the CLS "
                     f"attention on the garment, which covers {100 * model['area_share']:.1f} % "
                     f"of the image (lift {model['lift']:.2f}; above the area share in "
                     f"{100 * model['images_above_area']:.0f} % of images).")
    return " ".join(parts)


def run(*, checkpoints_dir: str | Path | None = None, n_images: int | None = None,
        threshold: float = THRESHOLD, keep: float = KEEP,
        random_seeds: Sequence[int] = RANDOM_SEEDS, compare: Sequence[str] = ("mae",),
        dino: str | None = None, batch_size: int = 500) -> dict[str, Any]:
    """Measure a DINO ViT (``dino``, default: the first of :func:`dino_vit_checkpoints`), its
    random-init twin(s) and the ``compare`` ViTs.

    ``n_images``: the first n of the 10,000 test images (all by default). No DINO ViT checkpoint
    raises ValueError; a missing comparison checkpoint is listed under ``"skipped"``.
    """
    checkpoints_dir = Path(checkpoints_dir or paths.checkpoints_dir())
    if dino is None:
        found = dino_vit_checkpoints(checkpoints_dir)
        if not found:
            raise ValueError(
                f"no DINO ViT checkpoint in {checkpoints_dir}; restore assets/checkpoints/dino_vit "
                "or train one (`python3 scripts/bundle_checkpoints.py train dino_vit`)")
        dino = found[0]
    dino_dir = checkpoints_dir / dino
    if not (dino_dir / "model.safetensors").is_file():
        raise ValueError(f"no checkpoint weights at {dino_dir}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold is a pixel level in [0, 1); got {threshold}")
    test = load_fashion_mnist("test", source="bundled")
    count = len(test.images) if n_images is None else int(n_images)
    if not 1 <= count <= len(test.images):
        raise ValueError(f"n_images must be in 1..{len(test.images)}; got {n_images}")
    images = np.asarray(test.images[:count])
    labels = np.asarray(test.labels[:count])
    sensitivity = tuple(sorted({*SENSITIVITY, threshold}))

    def summary(encoder: nn.Module) -> dict[str, Any]:
        per_image = measure(encoder, images, threshold=threshold, sensitivity=sensitivity,
                            keep=keep, batch_size=batch_size)
        return summarise(per_image, labels, test.classes, sensitivity=sensitivity)

    dino_config = read_json(dino_dir / "config.json")
    dino_encoder = load_encoder(dino_dir)
    _check_vit(dino_encoder, dino)
    models = [{"name": dino, "label": f"DINO ViT (bundled {dino})", "kind": "ssl",
               "checkpoint": dino, "steps": dino_config.get("step"), **summary(dino_encoder)}]

    per_seed = [summary(random_init_encoder(dino_config, seed=seed)) for seed in random_seeds]
    if per_seed:
        pooled = dict(per_seed[0])
        for key in ("attention_share", "area_share", "images_above_area", "cls_self", "jaccard"):
            pooled[key] = float(np.mean([s[key] for s in per_seed]))
        pooled["attention_share_sem"] = float(
            np.std([s["attention_share"] for s in per_seed], ddof=1) / np.sqrt(len(per_seed))
        ) if len(per_seed) > 1 else per_seed[0]["attention_share_sem"]
        pooled["lift"] = pooled["attention_share"] / pooled["area_share"]
        pooled["per_head"] = [float(v) for v in np.mean([s["per_head"] for s in per_seed], 0)]
        models.append({"name": "random", "label": "Same ViT, random init", "kind": "random",
                       "checkpoint": None, "seeds": list(map(int, random_seeds)),
                       "per_seed_attention_share": [s["attention_share"] for s in per_seed],
                       **pooled})

    skipped = []
    for name in compare:
        path = checkpoints_dir / name
        if not (path / "model.safetensors").is_file():
            skipped.append(name)
            continue
        encoder = load_encoder(path)
        _check_vit(encoder, name)
        models.append({"name": name, "label": f"{name.upper()} (bundled)", "kind": "ssl",
                       "checkpoint": name, "steps": read_json(path / "config.json").get("step"),
                       **summary(encoder)})

    return {
        "dataset": {"name": "Fashion-MNIST test split (bundled)", "n_images": count},
        "foreground": {"threshold": threshold,
                       "rule": f"a pixel is foreground when its value / 255 > {threshold:g}"},
        "attention": "last layer, CLS query, mean over heads, renormalised over the patches",
        "keep": keep,
        "classes": list(test.classes),
        "models": models,
        "skipped": skipped,
        "verdict": verdict(models),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser(
        "attention_foreground",
        "Share of DINO's CLS attention on Fashion-MNIST foreground pixels vs the "
        "foreground's share of the area, against random init and MAE.",
    )
    parser.add_argument("--checkpoints-dir", default=None, help="default: the bundled ones")
    parser.add_argument("--n-images", type=int, default=None, help="default: all 10,000")
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help="foreground: pixel / 255 > threshold (default %(default)s)")
    parser.add_argument("--keep", type=float, default=KEEP,
                        help="attention mass kept by the DINO threshold (default %(default)s)")
    parser.add_argument("--random-seeds", type=int, nargs="*", default=list(RANDOM_SEEDS))
    parser.add_argument("--compare", nargs="*", default=["mae"])
    parser.add_argument("--dino", default=None,
                        help="the DINO ViT checkpoint (default: the first bundled DINO ViT)")
    parser.add_argument("--out-dir", default=None, help="default: assets/results")
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    data = run(checkpoints_dir=args.checkpoints_dir, n_images=args.n_images,
               threshold=args.threshold, keep=args.keep, random_seeds=args.random_seeds,
               compare=args.compare, dino=args.dino)
    command = ["python3", "-m", f"lesson.experiments.{NAME}", *argv]
    path = AttentionForegroundResult.from_json(data).save(
        command=" ".join(command), wall_time_s=time.perf_counter() - start,
        directory=args.out_dir)
    print(data["verdict"])
    print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
