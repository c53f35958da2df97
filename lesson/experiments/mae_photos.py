"""``python3 -m lesson.experiments.mae_photos``: can the colour MAE beat biharmonic inpainting on
photos it was not trained on?

``mae_rgb`` was pretrained on random crops of the 16 bundled photos only
(``assets/checkpoints/PROVENANCE.md``). This measures its masked-patch MSE against the two
classical fills that learn nothing -- harmonic interpolation
(:func:`ssl_core.masking.interpolate_masked`) and scikit-image's biharmonic inpainting
(:func:`ssl_core.masking.biharmonic_masked`) -- on two sets of seeded random crops, the same
crops and masks for all three fills:

- ``seen``: crops of the 16 bundled photos (the ones it was trained on);
- ``held_out``: crops of photos shipped with scikit-image and matplotlib that are not among the
  bundled ones (:func:`held_out_photos`; the gray ones are repeated into three channels).

The MAE page reads the result to choose what it opens on (:func:`opens_on_photos`) and to say
what the photo model saw (:func:`photo_verdict`). Writes ``assets/results/mae_photos.json``.
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
from torch import Tensor

from lesson.results import Record, Result, experiment_parser, run_experiment_cli
from ssl_core import paths

__all__ = ["RATIOS", "MaePhotosResult", "PhotoBlock", "build_parser", "held_out_photos", "main",
           "opening_source", "opens_on_photos", "photo_verdict", "run"]

RATIOS = (0.25, 0.5, 0.75, 0.9)
CHECKPOINT = "mae_rgb"
# scikit-image's bundled photographs (skimage.data) that are not among assets/images
_SKIMAGE_GRAY = ("camera", "moon", "coins", "brick", "grass", "gravel")


@dataclass(frozen=True, kw_only=True)
class FillStats(Record):
    """Masked-patch MSE of one fill per ratio: mean over images and its standard error."""

    mse: list[float]
    sem: list[float]


@dataclass(frozen=True, kw_only=True)
class PhotoBlock(Record):
    """One set of crops: the three fills' curves and the MAE's share of wins over biharmonic."""

    n_images: int
    sources: list[str]
    mae: FillStats
    interpolation: FillStats
    biharmonic: FillStats
    wins_vs_biharmonic: list[float]  # per ratio: share of crops where the MAE's error is lower
    protocol: str


@dataclass(frozen=True, kw_only=True)
class MaePhotosResult(Result):
    """The ``mae_photos`` result: the colour MAE against two classical fills, on the photos it
    was trained on (``seen``) and on photos it never saw (``held_out``)."""

    NAME = "mae_photos"

    checkpoint: str
    trained_on: str
    trained_mask_ratio: float | None = None
    ratios: list[float]
    seeds: list[int]
    seen: PhotoBlock
    held_out: PhotoBlock


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def held_out_photos() -> dict[str, np.ndarray]:
    """Photos the colour MAE never saw: name -> uint8 ``(H, W, 3)``. scikit-image's motorcycle
    (colour) and six gray photographs (camera, moon, coins, brick, grass, gravel, repeated into
    three channels), and matplotlib's sample photo of a present; all ship with the libraries,
    so nothing is downloaded."""
    import matplotlib.cbook
    import matplotlib.image
    import skimage.data

    photos = {"motorcycle (skimage)": skimage.data.stereo_motorcycle()[0]}
    for name in _SKIMAGE_GRAY:
        gray = getattr(skimage.data, name)()  # (H, W) uint8
        photos[f"{name} (skimage, gray)"] = np.repeat(gray[..., None], 3, axis=-1)
    present = matplotlib.image.imread(
        matplotlib.cbook.get_sample_data("Minduka_Present_Blue_Pack.png"))  # (H, W, 4) float
    photos["present (matplotlib)"] = (present[..., :3] * 255).round().astype(np.uint8)
    return photos


def _crops(photos: Mapping[str, np.ndarray], n_per_photo: int, *, size: int, seed: int,
           scale: tuple[float, float]) -> Tensor:
    """Seeded random crops as MAE trains on them: ``(len(photos) * n, 3, size, size)``."""
    from ssl_core.augment import mae_train

    pipeline = mae_train(size, scale=scale)
    crops = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for photo in photos.values():
            crops.extend(pipeline(photo) for _ in range(n_per_photo))  # (3, s, s) each
    return torch.stack(crops).float()


def _mean_sem(values: np.ndarray) -> tuple[float, float]:
    sem = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
    return float(values.mean()), sem


def _block(model: torch.nn.Module, images: Tensor, *, ratios: Sequence[float],
           seeds: Sequence[int], sources: list[str], protocol: str) -> dict[str, Any]:
    """The three fills' masked MSE on ``images (N, 3, H, W)``, on shared random masks."""
    from ssl_core.losses.mae import masked_patch_errors
    from ssl_core.masking import biharmonic_masked, interpolate_masked, random_masking

    n, patch = images.shape[0], int(model.patch_size)
    length = (images.shape[-2] // patch) * (images.shape[-1] // patch)
    names = ("mae", "interpolation", "biharmonic")
    per_image = {name: np.zeros((len(ratios), n)) for name in names}  # (R, N)
    for i, ratio in enumerate(ratios):
        for seed in seeds:
            mask = random_masking(n, length, float(ratio), seed=int(seed)).mask.bool()  # (N, L)
            with torch.inference_mode():
                fills = {"mae": model.reconstruct(images, mask=mask).reconstruction,
                         "interpolation": interpolate_masked(images, mask, patch),
                         "biharmonic": biharmonic_masked(images, mask, patch)}
            for name, filled in fills.items():
                _, mse = masked_patch_errors(filled, images, mask, patch_size=patch)  # (N,)
                per_image[name][i] += mse.cpu().numpy() / len(seeds)
        _log(f"[mae_photos] ratio {ratio:g}: " + ", ".join(
            f"{name} {per_image[name][i].mean():.4f}" for name in names))
    block: dict[str, Any] = {"n_images": n, "sources": sources, "protocol": protocol}
    for name in names:
        stats = [_mean_sem(per_image[name][i]) for i in range(len(ratios))]
        block[name] = {"mse": [m for m, _ in stats], "sem": [s for _, s in stats]}
    block["wins_vs_biharmonic"] = [float((per_image["mae"][i] < per_image["biharmonic"][i])
                                         .mean()) for i in range(len(ratios))]
    return block


def run(*, checkpoints_dir: str | Path | None = None, ratios: Sequence[float] = RATIOS,
        seeds: Sequence[int] = (0, 1, 2), crops_per_photo: int = 8) -> dict[str, Any]:
    """Masked-patch MSE of ``mae_rgb``, interpolation and biharmonic inpainting on crops of the
    bundled photos and of :func:`held_out_photos`; the JSON form of :class:`MaePhotosResult`."""
    from ssl_core.checkpoints import checkpoint_info, load_method
    from ssl_core.data import load_photos

    if not ratios or any(not 0.0 < float(r) < 1.0 for r in ratios):
        raise ValueError(f"ratios must be in (0, 1); got {list(ratios)}")
    if crops_per_photo < 1:
        raise ValueError(f"crops_per_photo must be >= 1; got {crops_per_photo}")
    root = Path(checkpoints_dir) if checkpoints_dir is not None else paths.checkpoints_dir()
    path = root / CHECKPOINT
    if not (path / "config.json").is_file():
        raise ValueError(f"no bundled {CHECKPOINT!r} checkpoint in {root}; see "
                         "assets/checkpoints/PROVENANCE.md for the command that trains it")
    info = checkpoint_info(path)
    model = load_method(path).eval()
    augment = (info.config.get("train") or {}).get("augment") or {}
    scale = tuple(augment.get("scale", (0.2, 1.0)))
    size = int(info.img_size[0])
    ratios, seeds = [float(r) for r in ratios], [int(s) for s in seeds]
    masks = (f"{size} x {size} crops (augment.mae_train({size}, scale={scale}), seed 0, "
             f"{crops_per_photo} per photo), {int(model.patch_size)} px patches; for each ratio "
             f"and seed {seeds} a random mask per crop (ssl_core.masking.random_masking), the "
             "same for the three fills; error = pixel MSE over the masked patches "
             "(ssl_core.losses.mae.masked_patch_errors, pixels in [0, 1]), mean and standard "
             "error over crops")
    blocks = {}
    for key, photos, what in (
        ("seen", load_photos(), "the 16 bundled photos, the ones mae_rgb was trained on"),
        ("held_out", held_out_photos(), "photos mae_rgb never saw (scikit-image's and "
                                         "matplotlib's sample photos; gray ones in 3 channels)"),
    ):
        images = _crops(photos, crops_per_photo, size=size, seed=0, scale=scale)
        _log(f"[mae_photos] {key}: {len(images)} crops of {len(photos)} photos")
        blocks[key] = _block(model, images, ratios=ratios, seeds=seeds,
                             sources=list(photos), protocol=f"{what}; {masks}")
    trained = getattr(getattr(model, "config", None), "mask_ratio", None)
    return {"checkpoint": CHECKPOINT, "trained_on": _trained_on(info),
            "trained_mask_ratio": trained, "ratios": ratios, "seeds": seeds, **blocks}


def _trained_on(info: Any) -> str:
    """What the checkpoint was pretrained on, in words (its config's data description)."""
    data = info.config.get("data") or {}
    name = " ".join(str(data[k]) for k in ("name", "spec") if data.get(k)) or "unrecorded data"
    count = data.get("n_images")
    return f"the {name} ({count} images, as random crops)" if count else name


def _at(result: MaePhotosResult, ratio: float) -> int:
    """Index of the measured ratio nearest ``ratio``."""
    return int(np.argmin(np.abs(np.asarray(result.ratios) - ratio)))


def opens_on_photos(result: MaePhotosResult, *, ratio: float = 0.75) -> bool:
    """Whether the colour MAE beats both classical fills (biharmonic inpainting and
    interpolation) on held-out photos at ``ratio`` (the nearest measured): only then does the
    MAE page open on a photo (issue 13)."""
    i = _at(result, ratio)
    held = result.held_out
    return held.mae.mse[i] < min(held.biharmonic.mse[i], held.interpolation.mse[i])


def opening_source(result: MaePhotosResult | None) -> str:
    """The image source the MAE page opens on: ``"photo"`` when :func:`opens_on_photos`,
    ``"fashion"`` when it does not or when nothing was measured (no claim without evidence)."""
    return "photo" if result is not None and opens_on_photos(result) else "fashion"


def photo_verdict(result: MaePhotosResult, *, ratio: float = 0.75) -> str:
    """One sentence, from the numbers: what the colour MAE saw and whether it beats biharmonic
    inpainting on photos it saw and on photos it did not, at ``ratio`` (the nearest measured)."""
    i = _at(result, ratio)

    def clause(block: PhotoBlock) -> str:
        mae, bih, interp = block.mae.mse[i], block.biharmonic.mse[i], block.interpolation.mse[i]
        beaten = [name for name, value in (("biharmonic inpainting", bih),
                                           ("interpolation", interp)) if mae < value]
        lost = [name for name, value in (("biharmonic inpainting", bih),
                                         ("interpolation", interp)) if mae >= value]
        said = (f"it beats {' and '.join(beaten)}" if beaten else "")
        said += ("; " if beaten and lost else "") + (
            f"it does not beat {' or '.join(lost)}" if lost else "")
        return (f"{said} (masked-patch MSE: MAE {mae:.4f}, biharmonic {bih:.4f}, "
                f"interpolation {interp:.4f}; MAE closer than biharmonic on "
                f"{block.wins_vs_biharmonic[i]:.0%} of {block.n_images} crops)")

    return (f"The colour MAE saw only {result.trained_on}. At mask ratio {result.ratios[i]:g}, "
            f"on those photos {clause(result.seen)}. On {len(result.held_out.sources)} photos "
            f"it never saw, {clause(result.held_out)}.")


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser(
        "mae_photos",
        "The colour MAE (mae_rgb) against interpolation and biharmonic inpainting on the "
        "bundled photos and on held-out photos; writes assets/results/mae_photos.json",
    )
    parser.add_argument("--checkpoints", default=None,
                        help="folder of checkpoint directories [assets/checkpoints]")
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS),
                        help="mask ratios [0.25 0.5 0.75 0.9]")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="masks per crop and ratio [0 1 2]")
    parser.add_argument("--crops-per-photo", type=int, default=8,
                        help="random crops per photo [8]")
    parser.add_argument("--results-dir", help="where to write mae_photos.json [assets/results]")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_experiment_cli(MaePhotosResult, build_parser(), argv, lambda args: run(
        checkpoints_dir=args.checkpoints, ratios=args.ratios, seeds=args.seeds,
        crops_per_photo=args.crops_per_photo))


if __name__ == "__main__":
    raise SystemExit(main())
