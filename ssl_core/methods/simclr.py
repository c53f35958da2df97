"""SimCLR (Chen et al. 2020): two views of each image, an encoder, a projection MLP and InfoNCE.

    (x1, x2) -> backbone.forward_features -> h: (2B, D) -> projection head -> z: (2B, out)
    -> gather z1, z2 from every rank (with gradient) -> info_nce(z1, z2, tau)

The features that are probed and embedded afterwards are ``h``, the backbone's output before the
projection head (SimCLR found them better than ``z``); the head is dropped after pretraining.
Both views go through the backbone in one batch of 2B, so BatchNorm backbones normalise over
both views together (as SimCLR's global BN does across devices).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_core.distributed import gather_with_grad
from ssl_core.losses.infonce import info_nce
from ssl_core.methods.base import MethodBase, require_feature_backbone
from ssl_core.models.heads import ProjectionHead

__all__ = ["SimCLR", "SimCLRConfig", "retrieval_metrics", "split_two_views"]


@dataclass(frozen=True)
class SimCLRConfig:
    """SimCLR's settings. Defaults suit the small backbones (D = 64-256) on 28-64 px images."""

    proj_hidden_dim: int = 512  # SimCLR uses the backbone width (2048); 512 is plenty for D <= 256
    proj_out_dim: int = 128  # SimCLR's 128: the loss lives here; larger changes little
    proj_layers: int = 2  # SimCLR v1: 2 (Linear-BN-ReLU-Linear); v2 uses 3, helps small batches
    # Lower tau sharpens the softmax onto the hardest negatives; 0.1-0.5 is typical. SimCLR used
    # 0.1 for batch 4096 and 0.5 for small batches (256); below 0.05 training gets unstable.
    temperature: float = 0.1

    def __post_init__(self) -> None:
        for name in ("proj_hidden_dim", "proj_out_dim", "proj_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if not 0.0 < self.temperature < float("inf"):
            raise ValueError(
                f"temperature must be a finite number > 0 (typical 0.1-0.5); got {self.temperature}"
            )


def split_two_views(batch: Any) -> tuple[Tensor, Tensor]:
    """The two view batches of a SimCLR batch, labels dropped.

    Accepted forms (each view ``(B, C, H, W)`` float): ``(x1, x2)``, ``(x1, x2, y)``,
    ``((x1, x2), y)``, or lists of the same. ``y`` is ignored.
    """
    if isinstance(batch, Sequence) and len(batch) == 2 and isinstance(batch[0], Sequence):
        batch = batch[0]  # ((x1, x2), y)
    if (
        not isinstance(batch, Sequence)
        or len(batch) not in (2, 3)
        or not all(isinstance(v, Tensor) for v in batch)
    ):
        raise ValueError(
            "a SimCLR batch is (x1, x2), (x1, x2, labels) or ((x1, x2), labels) with each view a "
            f"(B, C, H, W) tensor; got {_describe(batch)}"
        )
    x1, x2 = batch[0], batch[1]
    if x1.ndim != 4 or x1.shape != x2.shape or not x1.is_floating_point():
        raise ValueError(
            "the two SimCLR views must be float tensors of the same shape (B, C, H, W); got "
            f"{x1.dtype} {tuple(x1.shape)} and {x2.dtype} {tuple(x2.shape)}"
        )
    return x1, x2


def _describe(batch: Any) -> str:
    """Short description of a batch for error messages: types and shapes, not values."""
    if isinstance(batch, Tensor):
        return f"a tensor of shape {tuple(batch.shape)}"
    if isinstance(batch, Sequence) and not isinstance(batch, str):
        inner = ", ".join(_describe(b) for b in batch)
        return f"a {type(batch).__name__} of {len(batch)}: [{inner}]"
    return type(batch).__name__


@torch.no_grad()
def retrieval_metrics(z1: Tensor, z2: Tensor) -> dict[str, float]:
    """Cheap within-batch diagnostics of two embedded views ``z1, z2: (N, D)``, N >= 2.

    - ``top1_retrieval``: fraction of the 2N anchors whose most similar other embedding is their
      positive (the other view of the same image); chance is 1 / (2N - 1).
    - ``pos_cos``: mean cosine between the two views of an image.
    - ``neg_cos``: mean cosine over the 2N (2N - 2) anchor-negative pairs.

    Same definitions as ``info_nce_diagnostics`` (top-1 there counts ties for the positive), at a
    fraction of its cost: one (2N, 2N) matrix, no softmax.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).detach().float(), dim=1)  # (2N, D) unit rows
    sim = z @ z.T  # (2N, 2N)
    rows = torch.arange(2 * n, device=z.device)
    targets = (rows + n) % (2 * n)  # (2N,): the other view of the same image
    pos = sim[rows, targets]  # (2N,)
    neg_sum = sim.sum() - sim.diagonal().sum() - pos.sum()
    top1 = sim.fill_diagonal_(float("-inf")).argmax(dim=1) == targets  # (2N,)
    return {
        "top1_retrieval": top1.float().mean().item(),
        "pos_cos": pos.mean().item(),
        "neg_cos": (neg_sum / (2 * n * (2 * n - 2))).item(),
    }


class SimCLR(MethodBase):
    """SimCLR around any backbone with ``forward_features(x) -> (B, D)`` and ``embed_dim``.

    ``training_step((x1, x2)) -> (loss, metrics)`` with metrics ``loss``, ``top1_retrieval``,
    ``pos_cos``, ``neg_cos`` (see :func:`retrieval_metrics`). Under torch.distributed the
    projections of every rank are gathered with gradient first, so the negatives come from the
    global batch and every rank computes the same loss.
    """

    name: ClassVar[str] = "simclr"

    def __init__(self, backbone: nn.Module, config: SimCLRConfig | None = None) -> None:
        super().__init__()
        require_feature_backbone(backbone, "SimCLR")
        self.config = config if config is not None else SimCLRConfig()
        self.backbone = backbone
        self.head = ProjectionHead(
            backbone.embed_dim,
            hidden_dim=self.config.proj_hidden_dim,
            out_dim=self.config.proj_out_dim,
            n_layers=self.config.proj_layers,
        )

    @property
    def encoder(self) -> nn.Module:
        """The module to probe and embed with: the backbone (the head is dropped)."""
        return self.backbone

    def project(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        """Embed and project both views in one pass: ``(B, C, H, W) x 2 -> (B, out) x 2``."""
        h = self.backbone.forward_features(torch.cat([x1, x2]))  # (2B, D)
        z = self.head(h)  # (2B, out)
        z1, z2 = z.chunk(2)  # (B, out) each
        return z1, z2

    def training_step(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """InfoNCE on the global batch; see :func:`split_two_views` for the batch forms."""
        x1, x2 = split_two_views(batch)
        z1, z2 = self.project(x1, x2)  # (B, out) each
        z1, z2 = gather_with_grad(z1), gather_with_grad(z2)  # (world * B, out) each
        if z1.shape[0] < 2:
            raise ValueError(
                "SimCLR needs at least 2 images per (global) batch: the other images are the "
                f"negatives; got {z1.shape[0]}"
            )
        loss = info_nce(z1, z2, self.config.temperature)
        return loss, {"loss": loss.item(), **retrieval_metrics(z1, z2)}




