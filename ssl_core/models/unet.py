"""TinyUNet: a convolutional encoder-decoder with skip connections.

The network of UNet-MAE, masked-patch reconstruction with a conv backbone:
the method blanks the masked patches at the input and scores the reconstruction on masked patches
only; this module is only the network. ``forward(x) -> (B, C, H, W)`` reconstructs an image of
the input's size; ``forward_features(x) -> (B, D)`` average-pools the bottleneck so the encoder
half can be linear-probed like any other backbone.

Sizes that are not a multiple of ``2 ** (len(widths) - 1)`` (e.g. 28 with 4 levels) are zero-padded
at the bottom/right before encoding and the reconstruction is cropped back, so any size works.
GroupNorm rather than BatchNorm: a reconstruction is per image, and short runs train on small
batches, where batch statistics are noisy and differ between train and eval.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_core.models.vit import as_pair

__all__ = ["TinyUNet", "UNetConfig"]


def _conv_block(in_chans: int, out_chans: int) -> nn.Sequential:
    """Two (3x3 conv -> GroupNorm -> ReLU) layers at constant resolution."""

    def norm(c: int) -> nn.GroupNorm:
        return nn.GroupNorm(min(8, c), c)

    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False),
        norm(out_chans),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False),
        norm(out_chans),
        nn.ReLU(inplace=True),
    )


@dataclass(frozen=True)
class UNetConfig:
    """Everything needed to rebuild a :class:`TinyUNet` (saved next to checkpoints)."""

    in_chans: int = 1  # also the number of reconstructed channels
    img_size: int | tuple[int, int] = 28  # nominal; any input size works (padded internally)
    # Channels per level, full resolution first; each further level halves the resolution and
    # D = widths[-1] (the bottleneck). 3 levels: 28 -> 14 -> 7. More levels see larger context,
    # which matters when the masked patches are large.
    widths: tuple[int, ...] = (32, 64, 128)

    def __post_init__(self) -> None:
        object.__setattr__(self, "img_size", as_pair(self.img_size, name="img_size"))
        object.__setattr__(self, "widths", tuple(self.widths))
        if len(self.widths) < 2 or any(w < 1 for w in self.widths):
            raise ValueError(
                f"widths needs at least 2 positive levels (full resolution, bottleneck); got "
                f"{self.widths}"
            )
        if self.in_chans < 1:
            raise ValueError(f"in_chans must be >= 1; got {self.in_chans}")

    def build(self) -> TinyUNet:
        return TinyUNet(self)


class TinyUNet(nn.Module):
    """Conv encoder-decoder. ``forward(x: (B, C, H, W)) -> (B, C, H, W)`` reconstruction."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else UNetConfig()
        self.config = cfg
        self.in_chans = cfg.in_chans
        self.img_size: tuple[int, int] = cfg.img_size  # type: ignore[assignment]
        self.embed_dim = cfg.widths[-1]
        self.multiple = 2 ** (len(cfg.widths) - 1)  # inputs are padded to a multiple of this
        w = cfg.widths
        pairs = list(zip(w[:-1], w[1:], strict=True))  # (level i, level i + 1) channel pairs
        self.encoders = nn.ModuleList(
            [_conv_block(cfg.in_chans, w[0])] + [_conv_block(a, b) for a, b in pairs]
        )
        self.ups = nn.ModuleList(nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in pairs)
        self.decoders = nn.ModuleList(_conv_block(2 * a, a) for a in w[:-1])
        self.head = nn.Conv2d(w[0], cfg.in_chans, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _pad(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"expected images of shape (B, {self.in_chans}, H, W); got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        return F.pad(x, (0, pad_w, 0, pad_h))  # (B, C, H', W'), multiples of self.multiple

    def encode(self, x: Tensor) -> list[Tensor]:
        """Feature maps per level, full resolution first; the last is the bottleneck."""
        feats = [self.encoders[0](self._pad(x))]  # (B, w0, H', W')
        for encoder in self.encoders[1:]:
            feats.append(encoder(F.max_pool2d(feats[-1], 2)))  # (B, w_i, H'/2^i, W'/2^i)
        return feats

    def forward_features(self, x: Tensor) -> Tensor:
        """Average-pooled bottleneck: ``(B, C, H, W) -> (B, D)``, D = widths[-1]."""
        return self.encode(x)[-1].mean(dim=(-2, -1))  # (B, D)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction ``(B, C, H, W)`` (no output activation: targets may be normalised)."""
        feats = self.encode(x)
        h = feats[-1]  # (B, D, H'/2^(n-1), W'/2^(n-1))
        for i in reversed(range(len(self.decoders))):
            h = self.ups[i](h)  # (B, w_i, H'/2^i, W'/2^i)
            h = self.decoders[i](torch.cat([h, feats[i]], dim=1))  # (B, w_i, H'/2^i, W'/2^i)
        out = self.head(h)  # (B, C, H', W')
        return out[..., : x.shape[-2], : x.shape[-1]]  # (B, C, H, W)
