"""Real positive pairs: two SimCLR views of N dataset images, embedded by a trained SimCLR.

    images (M, H, W) uint8 --pick N by seed--> two views each (the SimCLR view pipeline)
    -> backbone.forward_features -> h1, h2: (N, D) -> projection head -> z1, z2: (N, out)

InfoNCE is computed on the projections ``z`` (what SimCLR's loss saw in training); the backbone
features ``h`` are what is probed and embedded afterwards. Both are returned so that a page can
compare them. View ``j`` of a batch is drawn under its own seed, ``derive_seed(seed, j)``, with
:func:`ssl_core.augment.sample_views`, so :func:`trace_pair` can redraw the same pixels of any
pair together with the parameters that were sampled for it.

Contents: :func:`simclr_view_config` / :func:`checkpoint_view_config` (the view pipeline a SimCLR
checkpoint trained with), :class:`PairModel` (a SimCLR with that pipeline and its sizes),
:func:`real_pairs` (views + embeddings), :class:`RealPairs`, :func:`trace_pair` (one pair with
its sampled parameters), :func:`loss_against_tau`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ssl_core.augment import View, ViewConfig, sample_views, trace_views
from ssl_core.losses.infonce import info_nce
from ssl_core.train import derive_seed

__all__ = [
    "PairModel",
    "RealPairs",
    "checkpoint_view_config",
    "loss_against_tau",
    "real_pairs",
    "simclr_view_config",
    "trace_pair",
]

_PICK = 0  # derive_seed stream for choosing the images
_VIEWS = 1  # derive_seed stream for the views of image j


def simclr_view_config(size: int, overrides: Mapping[str, Any] | None = None) -> ViewConfig:
    """The SimCLR view pipeline that ``ssl_core.train`` trains with at output side ``size``.

    ``ViewConfig(size=size)`` with Gaussian blur off below 64 px (blur_p 0.5 from 64 px), then
    ``overrides`` (a checkpoint's ``config["train"]["augment"]``) replace fields. Same rule as
    ``ssl_core.train.view_pipeline("simclr", ...)``; a test checks that both give the same pixels.
    """
    base = ViewConfig(size=size, blur_p=0.5 if size >= 64 else 0.0)
    try:
        return dataclasses.replace(base, **dict(overrides or {}))
    except TypeError as error:
        raise ValueError(
            f"augment overrides must be ViewConfig fields (e.g. scale, brightness, jitter_p); "
            f"got {sorted(overrides or {})}: {error}"
        ) from None


def checkpoint_view_config(config: Mapping[str, Any]) -> ViewConfig:
    """The view pipeline of a SimCLR checkpoint, from its ``config.json`` (as a dict).

    The output side is the backbone's ``img_size`` (``config["backbone_kwargs"]``); overrides come
    from ``config["train"]["augment"]`` (absent in a checkpoint not written by the trainer).
    """
    kwargs = config.get("backbone_kwargs") or {}
    img_size = kwargs.get("img_size")
    if img_size is None:
        raise ValueError(
            "the checkpoint config has no backbone_kwargs.img_size, so the view size is unknown; "
            "pass simclr_view_config(size) yourself"
        )
    size = int(img_size[0] if isinstance(img_size, list | tuple) else img_size)
    overrides = (config.get("train") or {}).get("augment") or {}
    return simclr_view_config(size, overrides)


@dataclass(frozen=True, eq=False)
class PairModel:
    """A trained SimCLR and what a page says about it: the view pipeline it trained with, its
    InfoNCE temperature and the widths of its projections z and backbone features h."""

    method: nn.Module
    view_config: ViewConfig
    temperature: float
    projection_dim: int
    backbone_dim: int

    @classmethod
    def of(cls, method: nn.Module, config: Mapping[str, Any]) -> PairModel:
        """From a SimCLR ``method`` and its checkpoint's ``config.json`` (as a dict)."""
        return cls(method=method, view_config=checkpoint_view_config(config),
                   temperature=float(method.config.temperature),
                   projection_dim=int(method.config.proj_out_dim),
                   backbone_dim=int(method.backbone.embed_dim))

    def dim(self, kind: str) -> int:
        """D of the ``"projection"`` (z) or ``"backbone"`` (h) embeddings."""
        return self.projection_dim if kind == "projection" else self.backbone_dim


def loss_against_tau(z1: Tensor, z2: Tensor, taus: Sequence[float]) -> tuple[float, ...]:
    """``info_nce(z1, z2, tau)`` at each tau: one batch's loss curve (``z1, z2: (N, D)``)."""
    with torch.no_grad():
        return tuple(info_nce(z1, z2, tau).item() for tau in taus)


@dataclass(frozen=True, eq=False)
class RealPairs:
    """N images, two views of each, and their embeddings (all on the CPU, no gradients)."""

    indices: np.ndarray  # (N,) int64: rows of the image array, distinct
    seed: int
    config: ViewConfig  # the view pipeline
    view1: Tensor  # (N, C, size, size) float32 in [0, 1]
    view2: Tensor  # (N, C, size, size)
    h1: Tensor  # (N, D) backbone features of view 1
    h2: Tensor  # (N, D)
    z1: Tensor  # (N, out) projections of view 1: what InfoNCE scores in training
    z2: Tensor  # (N, out)

    @property
    def n(self) -> int:
        return int(self.indices.shape[0])

    def embeddings(self, kind: str) -> tuple[Tensor, Tensor]:
        """``(z1, z2)`` for ``kind="projection"``, ``(h1, h2)`` for ``kind="backbone"``."""
        if kind == "projection":
            return self.z1, self.z2
        if kind == "backbone":
            return self.h1, self.h2
        raise ValueError(f"kind must be 'projection' (z) or 'backbone' (h); got {kind!r}")


def _check_images(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim not in (3, 4):
        shape = getattr(images, "shape", type(images).__name__)
        dtype = getattr(images, "dtype", "")
        raise ValueError(
            f"images must be a uint8 array (M, H, W) or (M, H, W, C); got {dtype} {shape}"
        )


def _pick(n_images: int, n: int, seed: int) -> np.ndarray:
    """``n`` distinct indices of ``range(n_images)`` drawn under ``seed``: ``(n,)`` int64."""
    generator = torch.Generator().manual_seed(derive_seed(seed, _PICK))
    return torch.randperm(n_images, generator=generator)[:n].numpy()


def _check_n_seed(n: int, seed: int, n_images: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= n_images:
        raise ValueError(
            f"n (pairs in the batch) must be an int in [2, {n_images}] (InfoNCE needs "
            f"negatives; the array holds {n_images} images); got {n!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed!r}")


@torch.no_grad()
def real_pairs(
    method: nn.Module,
    images: np.ndarray,
    *,
    n: int,
    seed: int,
    config: ViewConfig,
    chunk: int = 512,
) -> RealPairs:
    """Two views of ``n`` images picked by ``seed``, embedded by a SimCLR ``method``.

    Args:
        method: a SimCLR (``backbone.forward_features`` and ``head``), e.g. the bundled one from
            ``load_method``; used in eval mode as it is (put it in eval mode first), not changed.
        images: uint8 ``(M, H, W)`` or ``(M, H, W, C)``, e.g. ``load_fashion_mnist(...).images``.
        n: pairs in the batch, ``2 <= n <= M``.
        seed: picks the images and draws the views (same seed, same batch).
        config: the view pipeline, e.g. :func:`simclr_view_config`.
        chunk: images per forward pass (memory only; results do not depend on it in eval mode).

    Returns:
        :class:`RealPairs`. Raises ValueError on a bad ``n``/``seed``/``images`` or a method
        without a backbone and projection head.
    """
    _check_images(images)
    _check_n_seed(n, seed, len(images))
    backbone, head = getattr(method, "backbone", None), getattr(method, "head", None)
    if backbone is None or head is None or not hasattr(backbone, "forward_features"):
        raise ValueError(
            "real_pairs needs a SimCLR method (backbone.forward_features and a projection head); "
            f"got {type(method).__name__}"
        )
    indices = _pick(len(images), n, seed)
    views = [sample_views(np.array(images[i]), config, seed=derive_seed(seed, _VIEWS, j))
             for j, i in enumerate(indices)]
    view1 = torch.stack([v[0] for v in views])  # (N, C, s, s)
    view2 = torch.stack([v[1] for v in views])  # (N, C, s, s)
    device = next(method.parameters()).device
    x = torch.cat([view1, view2])  # (2N, C, s, s)
    h = torch.cat([backbone.forward_features(x[i : i + chunk].to(device))
                   for i in range(0, len(x), chunk)])  # (2N, D)
    z = head(h)  # (2N, out)
    h1, h2 = h.float().cpu().chunk(2)  # (N, D) each
    z1, z2 = z.float().cpu().chunk(2)  # (N, out) each
    return RealPairs(indices=indices, seed=seed, config=config, view1=view1, view2=view2,
                     h1=h1, h2=h2, z1=z1, z2=z2)


def trace_pair(images: np.ndarray, pairs: RealPairs, j: int) -> list[View]:
    """Pair ``j`` of ``pairs`` redrawn with its sampled parameters: two ``augment.View`` s.

    Same pixels as ``pairs.view1[j]`` / ``pairs.view2[j]`` (the same seed through
    :func:`ssl_core.augment.trace_views`).
    """
    _check_images(images)
    if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < pairs.n:
        raise ValueError(f"j must be a pair index in [0, {pairs.n}); got {j!r}")
    image = np.array(images[int(pairs.indices[j])])  # a writable copy for torch.from_numpy
    return trace_views(image, pairs.config, seed=derive_seed(pairs.seed, _VIEWS, j))
