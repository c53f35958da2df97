"""Patches and masks for masked image modelling (MAE).

The MAE pipeline reads as named stages; this module holds the ones without parameters:

    patchify -> random_masking -> gather_visible (encoder input) -> encode(visible)
    -> restore_sequence (visible + mask tokens, decoder input) -> decode -> mae_loss (masked only)

plus structured masks for the MAE page (``block_mask``, ``grid_mask``, one dispatcher
``make_mask``), a per-pixel view of a mask (``mask_to_image``) and a no-learning baseline that
fills masked patches by smooth interpolation (``interpolate_masked``).

Conventions (those of facebookresearch/mae ``models_mae.py``):

- A patch vector is ordered ``(p, q, c)``: row inside the patch, then column, then channel
  (channel fastest). Patches are numbered in raster order over the ``(h, w)`` patch grid.
- ``mask``: 1 / True = masked (hidden from the encoder), 0 / False = visible.
- Rounding: a ratio ``r`` over ``L`` patches keeps ``num_visible = floor(L * (1 - r))`` patches
  and masks the rest, as MAE's ``len_keep = int(L * (1 - mask_ratio))``; the masked count is
  rounded *up*. ``random_mask_indices`` keeps the lesson's rule ``n_mask = floor(L * r)``, which
  rounds the masked count *down*; the two agree whenever ``L * r`` is a whole number (196 patches
  at 0.75: 49 visible, 147 masked). Both floors forgive float noise of 1e-9, so that 10 patches at
  0.9 keep 1 (plain ``int(10 * (1 - 0.9))`` is 0 because ``1 - 0.9 == 0.09999999999999998``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, reduce, repeat

__all__ = [
    "MASK_KINDS",
    "MaskResult",
    "block_mask",
    "gather_visible",
    "grid_mask",
    "interpolate_masked",
    "make_mask",
    "mask_to_image",
    "num_visible",
    "patchify",
    "random_mask_indices",
    "random_masking",
    "restore_sequence",
    "unpatchify",
]

MASK_KINDS = ("random", "block", "grid")

# Slack added before flooring a count, so float noise (196 * 0.25000000000000006) never drops one.
_FLOAT_SLACK = 1e-9

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


# --------------------------------------------------------------------------------------------
# patches
# --------------------------------------------------------------------------------------------


def _nearest_multiples(size: int, multiple: int) -> list[int]:
    """The multiples of ``multiple`` just below and just above ``size`` (positive ones only)."""
    below = (size // multiple) * multiple
    return sorted({m for m in (below, below + multiple) if m > 0})


def _patch_grid(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """(h, w) patch grid of an H x W image, or a ValueError naming the nearest valid sizes."""
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int; got {patch_size!r}")
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"images of size {height}x{width} cannot be cut into {patch_size}x{patch_size} "
            f"patches: H and W must be multiples of {patch_size}; nearest valid sizes are "
            f"H in {_nearest_multiples(height, patch_size)} and "
            f"W in {_nearest_multiples(width, patch_size)} (resize or crop first)"
        )
    return height // patch_size, width // patch_size


def patchify(images: ArrayT, patch_size: int) -> ArrayT:
    """Cut images into flattened non-overlapping patches: (B, C, H, W) -> (B, L, p*p*C).

    Works for any channel count (1 for Fashion-MNIST, 3 for photos) and for torch tensors or
    numpy arrays. ``L = (H / p) * (W / p)`` patches in raster order; each patch vector is ordered
    (p, q, c) - row in patch, column in patch, channel fastest - exactly as MAE's ``patchify``.
    H and W must be multiples of ``patch_size`` (ValueError naming the nearest valid sizes).
    """
    if images.ndim != 4:
        raise ValueError(
            f"patchify expects images of shape (B, C, H, W); got shape {tuple(images.shape)} "
            "(add a batch dimension with images[None] for a single image)"
        )
    _patch_grid(images.shape[-2], images.shape[-1], patch_size)
    return rearrange(images, "b c (h p) (w q) -> b (h w) (p q c)", p=patch_size, q=patch_size)


def _resolve_grid(
    num_patches: int, grid: tuple[int, int] | None, what: str = "patches"
) -> tuple[int, int]:
    """Patch grid (h, w) for ``num_patches``: ``grid`` if given (checked), else a square one."""
    if grid is None:
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(
                f"{num_patches} {what} do not form a square grid; pass grid=(h, w) with "
                f"h * w == {num_patches}"
            )
        return side, side
    grid_h, grid_w = (int(g) for g in grid)
    if grid_h < 1 or grid_w < 1 or grid_h * grid_w != num_patches:
        raise ValueError(
            f"grid={tuple(grid)} does not hold {num_patches} {what}; need h * w == {num_patches}"
        )
    return grid_h, grid_w


def unpatchify(
    patches: ArrayT,
    *,
    patch_size: int,
    channels: int | None = None,
    grid: tuple[int, int] | None = None,
    image_size: tuple[int, int] | None = None,
) -> ArrayT:
    """Exact inverse of ``patchify``: (B, L, p*p*C) -> (B, C, H, W).

    ``channels`` defaults to ``P / p**2`` (checked against it when given). The patch grid is
    ``grid=(h, w)`` in patches, or ``image_size=(H, W)`` in pixels, or (neither given) square.
    """
    if patches.ndim != 3:
        raise ValueError(
            f"unpatchify expects patches of shape (B, L, p*p*C); got {tuple(patches.shape)}"
        )
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int; got {patch_size!r}")
    _, num_patches, patch_dim = patches.shape
    inferred, leftover = divmod(patch_dim, patch_size * patch_size)
    if leftover or inferred == 0:
        raise ValueError(
            f"patch vectors of length {patch_dim} are not p*p*C for patch_size={patch_size}"
        )
    if channels is not None and channels != inferred:
        raise ValueError(
            f"channels={channels} does not match patch vectors of length {patch_dim} "
            f"(= {patch_size}*{patch_size}*{inferred}); pass channels={inferred} or check "
            "patch_size"
        )
    if grid is not None and image_size is not None:
        raise ValueError("pass grid=(h, w) in patches or image_size=(H, W) in pixels, not both")
    if image_size is not None:
        grid = _patch_grid(int(image_size[0]), int(image_size[1]), patch_size)
    grid_h, grid_w = _resolve_grid(num_patches, grid)
    return rearrange(
        patches,
        "b (h w) (p q c) -> b c (h p) (w q)",
        h=grid_h,
        w=grid_w,
        p=patch_size,
        q=patch_size,
        c=inferred,
    )


# --------------------------------------------------------------------------------------------
# how many patches a ratio hides
# --------------------------------------------------------------------------------------------


def _check_ratio(mask_ratio: float) -> float:
    if isinstance(mask_ratio, bool) or not isinstance(mask_ratio, Real):
        raise ValueError(f"mask_ratio must be a number in (0, 1); got {mask_ratio!r}")
    ratio = float(mask_ratio)
    if not math.isfinite(ratio):
        raise ValueError(f"mask_ratio must be a finite number in (0, 1); got {ratio}")
    if not 0.0 < ratio < 1.0:
        raise ValueError(
            f"mask_ratio must be in (0, 1) (the fraction of patches hidden); got {ratio}"
        )
    return ratio


def _check_num_patches(num_patches: int) -> int:
    if isinstance(num_patches, bool) or not isinstance(num_patches, (int, np.integer)):
        raise ValueError(f"num_patches must be an int; got {num_patches!r}")
    if num_patches < 2:
        raise ValueError(
            f"masking needs at least 2 patches (one visible, one masked); got {num_patches}"
        )
    return int(num_patches)


def _round_down(x: float, digits: int = 6) -> float:
    return math.floor(x * 10**digits) / 10**digits


def _round_up(x: float, digits: int = 6) -> float:
    return math.ceil(x * 10**digits) / 10**digits


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """Patches kept visible at ``mask_ratio``: ``floor(L * (1 - r))`` (MAE's ``len_keep``).

    Raises ValueError for a ratio outside (0, 1), a non-finite one, or one that leaves no visible
    or no masked patch; the message says which ratios work for this ``num_patches``.
    """
    n = _check_num_patches(num_patches)
    ratio = _check_ratio(mask_ratio)
    keep = math.floor(n * (1.0 - ratio) + _FLOAT_SLACK)
    if keep < 1:
        raise ValueError(
            f"mask_ratio={ratio} leaves no visible patch for {n} patches "
            f"(keeps int({n}*(1-{ratio}))=0); use at most {_round_down(1 - 1 / n):g}"
        )
    if keep >= n:
        raise ValueError(
            f"mask_ratio={ratio} leaves no masked patch for {n} patches "
            f"(keeps int({n}*(1-{ratio}))={keep}); use at least {_round_up(1 / n):g}"
        )
    return keep


def _lesson_num_masked(num_patches: int, mask_ratio: float) -> int:
    """The lesson's rule: ``n_mask = floor(L * r)`` (masked count rounded down)."""
    n = _check_num_patches(num_patches)
    ratio = _check_ratio(mask_ratio)
    n_mask = math.floor(n * ratio + _FLOAT_SLACK)
    if n_mask < 1:
        raise ValueError(
            f"mask_ratio={ratio} leaves no masked patch for {n} patches "
            f"(masks int({n}*{ratio})=0); use at least {_round_up(1 / n):g}"
        )
    if n_mask >= n:
        raise ValueError(
            f"mask_ratio={ratio} leaves no visible patch for {n} patches "
            f"(masks int({n}*{ratio})={n_mask}); use at most {_round_down(1 - 1 / n):g}"
        )
    return n_mask


def random_mask_indices(
    num_patches: int, mask_ratio: float = 0.75, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The lesson's random mask: (visible_indices, masked_indices), both sorted int64 arrays.

    ``n_mask = floor(num_patches * mask_ratio)`` (196 patches at 0.75: 49 visible, 147 masked);
    the two arrays are disjoint and together cover ``range(num_patches)``. Deterministic per
    ``seed`` (numpy ``default_rng``). See the module docstring for how this rounding differs from
    ``random_masking`` when ``L * r`` is not a whole number.
    """
    n_mask = _lesson_num_masked(num_patches, mask_ratio)
    order = np.random.default_rng(seed).permutation(num_patches)  # (L,)
    masked = np.sort(order[:n_mask]).astype(np.int64)  # (n_mask,)
    visible = np.sort(order[n_mask:]).astype(np.int64)  # (L - n_mask,)
    return visible, masked


# --------------------------------------------------------------------------------------------
# batched per-sample masking, as in MAE
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskResult:
    """Which patches each sample keeps, in the index form the encoder and decoder use.

    ids_keep: (B, L_keep) long, the visible patches in the order the encoder sees them.
    mask: (B, L) float32, 1 = masked, 0 = visible, in patch (raster) order (MAE convention).
    ids_restore: (B, L) long, the inverse of the shuffle ``[ids_keep, masked ids]``:
        ``restore_sequence`` gathers with it to put [visible, mask tokens] back in patch order.
    """

    ids_keep: torch.Tensor
    mask: torch.Tensor
    ids_restore: torch.Tensor

    def __post_init__(self) -> None:
        if self.ids_keep.ndim != 2 or self.mask.ndim != 2 or self.ids_restore.ndim != 2:
            raise ValueError(
                "MaskResult wants ids_keep (B, L_keep), mask (B, L) and ids_restore (B, L); got "
                f"{tuple(self.ids_keep.shape)}, {tuple(self.mask.shape)}, "
                f"{tuple(self.ids_restore.shape)}"
            )
        if self.mask.shape != self.ids_restore.shape or (
            self.ids_keep.shape[0] != self.mask.shape[0]
        ):
            raise ValueError(
                f"MaskResult shapes disagree: ids_keep {tuple(self.ids_keep.shape)}, "
                f"mask {tuple(self.mask.shape)}, ids_restore {tuple(self.ids_restore.shape)}"
            )

    @property
    def n_keep(self) -> int:
        """Visible patches per sample (L_keep)."""
        return self.ids_keep.shape[1]

    @property
    def num_patches(self) -> int:
        """Patches per sample (L)."""
        return self.mask.shape[1]

    @property
    def n_mask(self) -> int:
        """Masked patches per sample (L - L_keep)."""
        return self.num_patches - self.n_keep

    @classmethod
    def from_bool(
        cls, mask: np.ndarray | torch.Tensor, *, device: torch.device | str | None = None
    ) -> MaskResult:
        """Index form of boolean masks (L,) or (B, L), True = masked, e.g. from ``make_mask``.

        Every row must mask the same number of patches (the encoder batch is rectangular). The
        visible patches are kept in ascending patch order.
        """
        m = torch.as_tensor(mask, device=device)
        if m.ndim == 1:
            m = m[None]  # (1, L)
        if m.ndim != 2:
            raise ValueError(f"mask must have shape (L,) or (B, L); got {tuple(m.shape)}")
        m = m.bool()  # (B, L)
        counts = m.sum(dim=1)  # (B,)
        if not bool((counts == counts[0]).all()):
            raise ValueError(
                "every row of the mask must hide the same number of patches to batch the "
                f"encoder input; got counts {counts.tolist()}"
            )
        n_mask, length = int(counts[0]), m.shape[1]
        if n_mask == 0 or n_mask == length:
            raise ValueError(
                f"mask hides {n_mask} of {length} patches; it must leave at least one visible "
                "and at least one masked patch"
            )
        # visible (0) first, masked (1) after, each group in ascending patch order
        ids_shuffle = torch.argsort(m.long(), dim=1, stable=True)  # (B, L)
        ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, L)
        ids_keep = ids_shuffle[:, : length - n_mask]  # (B, L_keep)
        return cls(ids_keep=ids_keep, mask=m.float(), ids_restore=ids_restore)


def _uniform_noise(
    shape: tuple[int, int],
    generator: torch.Generator | int | None,
    seed: int | None,
    device: torch.device | str | None,
) -> torch.Tensor:
    """Uniform [0, 1) noise of ``shape``: from ``generator``, a fresh CPU one for ``seed``, or the
    global RNG; moved to ``device``."""
    if generator is not None and seed is not None:
        raise ValueError("pass generator= or seed=, not both")
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        generator, seed = None, int(generator)
    if seed is not None:
        # a seed draws on the CPU so the same seed gives the same mask on every device
        generator = torch.Generator().manual_seed(seed)
    if generator is None:
        return torch.rand(shape, device=device)
    noise = torch.rand(shape, generator=generator, device=generator.device)
    return noise if device is None else noise.to(device)


def random_masking(
    batch_size: int,
    num_patches: int,
    mask_ratio: float = 0.75,
    *,
    generator: torch.Generator | int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> MaskResult:
    """A fresh random mask for every sample, as MAE's ``random_masking`` (argsort of noise).

    Keeps ``n_keep = num_visible(num_patches, mask_ratio)`` patches per sample. Randomness comes
    from ``generator`` (a ``torch.Generator``, or an int taken as a seed), or ``seed`` (a fresh
    CPU generator: same mask on every device), or else torch's global RNG (training).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    n_keep = num_visible(num_patches, mask_ratio)
    noise = _uniform_noise((batch_size, num_patches), generator, seed, device)  # (B, L)
    ids_shuffle = torch.argsort(noise, dim=1)  # (B, L): small noise first, the first n_keep kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, L): the inverse permutation
    ids_keep = ids_shuffle[:, :n_keep]  # (B, L_keep)
    mask = torch.ones(batch_size, num_patches, device=noise.device)  # (B, L), shuffled order
    mask[:, :n_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)  # (B, L), patch order, 1 = masked
    return MaskResult(ids_keep=ids_keep, mask=mask, ids_restore=ids_restore)


def gather_visible(tokens: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
    """The encoder's input, the visible tokens: (B, L, D), (B, L_keep) -> (B, L_keep, D)."""
    if tokens.ndim != 3 or ids_keep.ndim != 2 or tokens.shape[0] != ids_keep.shape[0]:
        raise ValueError(
            "gather_visible wants tokens (B, L, D) and ids_keep (B, L_keep); got "
            f"{tuple(tokens.shape)} and {tuple(ids_keep.shape)}"
        )
    index = repeat(ids_keep, "b k -> b k d", d=tokens.shape[2])  # (B, L_keep, D)
    return torch.gather(tokens, dim=1, index=index)  # (B, L_keep, D)


def restore_sequence(
    tokens: torch.Tensor,
    ids_restore: torch.Tensor,
    *,
    mask_token: torch.Tensor | None = None,
) -> torch.Tensor:
    """The decoder's input: [visible, mask tokens] put back in patch order. -> (B, L, D).

    ``tokens`` is (B, L, D): the L_keep encoded visible tokens (in ``ids_keep`` order) followed
    by mask tokens. Or, with ``mask_token`` (D,) given, ``tokens`` is just the visible
    (B, L_keep, D) and the mask token is appended to fill L (gradients reach it).
    """
    if tokens.ndim != 3 or ids_restore.ndim != 2 or tokens.shape[0] != ids_restore.shape[0]:
        raise ValueError(
            "restore_sequence wants tokens (B, L or L_keep, D) and ids_restore (B, L); got "
            f"{tuple(tokens.shape)} and {tuple(ids_restore.shape)}"
        )
    batch, length, dim = tokens.shape
    num_patches = ids_restore.shape[1]
    if mask_token is not None:
        if mask_token.numel() != dim:
            raise ValueError(f"mask_token must hold {dim} values; got {tuple(mask_token.shape)}")
        if length > num_patches:
            raise ValueError(f"{length} visible tokens but only {num_patches} patches")
        fill = mask_token.reshape(1, 1, dim).expand(batch, num_patches - length, dim)
        tokens = torch.cat([tokens, fill], dim=1)  # (B, L, D), shuffled order
    elif length != num_patches:
        raise ValueError(
            f"tokens hold {length} positions but ids_restore {num_patches}; append the mask "
            "tokens first or pass mask_token="
        )
    index = repeat(ids_restore, "b l -> b l d", d=dim)  # (B, L, D)
    return torch.gather(tokens, dim=1, index=index)  # (B, L, D), patch order


# --------------------------------------------------------------------------------------------
# structured masks for the MAE page (numpy bool, shape (L,), True = masked)
# --------------------------------------------------------------------------------------------


def _check_grid(grid_h: int, grid_w: int) -> None:
    for name, value in (("grid_h", grid_h), ("grid_w", grid_w)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")


def block_mask(grid_h: int, grid_w: int, mask_ratio: float = 0.75, *, seed: int = 0) -> np.ndarray:
    """One contiguous block of masked patches at a random place: bool (grid_h * grid_w,).

    Masks exactly ``L - num_visible(L, mask_ratio)`` patches, the same count as
    ``random_masking``. The block is ``bw`` patches wide, ``bw = ceil(sqrt(n_mask * w / h))``
    (a shape like the grid's), filled in raster order: full rows, then a partial last row on its
    left. Its top-left corner is uniform over the places it fits (numpy ``default_rng(seed)``).
    One big hole, not BEiT's several small blocks: the hardest case for interpolation.
    """
    _check_grid(grid_h, grid_w)
    length = grid_h * grid_w
    n_mask = length - num_visible(length, mask_ratio)
    block_w = min(grid_w, max(1, math.ceil(math.sqrt(n_mask * grid_w / grid_h))))
    block_h = math.ceil(n_mask / block_w)
    if block_h > grid_h:  # float guard; in exact arithmetic block_h <= grid_h always
        block_w, block_h = grid_w, math.ceil(n_mask / grid_w)
    rng = np.random.default_rng(seed)
    top = int(rng.integers(0, grid_h - block_h + 1))
    left = int(rng.integers(0, grid_w - block_w + 1))
    full_rows, rest = divmod(n_mask, block_w)
    masked = np.zeros((grid_h, grid_w), dtype=bool)  # (h, w)
    masked[top : top + full_rows, left : left + block_w] = True
    if rest:  # partial last row; with none, row top + full_rows may lie past the grid
        masked[top + full_rows, left : left + rest] = True
    return masked.reshape(length)  # (L,)


def _grid_patterns(grid_h: int, grid_w: int) -> list[tuple[float, str, int]]:
    """(nominal mask ratio, pattern, stride) for the regular patterns ``grid_mask`` draws from."""
    patterns: list[tuple[float, str, int]] = [(0.5, "checkerboard", 2)]
    for stride in range(2, max(grid_h, grid_w, 2) + 1):
        patterns.append((1 - 1 / stride**2, "keep_one", stride))
        patterns.append((1 / stride**2, "mask_one", stride))
    return patterns


def grid_mask(grid_h: int, grid_w: int, mask_ratio: float = 0.75) -> np.ndarray:
    """A regular (deterministic) mask: bool (grid_h * grid_w,), True = masked.

    Picks the pattern whose nominal ratio is nearest ``mask_ratio`` (ties go to the higher ratio):
    - keep one patch, the top-left, of every s x s cell: 1 - 1/s**2 = 0.75, 0.889, 0.9375, ...
    - checkerboard, top-left patch visible: 0.5
    - mask one patch, the top-left, of every s x s cell: 1/s**2 = 0.25, 0.111, 0.0625, ...
    The count matches ``num_visible``'s rule only when the nominal ratio is the requested one and
    s divides both sides (14 x 14 at 0.75: 147 masked). Otherwise the pattern decides it:
    keep-one masks ``L - ceil(h/s) * ceil(w/s)``, mask-one ``ceil(h/s) * ceil(w/s)``,
    checkerboard ``floor(L / 2)`` (14 x 14 at 0.9 uses s = 3 and masks 171, not 177).
    """
    _check_grid(grid_h, grid_w)
    length = grid_h * grid_w
    _check_num_patches(length)
    ratio = _check_ratio(mask_ratio)
    nominal, pattern, stride = min(
        _grid_patterns(grid_h, grid_w), key=lambda item: (abs(item[0] - ratio), -item[0])
    )
    rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")  # (h, w)
    corner = (rows % stride == 0) & (cols % stride == 0)  # (h, w): top-left of each s x s cell
    if pattern == "keep_one":
        masked = ~corner
    elif pattern == "mask_one":
        masked = corner
    else:
        masked = (rows + cols) % 2 == 1
    n_mask = int(masked.sum())
    if n_mask in (0, length):
        raise ValueError(
            f"the grid pattern nearest mask_ratio={ratio} ({pattern}, stride {stride}, nominal "
            f"{nominal:.3g}) hides {n_mask} of {length} patches on a {grid_h}x{grid_w} grid; "
            "use a larger grid or another mask kind"
        )
    return masked.reshape(length)  # (L,)


def make_mask(
    kind: str, grid_h: int, grid_w: int, mask_ratio: float = 0.75, *, seed: int = 0
) -> np.ndarray:
    """Any mask kind as a bool array (grid_h * grid_w,), True = masked.

    ``kind`` is one of ``MASK_KINDS``: "random" (row 0 of ``random_masking(1, L, r, seed=seed)``),
    "block" (``block_mask``) or "grid" (``grid_mask``; ``seed`` unused). Feed the result to the
    encoder through ``MaskResult.from_bool``.
    """
    _check_grid(grid_h, grid_w)
    if kind == "random":
        result = random_masking(1, grid_h * grid_w, mask_ratio, seed=seed)
        return result.mask[0].bool().cpu().numpy()
    if kind == "block":
        return block_mask(grid_h, grid_w, mask_ratio, seed=seed)
    if kind == "grid":
        return grid_mask(grid_h, grid_w, mask_ratio)
    raise ValueError(f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}")


def mask_to_image(mask: ArrayT, patch_size: int, grid: tuple[int, int] | None = None) -> ArrayT:
    """Per-pixel mask for display: (L,) -> (H, W) or (B, L) -> (B, H, W), same dtype.

    ``grid=(h, w)`` is the patch grid (square when omitted); H = h * patch_size.
    """
    if mask.ndim not in (1, 2):
        raise ValueError(f"mask must have shape (L,) or (B, L); got {tuple(mask.shape)}")
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int; got {patch_size!r}")
    grid_h, grid_w = _resolve_grid(mask.shape[-1], grid)
    batched = mask if mask.ndim == 2 else mask[None]  # (B, L)
    pixels = repeat(
        batched, "b (h w) -> b (h p) (w q)", h=grid_h, w=grid_w, p=patch_size, q=patch_size
    )  # (B, H, W)
    return pixels if mask.ndim == 2 else pixels[0]


# --------------------------------------------------------------------------------------------
# the no-learning baseline
# --------------------------------------------------------------------------------------------


def _smooth_fill(values: torch.Tensor, known: torch.Tensor, iterations: int) -> torch.Tensor:
    """Fill unknown pixels smoothly from known ones, coarse to fine.

    values: (B, C, h, w); known: (B, 1, h, w) in {0, 1}, at least one 1 per image.
    At each level: fill a half-resolution copy (2x2 averages of the known pixels) first, let it
    seed the unknown pixels, then relax them with Jacobi steps (each unknown pixel becomes the
    mean of its 4 neighbours, edges replicated), known pixels held fixed.
    """
    height, width = values.shape[-2:]
    if height == 1 and width == 1:
        return values  # known here: every level keeps a known pixel wherever the image had one
    pad = (0, width % 2, 0, height % 2)  # zero padding to even sizes carries no weight
    weight = reduce(F.pad(known, pad), "b c (h 2) (w 2) -> b c h w", "sum")  # (B, 1, h', w')
    total = reduce(F.pad(values * known, pad), "b c (h 2) (w 2) -> b c h w", "sum")  # (B, C, ..)
    coarse = _smooth_fill(total / weight.clamp_min(1), (weight > 0).to(values.dtype), iterations)
    seed = repeat(coarse, "b c h w -> b c (h 2) (w 2)")[..., :height, :width]  # (B, C, h, w)
    is_known = known.bool()
    out = torch.where(is_known, values, seed)
    for _ in range(iterations):
        padded = F.pad(out, (1, 1, 1, 1), mode="replicate")  # (B, C, h + 2, w + 2)
        neighbours = (
            padded[..., :-2, 1:-1]
            + padded[..., 2:, 1:-1]
            + padded[..., 1:-1, :-2]
            + padded[..., 1:-1, 2:]
        ) / 4
        out = torch.where(is_known, values, neighbours)
    return out


def interpolate_masked(
    images: torch.Tensor,
    mask: torch.Tensor | np.ndarray,
    patch_size: int,
    *,
    iterations: int = 50,
) -> torch.Tensor:
    """The no-learning baseline: fill masked patches by smooth interpolation of visible pixels.

    images: (B, C, H, W) float; mask: (B, L) or (L,) (shared by the batch), 1 / True = masked.
    Returns (B, C, H, W): visible pixels unchanged, masked ones an approximately harmonic fill
    (the discrete Laplace equation with the visible pixels as boundary values), solved coarse to
    fine with ``iterations`` Jacobi steps per level. Deterministic; constant images stay
    constant, linear ramps are rebuilt across interior holes, and filled values stay within the
    visible range. Small scattered holes fill well; large ones (75% masking) blur: the point of
    the "why 75%, not 15%" experiment.
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor (B, C, H, W); got {images.dtype} {tuple(images.shape)}"
        )
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0; got {iterations}")
    batch = images.shape[0]
    grid = _patch_grid(images.shape[-2], images.shape[-1], patch_size)
    m = torch.as_tensor(mask, device=images.device)
    if m.ndim == 1:
        m = m.expand(batch, -1)  # (B, L)
    if m.shape != (batch, grid[0] * grid[1]):
        raise ValueError(
            f"mask must have shape ({batch}, {grid[0] * grid[1]}) or ({grid[0] * grid[1]},) for "
            f"{tuple(images.shape)} images with patch_size={patch_size}; got {tuple(m.shape)}"
        )
    m = m.bool()
    if bool(m.all(dim=1).any()):
        raise ValueError("every image needs at least one visible patch to interpolate from")
    visible = mask_to_image(~m, patch_size, grid)[:, None].to(images.dtype)  # (B, 1, H, W)
    filled = _smooth_fill(images, visible, iterations)  # (B, C, H, W)
    return torch.where(visible.bool(), images, filled)
