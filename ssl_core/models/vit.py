"""A small Vision Transformer for self-supervised pretraining (SimCLR, DINO, MAE).

Patch embedding for any channel count and image size (square or not), a CLS token, 2-D positional
embeddings (fixed sin-cos as in MAE, or learned as in DINO), pre-norm transformer blocks and
retrievable attention weights. Besides the common encoder contract
(``forward_features(x) -> (B, D)``) it offers what the three methods and the attention maps need:

- ``forward_tokens(x, ids_keep=None)``: normed tokens, CLS first; with ``ids_keep`` only the
  visible patches go through the blocks (MAE's encoder never sees mask tokens).
- ``patch_tokens(x)``: final normed patch tokens, for patch-similarity heat maps.
- ``get_last_selfattention(x)``: the last block's attention (DINO's attention maps).

Positional embeddings cover the patches only; the CLS token is itself learned and carries none
(MAE gives it an all-zero sin-cos row, which is the same thing). For an input whose patch grid
differs from the configured one (DINO's local crops: 12 px instead of 28 px gives 3x3 instead of
7x7 patches) the table is resized bicubically to the input's grid, as DINO's
``interpolate_pos_encoding`` does, for both kinds of embedding: a smaller crop is read as a view of
the whole extent at lower resolution.

Initialisation follows timm / DINO: Linear weights trunc-normal(0.02) with zero bias, LayerNorm 1/0,
CLS token and learned positions trunc-normal(0.02); the patch projection is Xavier-uniform on its
flattened (D, C*p*p) view as in MAE.

One network in one module (about 400 lines): the blocks, the embeddings and the encoder read
best together, as timm's and DINO's ``vision_transformer.py`` are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ssl_core.masking import gather_visible

__all__ = [
    "Attention",
    "Block",
    "DropPath",
    "Mlp",
    "ViTConfig",
    "VisionTransformer",
    "as_pair",
    "init_vit_weights",
    "interpolate_pos_embed",
    "sincos_pos_embed_2d",
]


def as_pair(value: int | tuple[int, int] | list[int], *, name: str) -> tuple[int, int]:
    """Normalise a size given as ``n`` or ``(h, w)`` to a tuple of two positive ints."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair (height, width); got {value!r}")
    return pair  # type: ignore[return-value]


def check_input_stats(config: Any) -> None:
    """Validate a frozen encoder config's per-channel input statistics ``input_mean`` /
    ``input_std`` (both or neither; one value per ``in_chans``; std > 0) and store them on it as
    tuples of floats. Called from the configs' ``__post_init__``."""
    mean, std = config.input_mean, config.input_std
    if (mean is None) != (std is None):
        raise ValueError("give both input_mean and input_std, or neither")
    if mean is None or std is None:
        return
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if len(mean) != config.in_chans or len(std) != config.in_chans:
        raise ValueError(
            f"input_mean and input_std need one value per channel ({config.in_chans}); got "
            f"{len(mean)} and {len(std)}"
        )
    if any(v <= 0 for v in std):
        raise ValueError(f"input_std must be > 0; got {std}")
    object.__setattr__(config, "input_mean", mean)
    object.__setattr__(config, "input_std", std)


class InputNormalize(nn.Module):
    """``(x - mean) / std`` per channel, or the identity when no statistics are given.

    Encoders normalise their own input, so everything that calls them (probes, retrieval, display)
    feeds images in [0, 1] and a checkpoint carries its statistics in its config. The buffers are
    not persistent: they come from the config, not from the weights file.
    """

    def __init__(self, mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> None:
        super().__init__()
        self.enabled = mean is not None
        if mean is not None and std is not None:
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std if self.enabled else x


def sincos_pos_embed_2d(embed_dim: int, grid_size: int | tuple[int, int]) -> Tensor:
    """Fixed 2-D sin-cos positional embeddings, as in MAE's ``get_2d_sincos_pos_embed``.

    Returns ``(h * w, embed_dim)`` float32, rows in raster order (row-major over the grid, the
    order ``patchify`` uses). The first half of the channels encodes the column index, the second
    half the row index; each half is ``[sin(pos * omega), cos(pos * omega)]`` with
    ``omega_k = 10000 ** (-k / (embed_dim / 4))``. ``embed_dim`` must be divisible by 4.
    """
    if embed_dim % 4 != 0:
        raise ValueError(
            f"sin-cos positional embeddings need embed_dim divisible by 4; got {embed_dim}. "
            "Pick a multiple of 4 or use learned positional embeddings."
        )
    gh, gw = as_pair(grid_size, name="grid_size")
    quarter = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (D/4,)
    rows, cols = torch.meshgrid(
        torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64), indexing="ij"
    )  # each (gh, gw)

    def encode(pos: Tensor) -> Tensor:
        angles = pos.reshape(-1, 1) * omega  # (gh*gw, D/4)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (gh*gw, D/2)

    return torch.cat([encode(cols), encode(rows)], dim=1).float()  # (gh*gw, D)


