"""Heads that sit on top of an encoder during pretraining and are dropped afterwards.

- :class:`ProjectionHead`: SimCLR's MLP ``Linear -> BN -> ReLU -> Linear`` into the space where
  InfoNCE is computed.
- :class:`DINOHead`: DINO's head (facebookresearch/dino ``DINOHead``): a GELU MLP into an
  L2-normalised bottleneck, then a weight-normalised linear layer onto ``K`` prototypes.
- :class:`MAEDecoder`: MAE's light transformer decoder: it places the encoder's visible tokens
  back on the patch grid among learned mask tokens (``ids_restore``) and predicts every patch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from ssl_core.masking import restore_sequence
from ssl_core.models.vit import Block, as_pair, init_vit_weights, sincos_pos_embed_2d

__all__ = ["DINOHead", "MAEDecoder", "ProjectionHead"]


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, *, n_layers: int, batch_norm: bool,
        activation: Callable[[], nn.Module], bias_before_norm: bool = True) -> nn.Sequential:
    """``n_layers`` Linear layers ``in_dim -> hidden_dim -> ... -> out_dim``; every one but the
    last is followed by BatchNorm (if ``batch_norm``) and ``activation()``. A Linear layer that
    BatchNorm follows keeps its bias only if ``bias_before_norm``."""
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1; got {n_layers}")
    dims = [in_dim] + [hidden_dim] * (n_layers - 1) + [out_dim]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        last = i == n_layers - 1
        layers.append(nn.Linear(a, b, bias=last or bias_before_norm or not batch_norm))
        if not last:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(activation())
    return nn.Sequential(*layers)


class ProjectionHead(nn.Module):
    """SimCLR projection MLP: ``(N, in_dim) -> (N, out_dim)``.

    ``n_layers`` Linear layers; every one but the last is followed by BatchNorm (if ``bn``) and
    ReLU. ``n_layers=2`` is SimCLR v1's head, 3 is SimCLR v2's (deeper helps for small batches).
    """

    def __init__(
        self,
        in_dim: int,
        *,
        hidden_dim: int = 512,  # SimCLR uses in_dim (2048 for ResNet-50); 512 suits D = 128-256
        out_dim: int = 128,  # SimCLR's 128; the loss is computed here, features come from before
        n_layers: int = 2,
        bn: bool = True,
    ) -> None:
        super().__init__()
        # BN's shift replaces the bias of a Linear layer it follows
        self.mlp = _mlp(in_dim, hidden_dim, out_dim, n_layers=n_layers, batch_norm=bn,
                       activation=lambda: nn.ReLU(inplace=True), bias_before_norm=False)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (N, in_dim) -> (N, out_dim)`` (not normalised; InfoNCE normalises)."""
        return self.mlp(x)


class DINOHead(nn.Module):
    """DINO head: ``(N, in_dim) -> (N, out_dim)`` logits over ``out_dim`` prototypes.

    MLP (``n_layers`` Linear layers, GELU between, optional BatchNorm) into ``bottleneck_dim``,
    L2-normalise, then a bias-free weight-normalised Linear ``W = g * V / ||V||`` (row-wise). With
    ``norm_last_layer`` the scale ``g`` is fixed to 1 (not trained), so the prototypes stay unit
    vectors; DINO recommends this for stability (turn it off for ViT-S speed-ups only with care).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        hidden_dim: int = 512,  # DINO: 2048 for ViT-S/B; 512 is plenty for D = 128-192 backbones
        bottleneck_dim: int = 128,  # DINO: 256
        n_layers: int = 3,
        norm_last_layer: bool = True,
        use_bn: bool = False,  # DINO: False for ViTs, True for ResNets
    ) -> None:
        super().__init__()
        self.mlp = _mlp(in_dim, hidden_dim, bottleneck_dim, n_layers=n_layers, batch_norm=use_bn,
                       activation=nn.GELU)
        self.mlp.apply(init_vit_weights)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False), dim=0)
        g = self.last_layer.parametrizations.weight.original0  # (out_dim, 1)
        with torch.no_grad():
            g.fill_(1.0)
        g.requires_grad_(not norm_last_layer)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (N, in_dim) -> (N, out_dim)`` logits (temperature is the loss's business)."""
        z = F.normalize(self.mlp(x), dim=-1)  # (N, bottleneck_dim), unit rows
        return self.last_layer(z)  # (N, out_dim)


