"""Figure data for the explorer's pages: arrays, boxes and short texts that a plot shows.

Everything here is a pure function of its inputs (numpy / torch in, numpy / str / bytes out), so
the app's figures can be checked without a browser. Nothing here imports streamlit or plotly, and
nothing here computes a loss: the numbers come from the modules that own them (``augment``,
``losses.infonce``); this module only reshapes them for display.

Contents:

- images: :func:`upscale_nearest`, :func:`image_grid`, :func:`encode_png` (model inputs and
  views as pictures: :mod:`ssl_core.images`);
- sampled view parameters: :func:`crop_box`, :func:`describe_view`, :func:`view_record`,
  :func:`records_to_csv`;
- InfoNCE: :func:`pool_matrix`, :func:`matrix_to_csv`, :func:`embedding_labels`,
  :func:`candidate_weights`, :func:`sweep_temperatures`, :func:`sweep_seed_count`,
  :func:`random_pair_bounds`;
- MAE: :func:`masked_patch_errors`,
  :func:`error_curve`, :func:`interpolation_error_curve` (the errors come from
  ``losses.mae.per_patch_error``, the masks from ``masking``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ssl_core.losses.infonce import LESSON_TAUS, InfoNCEDiagnostics
from ssl_core.losses.mae import per_patch_error
from ssl_core.masking import interpolate_masked, make_mask, patchify

__all__ = [
    "CandidateWeights",
    "ErrorCurve",
    "candidate_weights",
    "crop_box",
    "describe_view",
    "embedding_labels",
    "encode_png",
    "error_curve",
    "image_grid",
    "interpolation_error_curve",
    "masked_patch_errors",
    "matrix_to_csv",
    "pool_matrix",
    "random_pair_bounds",
    "records_to_csv",
    "sweep_seed_count",
    "sweep_temperatures",
    "upscale_nearest",
    "view_record",
]


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def upscale_nearest(image: np.ndarray, *, min_side: int) -> np.ndarray:
    """Repeat pixels by the smallest integer factor that makes the shorter side >= ``min_side``.

    Browsers blur small images when they stretch them; a 28 px view enlarged here keeps its
    pixels square. ``(h, w)`` or ``(h, w, C)`` in, the same layout out (unchanged if big enough).
    """
    if min_side < 1:
        raise ValueError(f"min_side must be >= 1; got {min_side}")
    short = min(image.shape[0], image.shape[1])
    if short < 1:
        raise ValueError(f"image has an empty side: shape {image.shape}")
    factor = math.ceil(min_side / short)
    if factor <= 1:
        return image
    return image.repeat(factor, axis=0).repeat(factor, axis=1)  # (h * f, w * f[, C])


def _as_rgb(tile: np.ndarray) -> np.ndarray:
    return np.repeat(tile[..., None], 3, axis=-1) if tile.ndim == 2 else tile  # (h, w, 3)


def image_grid(
    tiles: Sequence[np.ndarray], *, ncols: int, pad: int = 4, fill: int = 255
) -> np.ndarray:
    """Lay uint8 tiles out in rows of ``ncols``, each in a cell as big as the largest tile.

    Tiles may differ in size (DINO's global and local crops) and in channels: if any tile is
    colour, grayscale ones are repeated to RGB. Returns uint8 ``(rows * (h + pad) + pad,
    ncols * (w + pad) + pad[, 3])`` with ``fill`` between and around the tiles, each tile in the
    top-left corner of its cell.
    """
    if not tiles:
        raise ValueError("image_grid needs at least one tile")
    if ncols < 1 or pad < 0:
        raise ValueError(f"ncols must be >= 1 and pad >= 0; got ncols={ncols}, pad={pad}")
    colour = any(t.ndim == 3 for t in tiles)
    tiles = [_as_rgb(t) if colour else t for t in tiles]
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    ncols = min(ncols, len(tiles))
    nrows = math.ceil(len(tiles) / ncols)
    shape: tuple[int, ...] = (nrows * (cell_h + pad) + pad, ncols * (cell_w + pad) + pad)
    grid = np.full(shape + ((3,) if colour else ()), fill, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        top = pad + (i // ncols) * (cell_h + pad)
        left = pad + (i % ncols) * (cell_w + pad)
        grid[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    return grid


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 ``(H, W)`` or ``(H, W, 3)`` image (for download buttons)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"image must be uint8 (H, W) or (H, W, 3); got {image.dtype} {image.shape}"
        )
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Sampled view parameters (the ``params`` of ``augment.View``)
# --------------------------------------------------------------------------------------------


def crop_box(params: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    """The crop of a traced view as ``(x0, y0, x1, y1)`` pixel edges in the source image.

    ``x0 = left``, ``x1 = left + width`` (exclusive), likewise for y. None when the view's
    pipeline had no crop.
    """
    crop = params.get("crop")
    if crop is None:
        return None
    left, top = int(crop["left"]), int(crop["top"])
    return left, top, left + int(crop["width"]), top + int(crop["height"])


_JITTER_LETTERS = {"brightness": "b", "contrast": "c", "saturation": "s", "hue": "h"}


def describe_view(params: Mapping[str, Any]) -> str:
    """One compact line for what ``trace_views`` sampled, e.g.

    ``crop 212x180 at (40, 12) (21% area) · flip · jitter b1.21 c0.83 s1.10 h+0.03 · gray ·
    blur σ1.2 · solarize``. Stages that were not applied are left out, so an unaugmented view
    reads ``crop ... · no colour change``.
    """
    parts = []
    box = crop_box(params)
    if box is not None:
        x0, y0, x1, y1 = box
        source_h, source_w = params["source_size"]
        area = (x1 - x0) * (y1 - y0) / (source_h * source_w)
        parts.append(f"crop {x1 - x0}x{y1 - y0} at ({x0}, {y0}) ({area:.0%} area)")
    if params.get("flipped"):
        parts.append("flip")
    jitter = params.get("jitter")
    colour = []
    if jitter is not None and jitter.get("order"):
        factors = []
        for name in jitter["order"]:
            value = jitter[name]
            text = f"{value:+.2f}" if name == "hue" else f"{value:.2f}"
            factors.append(f"{_JITTER_LETTERS[name]}{text}")
        colour.append("jitter " + " ".join(factors))
    if params.get("grayscale"):
        colour.append("gray")
    if params.get("blur_sigma") is not None:
        colour.append(f"blur σ{params['blur_sigma']:.1f}")
    if params.get("solarized"):
        colour.append("solarize")
    parts.extend(colour or ["no colour change"])
    return " · ".join(parts)


def view_record(params: Mapping[str, Any], *, pipeline: str, index: int) -> dict[str, Any]:
    """A flat row (one value per column) of a traced view's parameters, for a CSV download.

    Columns: pipeline, view, kind, crop_left, crop_top, crop_width, crop_height, output_h,
    output_w, flipped, jitter_order, brightness, contrast, saturation, hue, grayscale,
    blur_sigma, solarized. Stages not applied give empty cells (None).
    """
    crop = params.get("crop") or {}
    jitter = params.get("jitter") or {}
    return {
        "pipeline": pipeline,
        "view": index,
        "kind": params.get("kind"),
        "crop_left": crop.get("left"),
        "crop_top": crop.get("top"),
        "crop_width": crop.get("width"),
        "crop_height": crop.get("height"),
        "output_h": params["output_size"][0],
        "output_w": params["output_size"][1],
        "flipped": bool(params.get("flipped")),
        "jitter_order": " ".join(jitter.get("order", [])) or None,
        **{name: jitter.get(name) for name in _JITTER_LETTERS},
        "grayscale": bool(params.get("grayscale")),
        "blur_sigma": params.get("blur_sigma"),
        "solarized": bool(params.get("solarized")),
    }


def records_to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of rows that share their keys (header from the first row; None -> empty)."""
    if not records:
        raise ValueError("records_to_csv needs at least one row")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# InfoNCE figures
# --------------------------------------------------------------------------------------------


def pool_matrix(matrix: np.ndarray, *, max_side: int) -> tuple[np.ndarray, int]:
    """Average ``k x k`` blocks so that a heat map has at most ``max_side`` cells a side.

    ``k`` is the smallest integer with ``ceil(side / k) <= max_side`` (1 when the matrix fits:
    it is returned unchanged). Edge blocks that are cut short average what they hold. Returns
    ``(pooled (ceil(R / k), ceil(C / k)), k)``. A browser draws a 256 x 256 heat map quickly; a
    1024 x 1024 one (N = 512) is 16 times the data for no visible gain.
    """
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D; got shape {matrix.shape}")
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1; got {max_side}")
    rows, cols = matrix.shape
    k = math.ceil(max(rows, cols) / max_side)
    if k <= 1:
        return matrix, 1
    out_r, out_c = math.ceil(rows / k), math.ceil(cols / k)
    padded = np.zeros((out_r * k, out_c * k), dtype=np.float64)
    counts = np.zeros_like(padded)
    padded[:rows, :cols] = matrix
    counts[:rows, :cols] = 1.0
    sums = padded.reshape(out_r, k, out_c, k).sum(axis=(1, 3))  # (out_r, out_c)
    sizes = counts.reshape(out_r, k, out_c, k).sum(axis=(1, 3))  # (out_r, out_c)
    return (sums / sizes).astype(matrix.dtype, copy=False), k


def embedding_labels(n: int) -> list[str]:
    """Names of the 2N rows of an InfoNCE matrix: ``v1·0 .. v1·{N-1}, v2·0 .. v2·{N-1}``."""
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    return [f"v1·{i}" for i in range(n)] + [f"v2·{i}" for i in range(n)]


def matrix_to_csv(matrix: np.ndarray, labels: Sequence[str], *, decimals: int = 5) -> str:
    """CSV of a square matrix with a header row and a first column of ``labels``."""
    if matrix.ndim != 2 or matrix.shape != (len(labels), len(labels)):
        raise ValueError(
            f"matrix must be square with one label per row; got {matrix.shape} and "
            f"{len(labels)} labels"
        )
    buffer = io.StringIO()
    buffer.write("," + ",".join(labels) + "\n")
    body = np.char.mod(f"%.{decimals}f", np.asarray(matrix, dtype=np.float64))  # (R, C) str
    for label, row in zip(labels, body, strict=True):
        buffer.write(label + "," + ",".join(row) + "\n")
    return buffer.getvalue()


@dataclass(frozen=True)
class CandidateWeights:
    """One anchor's softmax over its 2N - 1 candidates, heaviest first.

    Arrays hold the ``top_k`` heaviest candidates; ``rest_weight`` is what the others share.
    ``negative_share`` answers "of the weight that goes to negatives, how much does each one
    get?": it is the softmax of ``similarity / tau`` over the 2N - 2 negatives alone (NaN at the
    positive), computed in float64 so that it stays meaningful when the positive takes nearly
    all the weight and the negatives' own weights underflow.
    """

    anchor: int
    tau: float
    candidate: np.ndarray  # (k,) int: column of each shown candidate
    weight: np.ndarray  # (k,) float: its softmax weight
    similarity: np.ndarray  # (k,) float: its cosine with the anchor
    is_positive: np.ndarray  # (k,) bool
    negative_share: np.ndarray  # (k,) float: share of the negative weight; NaN at the positive
    positive_weight: float  # weight on the positive, whether shown or not
    positive_rank_by_weight: int  # 0 = the positive is the heaviest candidate
    rest_weight: float  # total weight of the 2N - 1 - k candidates not shown
    hardest_negative_share: float  # heaviest negative / all negative weight


def candidate_weights(diag: InfoNCEDiagnostics, *, top_k: int = 64) -> CandidateWeights:
    """The bars of the anchor panel: ``diag.anchor``'s candidates, heaviest first.

    ``diag`` must come from ``info_nce_diagnostics(..., anchor=a)``. The anchor itself is not a
    candidate (its weight is exactly 0) and is left out. Candidates are ordered by cosine, which
    orders them by weight (the weight is proportional to ``exp(cosine / tau)``) even where tiny
    weights have underflowed to 0; ties keep column order.
    """
    if diag.anchor is None or diag.anchor_weights is None or diag.anchor_positive is None:
        raise ValueError(
            "diag has no anchor: call info_nce_diagnostics(z1, z2, tau, anchor=a) first"
        )
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1; got {top_k}")
    anchor, positive = diag.anchor, diag.anchor_positive
    weights = diag.anchor_weights.detach().cpu().double().numpy()  # (2N,)
    similarity = diag.similarity[anchor].detach().cpu().double().numpy()  # (2N,)
    columns = np.delete(np.arange(weights.shape[0]), anchor)  # (2N - 1,) candidates
    order = columns[np.argsort(-similarity[columns], kind="stable")]  # (2N - 1,)
    shown = order[:top_k]

    negatives = columns[columns != positive]  # (2N - 2,)
    logits = similarity[negatives] / diag.tau  # (2N - 2,)
    share = np.exp(logits - logits.max())
    share /= share.sum()
    negative_share = np.full(weights.shape[0], np.nan)  # (2N,)
    negative_share[negatives] = share
    return CandidateWeights(
        anchor=anchor,
        tau=diag.tau,
        candidate=shown,
        weight=weights[shown],
        similarity=similarity[shown],
        is_positive=shown == positive,
        negative_share=negative_share[shown],
        positive_weight=float(weights[positive]),
        positive_rank_by_weight=int(np.flatnonzero(order == positive)[0]),
        rest_weight=float(weights[order[top_k:]].sum()),
        hardest_negative_share=float(diag.hardest_negative_share[anchor]),
    )


def sweep_temperatures(
    points: int = 13, *, low: float = 0.02, high: float = 2.0
) -> tuple[float, ...]:
    """Log-spaced temperatures from ``low`` to ``high`` merged with ``LESSON_TAUS``, sorted."""
    if points < 2 or not 0 < low < high:
        raise ValueError(f"need points >= 2 and 0 < low < high; got {points}, {low}, {high}")
    grid = np.geomspace(low, high, points)
    merged = sorted({round(float(t), 6) for t in grid} | set(LESSON_TAUS))
    return tuple(merged)


def sweep_seed_count(n: int, *, budget: int = 256, most: int = 20) -> int:
    """How many random batches a temperature sweep at batch size ``n`` averages over.

    One batch of N pairs already averages 2N anchor losses, so large batches need fewer seeds:
    ``clamp(budget // n, 1, most)`` keeps the work (and the standard error) roughly constant:
    16 seeds at N = 16, 1 at N >= 256.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    return max(1, min(most, budget // n))


def random_pair_bounds(n: int, d: int, tau: float) -> tuple[float, float]:
    """Bounds on the expected InfoNCE loss of random pairs (see ``losses.infonce``'s docstring).

    ``log(2N - 1) <= E[loss] <= log(2N - 1) + 1 / (2 D tau^2)``: the lower bound is the uniform
    softmax the lesson quotes; the gap closes only for large D or large tau.
    """
    if n < 1 or d < 1 or not tau > 0:
        raise ValueError(f"need n >= 1, d >= 1 and tau > 0; got n={n}, d={d}, tau={tau}")
    chance = math.log(2 * n - 1)
    return chance, chance + 1.0 / (2.0 * d * tau**2)


# --------------------------------------------------------------------------------------------
# MAE: model inputs, per-patch errors, error against mask ratio
# --------------------------------------------------------------------------------------------


def masked_patch_errors(
    prediction: torch.Tensor, images: torch.Tensor, mask: torch.Tensor | np.ndarray,
    *, patch_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-patch pixel MSE and its mean over the masked patches.

    prediction, images: ``(B, C, H, W)`` in the same units; mask: ``(L,)`` (shared) or
    ``(B, L)``, True = masked. Returns ``(per_patch (B, L), masked_mse (B,))``: MAE's loss in
    pixel units, so a learned reconstruction and the interpolation baseline compare directly.
    """
    errors = per_patch_error(patchify(prediction, patch_size), patchify(images, patch_size))
    m = torch.as_tensor(mask, device=errors.device).bool().expand_as(errors)  # (B, L)
    counts = m.sum(dim=1)  # (B,)
    if bool((counts == 0).any()):
        raise ValueError("the mask hides no patch: the masked-patch MSE is undefined")
    return errors, (errors * m).sum(dim=1) / counts  # (B, L), (B,)


@dataclass(frozen=True)
class ErrorCurve:
    """Masked-patch MSE against the mask ratio, averaged over seeds (NaN where a ratio fails)."""

    ratios: np.ndarray  # (R,)
    mean: np.ndarray  # (R,) mean masked-patch MSE over the seeds
    sem: np.ndarray  # (R,) its standard error (0 with one seed or a deterministic mask)
    seeds: tuple[int, ...]


def error_curve(
    images: torch.Tensor,
    ratios: Iterable[float],
    *,
    patch_size: int,
    fill: Callable[[torch.Tensor, np.ndarray], torch.Tensor],
    mask_kind: str = "random",
    seeds: Iterable[int] = (0,),
) -> ErrorCurve:
    """How well ``fill`` rebuilds masked patches as the mask ratio grows.

    images: ``(1, C, H, W)``; ``fill(images, mask)`` with mask ``(L,)`` bool (True = masked)
    returns the prediction ``(1, C, H, W)``. For each ratio and seed the mask is
    ``make_mask(mask_kind, h, w, ratio, seed=seed)``; a ratio whose mask cannot be drawn (it
    leaves no visible or no masked patch on this grid) gives NaN.
    """
    if images.ndim != 4 or images.shape[0] != 1:
        raise ValueError(f"images must be one image (1, C, H, W); got {tuple(images.shape)}")
    ratios = np.asarray(list(ratios), dtype=np.float64)  # (R,)
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("error_curve needs at least one seed")
    grid_h, grid_w = images.shape[-2] // patch_size, images.shape[-1] // patch_size
    mean = np.full(len(ratios), np.nan)
    sem = np.full(len(ratios), np.nan)
    for i, ratio in enumerate(ratios):
        values = []
        for seed in seeds:
            try:
                mask = make_mask(mask_kind, grid_h, grid_w, float(ratio), seed=seed)  # (L,)
            except ValueError:
                break
            _, mse = masked_patch_errors(fill(images, mask), images, mask, patch_size=patch_size)
            values.append(float(mse[0]))
        if len(values) == len(seeds):
            mean[i] = float(np.mean(values))
            sem[i] = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 \
                else 0.0
    return ErrorCurve(ratios=ratios, mean=mean, sem=sem, seeds=seeds)


def interpolation_error_curve(
    images: torch.Tensor,
    ratios: Iterable[float],
    *,
    patch_size: int,
    mask_kind: str = "random",
    seeds: Iterable[int] = (0,),
) -> ErrorCurve:
    """:func:`error_curve` of the no-learning baseline, ``masking.interpolate_masked``."""
    return error_curve(
        images, ratios, patch_size=patch_size, mask_kind=mask_kind, seeds=seeds,
        fill=lambda x, mask: interpolate_masked(x, mask, patch_size),
    )