def interpolate_pos_embed(
    pos_embed: Tensor, *, src_grid: tuple[int, int], dst_grid: tuple[int, int]
) -> Tensor:
    """Resize a ``(1, src_h * src_w, D)`` positional table to ``(1, dst_h * dst_w, D)`` bicubically.

    Identity when the grids match. Same idea as DINO's ``interpolate_pos_encoding``: the table is
    seen as a D-channel image of the patch grid and resampled to the input's grid.
    """
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    sh, sw = src_grid
    table = rearrange(pos_embed, "1 (h w) d -> 1 d h w", h=sh, w=sw)  # (1, D, sh, sw)
    table = F.interpolate(table, size=tuple(dst_grid), mode="bicubic", align_corners=False)
    return rearrange(table, "1 d h w -> 1 (h w) d")  # (1, dh*dw, D)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability ``p``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)  # (B, 1, 1)
        return x * mask / keep


class Mlp(nn.Module):
    """Transformer feed-forward: Linear -> GELU -> Linear."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention; fused SDPA in ``forward``, explicit weights on request."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"embed_dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        qkv = self.qkv(x)  # (B, N, 3*D)
        q, k, v = rearrange(qkv, "b n (three h d) -> three b h n d", three=3, h=self.num_heads)
        return q, k, v  # each (B, heads, N, D/heads)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, N, D) -> (B, N, D)``."""
        q, k, v = self._qkv(x)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, D/heads)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))  # (B, N, D)

    def attention_weights(self, x: Tensor) -> Tensor:
        """Softmax attention ``(B, heads, N, N)`` for ``x: (B, N, D)``; each row sums to 1."""
        q, k, _ = self._qkv(x)
        return (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)  # (B, heads, N, N)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (B, N, D) -> (B, N, D)``."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def attention_weights(self, x: Tensor) -> Tensor:
        """The attention this block would apply to ``x: (B, N, D)``: ``(B, heads, N, N)``."""
        return self.attn.attention_weights(self.norm1(x))


