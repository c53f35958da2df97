"""``python3 -m lesson.experiments.mae_ratio``: "why mask 75% and not 15%", measured.

For each mask ratio the bundled ``mae`` checkpoint rebuilds the masked patches of N Fashion-MNIST
test images, and so do two no-learning baselines: the one that fills each hole smoothly from the
visible pixels around it (:func:`ssl_core.masking.interpolate_masked`), and scikit-image's
biharmonic inpainting (:func:`ssl_core.masking.biharmonic_masked`, the stronger classical fill;
``--no-biharmonic`` skips it, it costs ~30 ms per image and mask). With ``--n-images 10000`` the
Fashion-MNIST block is the whole test set (the bundled test split is all of it). All are scored
the same way, the pixel MSE over the masked patches only
(:func:`ssl_core.losses.mae.masked_patch_errors`, the error the MAE page shows), on the same
masks: a fresh random mask per image and seed (:func:`ssl_core.masking.random_masking`,
per-sample, seeded). The same is done for ``mae_rgb`` on seeded random crops of the 16 bundled
photos when that checkpoint exists, and for any other bundled masked-reconstruction checkpoint
of Fashion-MNIST (``unet_mae``).

Reported per ratio: mean masked-patch MSE over images (each image's MSE averaged over the seeds)
and its standard error over images, for the model and for interpolation, and their paired
difference. The explanation text is computed from those numbers. Writes
``assets/results/mae_ratio.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lesson.results import Record, Result, experiment_parser, run_experiment_cli
from ssl_core import paths
from ssl_core.checkpoints import checkpoint_info

__all__ = ["RATIOS", "ErrorStats", "MaeBlock", "MaeCurve", "MaeRatioResult", "build_parser",
           "explain", "main", "photo_crops", "reconstruction_curves", "run"]

RATIOS = (0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.9)
MASKED_METHODS = ("mae", "unet_mae")


@dataclass(frozen=True, kw_only=True)
class ErrorStats(Record):
    """Masked-patch MSE per ratio: mean over images and its standard error."""

    mse: list[float]
    sem: list[float]


@dataclass(frozen=True, kw_only=True)
class MaeCurve(ErrorStats):
    """A model's curve, with its paired advantage over interpolation and its share of wins."""

    checkpoint: str
    trained_mask_ratio: float | None = None
    advantage: list[float] | None = None
    advantage_sem: list[float] | None = None
    wins: list[float] | None = None


@dataclass(frozen=True, kw_only=True)
class MaeBlock(Record):
    """The curves of one data set: the primary model, interpolation, other masked models."""

    n_images: int
    image_shape: list[int] | None = None
    patch_size: int | None = None
    mae: MaeCurve
    interpolation: ErrorStats
    biharmonic: ErrorStats | None = None
    explanation: str | None = None
    others: list[MaeCurve] | None = None
    protocol: str | None = None


