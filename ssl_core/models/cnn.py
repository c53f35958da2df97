"""A small ResNet-style CNN encoder (BasicBlocks, BatchNorm, global average pooling).

The convolutional counterpart of the small ViT under the same contract:
``forward_features(x: (B, C, H, W)) -> (B, D)`` with ``D = widths[-1]``, for any channel count and
any input of at least 8x8 pixels. ``feature_map(x) -> (B, D, h, w)`` gives the last stage before
pooling, for heat maps. The layout is the CIFAR variant of ResNet (3x3 stem, no max-pool), with
the first stage at the stem's resolution and each later stage halving it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ssl_core.models.vit import InputNormalize, as_pair, check_input_stats

__all__ = ["BasicBlock", "ResNet", "ResNetConfig"]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection (1x1 conv-BN when the shape changes)."""

    def __init__(self, in_chans: int, out_chans: int, *, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chans)
        self.conv2 = nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chans)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_chans != out_chans:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chans, out_chans, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_chans),
            )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


@dataclass(frozen=True)
class ResNetConfig:
    """Everything needed to rebuild a :class:`ResNet` (saved next to checkpoints)."""

    in_chans: int = 1  # 1 for Fashion-MNIST, 3 for photos
    # Nominal training size; the network itself accepts any input of at least 8x8 pixels.
    img_size: int | tuple[int, int] = 28
    # Channels per stage; D = widths[-1]. Stages after the first halve the resolution, so a 28 px
    # input ends on a 4x4 map with 4 stages. Cost grows with the square of the widths.
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks_per_stage: int = 1  # 2 gives ResNet-18's depth pattern at twice the cost
    stem_stride: int = 1  # 1 for <= 32 px inputs; 2 for 64 px photos (4x cheaper, same receptive)
    # Per-channel input statistics, as ViTConfig.input_mean / input_std (None: no normalisation).
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "img_size", as_pair(self.img_size, name="img_size"))
        object.__setattr__(self, "widths", tuple(self.widths))
        if not self.widths or any(w < 1 for w in self.widths):
            raise ValueError(
                f"widths must be a non-empty sequence of positive ints; got {self.widths}"
            )
        if self.in_chans < 1 or self.blocks_per_stage < 1 or self.stem_stride not in (1, 2):
            raise ValueError(
                "in_chans and blocks_per_stage must be >= 1 and stem_stride 1 or 2; got "
                f"{self.in_chans}, {self.blocks_per_stage}, {self.stem_stride}"
            )
        check_input_stats(self)

    def build(self) -> ResNet:
        return ResNet(self)


class ResNet(nn.Module):
    """ResNet-style encoder: ``forward_features(x: (B, C, H, W)) -> (B, D)``, D = widths[-1]."""

    min_size = 8  # smallest input side accepted

    def __init__(self, config: ResNetConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else ResNetConfig()
        self.config = cfg
        self.in_chans = cfg.in_chans
        self.img_size: tuple[int, int] = cfg.img_size  # type: ignore[assignment]
        self.embed_dim = cfg.widths[-1]
        self.input_norm = InputNormalize(cfg.input_mean, cfg.input_std)
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.in_chans, cfg.widths[0], 3, cfg.stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(cfg.widths[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        in_chans = cfg.widths[0]
        for i, width in enumerate(cfg.widths):
            blocks = [BasicBlock(in_chans, width, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(width, width) for _ in range(cfg.blocks_per_stage - 1)]
            stages.append(nn.Sequential(*blocks))
            in_chans = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def feature_map(self, x: Tensor) -> Tensor:
        """Last stage before pooling: ``(B, C, H, W) -> (B, D, h, w)``."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"expected images of shape (B, {self.in_chans}, H, W); got {tuple(x.shape)}"
            )
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"ResNet needs inputs of at least {self.min_size}x{self.min_size} pixels; "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )
        return self.stages(self.stem(self.input_norm(x)))  # (B, D, h, w)

    def forward_features(self, x: Tensor) -> Tensor:
        """Global-average-pooled last stage: ``(B, C, H, W) -> (B, D)``."""
        return torch.flatten(self.pool(self.feature_map(x)), 1)  # (B, D)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)