def init_vit_weights(module: nn.Module) -> None:
    """timm / DINO init, for ``module.apply``: trunc-normal(0.02) Linear, LayerNorm 1/0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


@dataclass(frozen=True)
class ViTConfig:
    """Everything needed to rebuild a :class:`VisionTransformer` (saved next to checkpoints)."""

    img_size: int | tuple[int, int] = 28  # (H, W) of the training images; other sizes interpolate
    patch_size: int = 4  # 4 for 28 px (7x7 grid), 8 for 64 px, 16 for 224 px; smaller = slower
    in_chans: int = 1  # 1 for Fashion-MNIST, 3 for photos
    embed_dim: int = 128  # D; must divide by num_heads (and by 4 for sin-cos positions)
    depth: int = 4  # blocks; cost grows linearly
    num_heads: int = 4  # head dim D/heads of 32-64 is usual
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    # "sincos": fixed, no parameters, as MAE (safe default for all three methods);
    # "learned": trunc-normal init, as DINO; both are resized bicubically for other grids.
    pos_embed: Literal["sincos", "learned"] = "sincos"
    # forward_features pools the CLS token ("cls", DINO / SimCLR) or the mean patch token ("avg",
    # sometimes better for MAE features, whose CLS token gets no direct training signal).
    global_pool: Literal["cls", "avg"] = "cls"
    drop_path_rate: float = 0.0  # stochastic depth at the last block; DINO uses 0.1 for ViT-S
    # Per-channel statistics the encoder subtracts / divides by before the patch embedding
    # (inputs are [0, 1] images). Fashion-MNIST: (0.286,) / (0.353,). Zero-mean inputs make
    # features far less alike at initialisation, which DINO needs to escape its uniform start.
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        size = as_pair(self.img_size, name="img_size")
        object.__setattr__(self, "img_size", size)
        if size[0] % self.patch_size or size[1] % self.patch_size:
            raise ValueError(
                f"img_size {size} must be a multiple of patch_size {self.patch_size} in both "
                "dimensions; change one of them."
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads}"
            )
        if self.pos_embed not in ("sincos", "learned"):
            raise ValueError(f"pos_embed must be 'sincos' or 'learned'; got {self.pos_embed!r}")
        if self.pos_embed == "sincos" and self.embed_dim % 4:
            raise ValueError(
                f"pos_embed='sincos' needs embed_dim divisible by 4; got {self.embed_dim}"
            )
        if self.global_pool not in ("cls", "avg"):
            raise ValueError(f"global_pool must be 'cls' or 'avg'; got {self.global_pool!r}")
        if self.depth < 1 or self.in_chans < 1 or self.patch_size < 1:
            raise ValueError("depth, in_chans and patch_size must all be >= 1")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1); got {self.drop_path_rate}")
        check_input_stats(self)

    def build(self) -> VisionTransformer:
        return VisionTransformer(self)


class VisionTransformer(nn.Module):
    """ViT encoder. ``forward_features(x: (B, C, H, W)) -> (B, D)``; see the module docstring."""

    def __init__(self, config: ViTConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else ViTConfig()
        self.config = cfg
        self.img_size: tuple[int, int] = cfg.img_size  # type: ignore[assignment]
        self.in_chans = cfg.in_chans
        self.patch_size = cfg.patch_size
        self.embed_dim = cfg.embed_dim
        self.num_heads = cfg.num_heads
        self.grid_size = (self.img_size[0] // cfg.patch_size, self.img_size[1] // cfg.patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]

        self.input_norm = InputNormalize(cfg.input_mean, cfg.input_std)
        self.patch_embed = nn.Conv2d(
            cfg.in_chans, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        if cfg.pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, cfg.embed_dim))
        else:  # fixed, but saved with the weights so a checkpoint is self-contained
            table = sincos_pos_embed_2d(cfg.embed_dim, self.grid_size)  # (L, D)
            self.register_buffer("pos_embed", table.unsqueeze(0))  # (1, L, D)
        rates = torch.linspace(0, cfg.drop_path_rate, cfg.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(
                cfg.embed_dim,
                cfg.num_heads,
                mlp_ratio=cfg.mlp_ratio,
                qkv_bias=cfg.qkv_bias,
                drop_path=rate,
            )
            for rate in rates
        )
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        self.apply(init_vit_weights)
        w = self.patch_embed.weight  # (D, C, p, p), Xavier on its (D, C*p*p) view as in MAE
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if isinstance(self.pos_embed, nn.Parameter):
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def input_grid(self, x: Tensor) -> tuple[int, int]:
        """Patch grid ``(h, w)`` of images ``x: (B, C, H, W)``; checks C and divisibility by p."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"expected images of shape (B, {self.in_chans}, H, W); got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(
                f"image size {h}x{w} is not a multiple of patch_size {p}; crop or resize it"
            )
        return h // p, w // p

    def embed_patches(self, x: Tensor) -> Tensor:
        """Patch embedding plus positions: ``(B, C, H, W) -> (B, L, D)``, L = (H/p)*(W/p)."""
        grid = self.input_grid(x)
        tokens = rearrange(self.patch_embed(self.input_norm(x)), "b d h w -> b (h w) d")  # (B,L,D)
        pos = interpolate_pos_embed(self.pos_embed, src_grid=self.grid_size, dst_grid=grid)
        return tokens + pos  # (B, L, D)

    def prepare_tokens(self, x: Tensor, ids_keep: Tensor | None = None) -> Tensor:
        """Block input: CLS then (visible) patch tokens with positions, ``(B, 1 + L', D)``.

        ``ids_keep: (B, L_keep)`` long, indices into the raster-ordered patches of ``x``, selects
        the visible patches after positions are added, so ``L' = L_keep``; without it ``L' = L``.
        """
        tokens = self.embed_patches(x)  # (B, L, D)
        if ids_keep is not None:
            if ids_keep.ndim != 2 or ids_keep.shape[0] != x.shape[0]:
                raise ValueError(
                    f"ids_keep must be (B, L_keep) with B={x.shape[0]}; got {tuple(ids_keep.shape)}"
                )
            if ids_keep.dtype != torch.long:
                raise ValueError(f"ids_keep must be torch.long; got {ids_keep.dtype}")
            tokens = gather_visible(tokens, ids_keep)  # (B, L_keep, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
        return torch.cat([cls, tokens], dim=1)  # (B, 1 + L', D)

    def forward_tokens(self, x: Tensor, ids_keep: Tensor | None = None) -> Tensor:
        """Normed output tokens, CLS first: ``(B, 1 + L', D)``.

        With ``ids_keep: (B, L_keep)`` only CLS and the kept patches go through the blocks (MAE's
        encoder), so ``L' = L_keep``; see :meth:`prepare_tokens`.
        """
        h = self.prepare_tokens(x, ids_keep)  # (B, 1 + L', D)
        for block in self.blocks:
            h = block(h)
        return self.norm(h)  # (B, 1 + L', D)

    def forward_features(self, x: Tensor) -> Tensor:
        """Image embedding ``(B, D)``: the CLS token, or the mean patch token (``global_pool``)."""
        tokens = self.forward_tokens(x)  # (B, 1 + L, D)
        if self.config.global_pool == "avg":
            return tokens[:, 1:].mean(dim=1)  # (B, D)
        return tokens[:, 0]  # (B, D)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)

    def patch_tokens(self, x: Tensor) -> Tensor:
        """Final normed patch tokens ``(B, L, D)`` in raster order (CLS dropped)."""
        return self.forward_tokens(x)[:, 1:]

    def get_last_selfattention(self, x: Tensor) -> Tensor:
        """Attention of the last block, ``(B, heads, 1 + L, 1 + L)``; query/key 0 is CLS."""
        h = self.prepare_tokens(x)  # (B, 1 + L, D)
        for block in self.blocks[:-1]:
            h = block(h)
        return self.blocks[-1].attention_weights(h)  # (B, heads, 1 + L, 1 + L)