@dataclass(frozen=True, kw_only=True)
class MaeRatioResult(MaeBlock, Result):
    """The ``mae_ratio`` result: the Fashion-MNIST block, and the photo block as ``rgb``."""

    NAME = "mae_ratio"

    ratios: list[float]
    seeds: list[int] | None = None
    rgb: MaeBlock | None = None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _mean_sem(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error over axis 0 of ``values (N,)``."""
    sem = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
    return float(values.mean()), sem


def reconstruction_curves(
    models: Mapping[str, nn.Module],
    images: Tensor,
    *,
    ratios: Sequence[float],
    seeds: Sequence[int],
    patch_size: int,
    batch_size: int = 256,
    biharmonic: bool = False,
) -> dict[str, Any]:
    """Masked-patch MSE of each model and of interpolation, per mask ratio, on shared masks.

    images: ``(N, C, H, W)`` float in [0, 1]; each model has ``reconstruct(x, mask=(B, L) bool)``
    returning ``.reconstruction (B, C, H, W)`` in pixel units. For ratio ``r`` and seed ``s`` the
    masks are ``random_masking(N, L, r, seed=s)`` (one per image). Returns
    ``{"interpolation": {"mse", "sem"}, "models": {name: {"mse", "sem", "advantage",
    "advantage_sem", "wins"}}}``, lists over ``ratios``: ``mse`` = mean over images of each
    image's seed-averaged masked MSE, ``sem`` its standard error over images, ``advantage`` =
    interpolation minus model (paired per image), ``wins`` = share of images where the model's
    error is lower. With ``biharmonic`` the result also has ``"biharmonic": {"mse", "sem"}``
    (scikit-image's biharmonic inpainting on the same masks).
    """
    from ssl_core.losses.mae import masked_patch_errors
    from ssl_core.masking import biharmonic_masked, interpolate_masked, random_masking

    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"images must be float (N, C, H, W); got {images.dtype} "
                         f"{tuple(images.shape)}")
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. (0, 1, 2)")
    n = images.shape[0]
    grid = (images.shape[-2] // patch_size, images.shape[-1] // patch_size)
    length = grid[0] * grid[1]
    names = list(models)
    baselines = ["interpolation", "biharmonic"] if biharmonic else ["interpolation"]
    per_image = {name: np.zeros((len(ratios), n)) for name in [*baselines, *names]}
    for i, ratio in enumerate(ratios):
        for seed in seeds:
            masks = random_masking(n, length, float(ratio), seed=int(seed)).mask.bool()  # (N, L)
            for start in range(0, n, batch_size):
                x = images[start : start + batch_size]  # (B, C, H, W)
                m = masks[start : start + batch_size]  # (B, L)
                fills = {"interpolation": interpolate_masked(x, m, patch_size)}
                if biharmonic:
                    fills["biharmonic"] = biharmonic_masked(x, m, patch_size)
                with torch.inference_mode():
                    for name in names:
                        fills[name] = models[name].reconstruct(x, mask=m).reconstruction
                for name, fill in fills.items():
                    _, mse = masked_patch_errors(fill, x, m, patch_size=patch_size)  # (B,)
                    per_image[name][i, start : start + len(x)] += mse.cpu().numpy() / len(seeds)
    interp = per_image["interpolation"]
    out: dict[str, Any] = {"models": {}}
    for baseline in baselines:
        out[baseline] = {"mse": [], "sem": []}
        for i in range(len(ratios)):
            mean, sem = _mean_sem(per_image[baseline][i])
            out[baseline]["mse"].append(mean)
            out[baseline]["sem"].append(sem)
    for name in names:
        curve: dict[str, list[float]] = {"mse": [], "sem": [], "advantage": [],
                                         "advantage_sem": [], "wins": []}
        for i in range(len(ratios)):
            mean, sem = _mean_sem(per_image[name][i])
            gain, gain_sem = _mean_sem(interp[i] - per_image[name][i])
            curve["mse"].append(mean)
            curve["sem"].append(sem)
            curve["advantage"].append(gain)
            curve["advantage_sem"].append(gain_sem)
            curve["wins"].append(float((per_image[name][i] < interp[i]).mean()))
        out["models"][name] = curve
    return out


def explain(ratios: Sequence[float], model: Sequence[float], interpolation: Sequence[float],
            *, name: str = "MAE", trained_ratio: float | None = 0.75,
            wins: Sequence[float] | None = None) -> str:
    """A paragraph that reads the two curves (masked MSE per ratio), built from the numbers.

    ``wins`` (optional, per ratio): the share of images where the model's error is lower.
    """
    r = np.asarray(ratios, dtype=float)
    m = np.asarray(model, dtype=float)
    p = np.asarray(interpolation, dtype=float)
    if not (r.shape == m.shape == p.shape) or r.size < 1:
        raise ValueError("ratios, model and interpolation need the same length (>= 1)")
    gain = p - m
    factor = p / m
    lo, hi = 0, int(r.size - 1)
    best_abs, best_rel = int(np.argmax(gain)), int(np.argmax(factor))
    sentences = []
    if gain[lo] > 0:
        low = (f"At {r[lo]:.0%} masking both fill the holes well: interpolation's masked-patch "
               f"MSE is {p[lo]:.4f} and {name}'s {m[lo]:.4f} ({factor[lo]:.1f}x lower), because "
               "each hidden patch is surrounded by visible neighbours to copy from.")
    else:
        low = (f"At {r[lo]:.0%} masking interpolation is as good or better: its masked-patch "
               f"MSE is {p[lo]:.4f} against {name}'s {m[lo]:.4f}, because each hidden patch is "
               "surrounded by visible neighbours to copy from; a task that copying solves "
               "does not force a model to learn what the objects look like.")
    sentences.append(low)
    if hi > lo:
        sentences.append(
            f"From {r[lo]:.0%} to {r[hi]:.0%} interpolation's error grows "
            f"{p[hi] / p[lo]:.1f}x ({p[lo]:.4f} -> {p[hi]:.4f}) and {name}'s "
            f"{m[hi] / m[lo]:.1f}x ({m[lo]:.4f} -> {m[hi]:.4f})."
        )
    sentences.append(
        f"{name}'s advantage (interpolation minus {name}) is largest at {r[best_abs]:.0%} "
        f"({gain[best_abs]:.4f}); the ratio interpolation / {name} is largest at "
        f"{r[best_rel]:.0%} ({factor[best_rel]:.1f}x)."
    )
    if trained_ratio is not None and np.any(np.isclose(r, trained_ratio)):
        t = int(np.argmax(np.isclose(r, trained_ratio)))
        verdict = ("copying neighbours breaks down while the model still reconstructs"
                   if gain[t] > 0 else "the model does not beat interpolation there")
        share = (f"; {name} is closer on {wins[t]:.0%} of the images" if wins is not None
                 else "")
        sentences.append(
            f"At {r[t]:.0%}, the ratio it was trained with, interpolation's error is "
            f"{p[t]:.4f} against {m[t]:.4f} ({factor[t]:.1f}x){share}: {verdict}."
        )
    losing = [f"{x:.0%}" for x, g in zip(r, gain, strict=True) if g <= 0]
    if losing:
        sentences.append(f"{name} does not beat interpolation at {', '.join(losing)}.")
    else:
        sentences.append(f"{name} beats interpolation at every ratio measured.")
    return " ".join(sentences)


def photo_crops(n_per_photo: int, *, size: int, seed: int = 0,
                scale: tuple[float, float] = (0.2, 1.0)) -> Tensor:
    """Seeded random crops of the bundled photos, as MAE trains on them: ``(16 * n, 3, s, s)``
    float in [0, 1] (``augment.mae_train(size, scale)``: RandomResizedCrop + flip)."""
    from ssl_core.augment import mae_train
    from ssl_core.data import load_photos

    if n_per_photo < 1:
        raise ValueError(f"n_per_photo must be >= 1; got {n_per_photo}")
    pipeline = mae_train(size, scale=scale)
    crops = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for photo in load_photos().values():
            crops.extend(pipeline(photo) for _ in range(n_per_photo))  # (3, s, s) each
    return torch.stack(crops).float()  # (16 * n, 3, s, s)


def _fashion_images(n: int, seed: int) -> Tensor:
    from ssl_core.data import array_subset, load_fashion_mnist
    from ssl_core.images import images_to_batch

    images, _ = array_subset(load_fashion_mnist("test", source="bundled"), n, seed=seed)
    return images_to_batch(images)  # (N, 1, 28, 28)


def _curves_block(checkpoints: Mapping[str, Path], images: Tensor, *, primary: str,
                  ratios: Sequence[float], seeds: Sequence[int], batch_size: int,
                  biharmonic: bool = False) -> dict[str, Any]:
    from ssl_core.checkpoints import load_method

    models = {name: load_method(path).eval() for name, path in checkpoints.items()}
    patch = int(models[primary].patch_size)
    for name in [n for n, m in models.items() if int(getattr(m, "patch_size", -1)) != patch]:
        _log(f"[mae_ratio] skipping {name}: its patches are not {patch} px, so the masks differ")
        del models[name]
    curves = reconstruction_curves(models, images, ratios=ratios, seeds=seeds,
                                   patch_size=patch, batch_size=batch_size,
                                   biharmonic=biharmonic)
    trained = getattr(getattr(models[primary], "config", None), "mask_ratio", None)
    block: dict[str, Any] = {
        "n_images": int(images.shape[0]),
        "image_shape": list(images.shape[1:]),
        "patch_size": patch,
        "mae": {"checkpoint": primary, "trained_mask_ratio": trained,
                **curves["models"][primary]},
        "interpolation": curves["interpolation"],
        **({"biharmonic": curves["biharmonic"]} if biharmonic else {}),
        "explanation": explain(ratios, curves["models"][primary]["mse"],
                               curves["interpolation"]["mse"],
                               name="MAE" if primary == "mae" else primary,
                               trained_ratio=trained, wins=curves["models"][primary]["wins"]),
    }
    others = [{"checkpoint": name, **curve} for name, curve in curves["models"].items()
              if name != primary]
    if others:
        block["others"] = others
    return block


def run(
    *,
    checkpoints_dir: str | Path | None = None,
    ratios: Sequence[float] = RATIOS,
    seeds: Sequence[int] = (0, 1, 2),
    n_images: int = 1000,
    crops_per_photo: int = 8,
    batch_size: int = 256,
    biharmonic: bool = True,
) -> dict[str, Any]:
    """Masked MSE against mask ratio for ``mae`` (required) and ``mae_rgb`` (when bundled).

    Returns ``{"ratios", "n_images", "seeds", "mae": {"checkpoint", "mse", "sem", ...},
    "interpolation": {"mse", "sem"}, "explanation", "protocol"}`` plus ``"others"`` (other
    Fashion-MNIST masked models on the same masks) and ``"rgb"`` (the same block for ``mae_rgb``
    on photo crops) when those checkpoints exist.
    """
    if not ratios or any(not 0.0 < float(r) < 1.0 for r in ratios):
        raise ValueError(f"ratios must be in (0, 1); got {list(ratios)}")
    root = Path(checkpoints_dir) if checkpoints_dir is not None else paths.checkpoints_dir()
    if not (root / "mae" / "config.json").is_file():
        raise ValueError(
            f"no bundled 'mae' checkpoint in {root}; train one with `python -m ssl_core.pretrain "
            "--method mae` and copy its directory to assets/checkpoints/mae"
        )
    fashion = {"mae": root / "mae"}
    rgb: dict[str, Path] = {}
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if child.name == "mae" or not (child / "config.json").is_file():
            continue
        info = checkpoint_info(child)
        if info.method not in MASKED_METHODS:
            continue
        if info.is_fashion:
            fashion[child.name] = child
        elif child.name == "mae_rgb":
            rgb[child.name] = child
    ratios = [float(r) for r in ratios]
    seeds = [int(s) for s in seeds]
    images = _fashion_images(n_images, seed=0)
    _log(f"[mae_ratio] Fashion-MNIST: {', '.join(fashion)} on {len(images)} test images")
    block = _curves_block(fashion, images, primary="mae", ratios=ratios, seeds=seeds,
                          batch_size=batch_size, biharmonic=biharmonic)
    result: dict[str, Any] = {"ratios": ratios, "seeds": seeds, **block}
    result["protocol"] = (
        f"{block['n_images']:,} bundled Fashion-MNIST test images (a fixed random subset, seed "
        f"0), 28x28 gray, {block['patch_size']} px patches; for each mask ratio and seed "
        f"{seeds} a fresh random mask per image (ssl_core.masking.random_masking, seeded); "
        "error = pixel MSE over the masked patches only (ssl_core.losses.mae.masked_patch_errors, "
        "pixels in [0, 1]); each image's error averaged over the seeds, then mean and standard "
        "error over images; interpolation = ssl_core.masking.interpolate_masked (harmonic fill "
        "from the visible pixels, nothing learned), on the same masks"
        + ("; biharmonic = ssl_core.masking.biharmonic_masked "
           "(skimage.restoration.inpaint_biharmonic of the masked patches from the visible "
           "pixels), on the same masks" if biharmonic else "")
    )
    if rgb:
        info = checkpoint_info(rgb["mae_rgb"])
        augment = (info.config.get("train") or {}).get("augment") or {}
        scale = tuple(augment.get("scale", (0.2, 1.0)))
        crops = photo_crops(crops_per_photo, size=info.img_size[0], seed=0, scale=scale)
        _log(f"[mae_ratio] photos: mae_rgb on {len(crops)} crops")
        rgb_block = _curves_block(rgb, crops, primary="mae_rgb", ratios=ratios, seeds=seeds,
                                  batch_size=batch_size, biharmonic=biharmonic)
        rgb_block["protocol"] = (
            f"{len(crops)} seeded random crops (augment.mae_train({info.img_size[0]}, "
            f"scale={scale}), seed 0: {crops_per_photo} per photo) of the 16 bundled photos, "
            f"RGB, {rgb_block['patch_size']} px patches; masks, error and interpolation as for "
            "Fashion-MNIST. The crops come from the photos mae_rgb was trained on: this "
            "measures reconstruction, not generalisation"
        )
        result["rgb"] = rgb_block
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser(
        "mae_ratio",
        "Masked-patch MSE of the bundled MAE against interpolation at mask ratios "
        "0.15-0.9; writes assets/results/mae_ratio.json",
    )
    parser.add_argument("--checkpoints", default=None,
                        help="folder of checkpoint directories [assets/checkpoints]")
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS),
                        help="mask ratios [0.15 0.25 ... 0.85 0.9]")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="masks per image and ratio [0 1 2]")
    parser.add_argument("--n-images", type=int, default=1000,
                        help="Fashion-MNIST test images [1000]")
    parser.add_argument("--crops-per-photo", type=int, default=8,
                        help="random crops per bundled photo for mae_rgb [8]")
    parser.add_argument("--no-biharmonic", dest="biharmonic", action="store_false",
                        help="skip scikit-image's biharmonic inpainting baseline (~30 ms per "
                             "image and mask)")
    parser.add_argument("--results-dir", help="where to write mae_ratio.json [assets/results]")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_experiment_cli(MaeRatioResult, build_parser(), argv, lambda args: run(
        checkpoints_dir=args.checkpoints, ratios=args.ratios, seeds=args.seeds,
        n_images=args.n_images, crops_per_photo=args.crops_per_photo,
        biharmonic=args.biharmonic))


if __name__ == "__main__":
    raise SystemExit(main())
