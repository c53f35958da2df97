"""How many patches a mask ratio hides, checked: :func:`num_visible` (MAE's ``len_keep``),
:func:`floor_num_masked` and :func:`random_mask_indices` (the floor rule), and the checks
every mask shares.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

__all__ = ["FLOAT_SLACK", "check_mask_ratio", "check_num_patches", "floor_num_masked",
           "num_visible", "random_mask_indices"]

# Slack added before flooring a count, so float noise (196 * 0.25000000000000006) never drops one.
FLOAT_SLACK = 1e-9


def check_mask_ratio(mask_ratio: float) -> float:
    """``mask_ratio`` as a float in (0, 1), or a ValueError saying what a ratio must be."""
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


def check_num_patches(num_patches: int) -> int:
    """``num_patches`` as an int >= 2 (one visible, one masked), or a ValueError."""
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
    n = check_num_patches(num_patches)
    ratio = check_mask_ratio(mask_ratio)
    keep = math.floor(n * (1.0 - ratio) + FLOAT_SLACK)
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


def floor_num_masked(num_patches: int, mask_ratio: float) -> int:
    """Patches masked under the floor rule ``n_mask = floor(L * r)`` (the masked count rounded
    down, as textbook code writes ``int(L * r)``); ValueError when none or all are masked."""
    n = check_num_patches(num_patches)
    ratio = check_mask_ratio(mask_ratio)
    n_mask = math.floor(n * ratio + FLOAT_SLACK)
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
    """A random mask under the floor rule: (visible_indices, masked_indices), sorted int64.

    ``n_mask = floor(num_patches * mask_ratio)`` (196 patches at 0.75: 49 visible, 147 masked);
    the two arrays are disjoint and together cover ``range(num_patches)``. Deterministic per
    ``seed`` (numpy ``default_rng``). See :mod:`ssl_core.masking` for how this rounding differs from
    ``random_masking`` when ``L * r`` is not a whole number.
    """
    n_mask = floor_num_masked(num_patches, mask_ratio)
    order = np.random.default_rng(seed).permutation(num_patches)  # (L,)
    masked = np.sort(order[:n_mask]).astype(np.int64)  # (n_mask,)
    visible = np.sort(order[n_mask:]).astype(np.int64)  # (L - n_mask,)
    return visible, masked
