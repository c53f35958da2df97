"""MAE's batched per-sample masking of token sequences: :func:`random_masking` draws which
patches each sample keeps (:class:`MaskResult`), :func:`gather_visible` makes the encoder's
input and :func:`restore_sequence` the decoder's (visible tokens + mask tokens, patch order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from einops import repeat

from ssl_core.masking.counts import num_visible

__all__ = ["MaskResult", "gather_visible", "random_masking", "restore_sequence"]


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
