"""Patches and masks for masked image modelling (MAE).

The MAE pipeline reads as named stages; this module holds the ones without parameters:

    patchify -> random_masking -> gather_visible (encoder input) -> encode(visible)
    -> restore_sequence (visible + mask tokens, decoder input) -> decode -> mae_loss (masked only)

plus structured masks (``block_mask``, ``grid_mask``, one dispatcher ``make_mask``), a
per-pixel view of a mask (``mask_to_image``) and two no-learning baselines that fill masked
patches from the visible pixels (``interpolate_masked``, ``biharmonic_masked``). One module per
concept: :mod:`~ssl_core.masking.patches`, :mod:`~ssl_core.masking.counts`,
:mod:`~ssl_core.masking.sequence`, :mod:`~ssl_core.masking.structured`,
:mod:`~ssl_core.masking.interpolate`.

Conventions (those of facebookresearch/mae ``models_mae.py``):

- A patch vector is ordered ``(p, q, c)``: row inside the patch, then column, then channel
  (channel fastest). Patches are numbered in raster order over the ``(h, w)`` patch grid.
- ``mask``: 1 / True = masked (hidden from the encoder), 0 / False = visible.
- Rounding: a ratio ``r`` over ``L`` patches keeps ``num_visible = floor(L * (1 - r))`` patches
  and masks the rest, as MAE's ``len_keep = int(L * (1 - mask_ratio))``; the masked count is
  rounded *up*. ``random_mask_indices`` keeps the floor rule ``n_mask = floor(L * r)``
  (textbook code's ``int(L * r)``), which rounds the masked count *down*; the two agree whenever
  ``L * r`` is a whole number (196 patches at 0.75: 49 visible, 147 masked). Both floors forgive
  float noise of 1e-9, so that 10 patches at 0.9 keep 1 (plain ``int(10 * (1 - 0.9))`` is 0
  because ``1 - 0.9 == 0.09999999999999998``).
"""

from ssl_core.masking.counts import (
    check_mask_ratio,
    check_num_patches,
    floor_num_masked,
    num_visible,
    random_mask_indices,
)
from ssl_core.masking.interpolate import biharmonic_masked, interpolate_masked
from ssl_core.masking.patches import patch_grid, patchify, resolve_grid, unpatchify
from ssl_core.masking.sequence import MaskResult, gather_visible, random_masking, restore_sequence
from ssl_core.masking.structured import MASK_KINDS, block_mask, grid_mask, make_mask, mask_to_image

__all__ = [
    "MASK_KINDS",
    "MaskResult",
    "block_mask",
    "check_mask_ratio",
    "check_num_patches",
    "floor_num_masked",
    "gather_visible",
    "grid_mask",
    "biharmonic_masked",
    "interpolate_masked",
    "make_mask",
    "mask_to_image",
    "num_visible",
    "patch_grid",
    "patchify",
    "random_mask_indices",
    "random_masking",
    "resolve_grid",
    "restore_sequence",
    "unpatchify",
]