class MAEDecoder(nn.Module):
    """MAE decoder: visible encoder tokens + ``ids_restore`` -> per-patch predictions.

    ``forward(tokens: (B, 1 + L_keep, D), ids_restore: (B, L)) -> (B, L, patch_dim)``, patches in
    raster order of ``grid_size`` (the encoder's grid), CLS dropped. ``patch_dim = p * p * C``
    matches ``patchify``'s layout. Uses its own fixed sin-cos positions and a learned mask token.
    """

    def __init__(
        self,
        *,
        grid_size: int | tuple[int, int],
        embed_dim: int,
        patch_dim: int,
        decoder_dim: int = 128,  # MAE: 512 for ViT-B/L; about the encoder's D for tiny encoders
        depth: int = 2,  # MAE: 8; even 1 block works (MAE Table 1a), deeper = better pixels
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.grid_size = as_pair(grid_size, name="grid_size")
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.embed_dim = embed_dim
        self.decoder_embed = nn.Linear(embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        table = sincos_pos_embed_2d(decoder_dim, self.grid_size)  # (L, D_dec)
        self.register_buffer("pos_embed", table.unsqueeze(0))  # (1, L, D_dec)
        self.blocks = nn.ModuleList(
            Block(decoder_dim, num_heads, mlp_ratio=mlp_ratio) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.pred = nn.Linear(decoder_dim, patch_dim)
        self.apply(init_vit_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def unshuffle(self, tokens: Tensor, ids_restore: Tensor) -> Tensor:
        """Project, fill with mask tokens and put patches back in grid order: ``(B, 1 + L, D_dec)``.

        ``tokens: (B, 1 + L_keep, D)`` are CLS then the kept patches in shuffled order (the order
        ``random_masking`` keeps them); ``ids_restore: (B, L)`` long inverts that shuffle. No
        positions added yet.
        """
        if tokens.ndim != 3 or tokens.shape[-1] != self.embed_dim:
            raise ValueError(
                f"tokens must be (B, 1 + L_keep, {self.embed_dim}); got {tuple(tokens.shape)}"
            )
        b, n, _ = tokens.shape
        if ids_restore.shape != (b, self.num_patches) or ids_restore.dtype != torch.long:
            raise ValueError(
                f"ids_restore must be long of shape (B, L) = ({b}, {self.num_patches}) for the "
                f"{self.grid_size} grid; got {ids_restore.dtype} {tuple(ids_restore.shape)}"
            )
        if not 1 <= n <= self.num_patches + 1:
            raise ValueError(
                f"tokens must hold CLS plus at most {self.num_patches} patches; got {n} tokens"
            )
        x = self.decoder_embed(tokens)  # (B, 1 + L_keep, D_dec)
        # [visible, mask tokens] in shuffled order, gathered back to grid order: (B, L, D_dec)
        patches = restore_sequence(x[:, 1:], ids_restore, mask_token=self.mask_token)
        return torch.cat([x[:, :1], patches], dim=1)  # (B, 1 + L, D_dec)

    def forward(self, tokens: Tensor, ids_restore: Tensor) -> Tensor:
        """Predict all patches: ``(B, 1 + L_keep, D), (B, L) -> (B, L, patch_dim)``."""
        x = self.unshuffle(tokens, ids_restore)  # (B, 1 + L, D_dec)
        x = torch.cat([x[:, :1], x[:, 1:] + self.pos_embed], dim=1)  # CLS has no position
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))[:, 1:]  # (B, L, patch_dim)
