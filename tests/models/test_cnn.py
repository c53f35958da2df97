"""Tests for ssl_core.models.cnn: the ResNet-style encoder."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_core.models.cnn import BasicBlock, ResNet, ResNetConfig


def small_resnet(**overrides) -> ResNet:
    torch.manual_seed(0)
    return ResNet(ResNetConfig(**{"widths": (8, 16, 24), **overrides}))


def expected_map_side(side: int, *, stem_stride: int, n_stages: int) -> int:
    """3x3 convs with padding 1: stride s maps n to ceil(n / s); stages after the first halve."""
    side = math.ceil(side / stem_stride)
    for _ in range(n_stages - 1):
        side = math.ceil(side / 2)
    return side


@pytest.mark.parametrize("chans", [1, 3])
@pytest.mark.parametrize("hw", [(8, 8), (28, 28), (32, 32), (28, 20), (64, 64)])
@pytest.mark.parametrize("stem_stride", [1, 2])
def test_shapes(chans, hw, stem_stride):
    model = small_resnet(in_chans=chans, stem_stride=stem_stride)
    x = torch.randn(2, chans, *hw)
    h, w = (expected_map_side(s, stem_stride=stem_stride, n_stages=3) for s in hw)
    fmap = model.feature_map(x)
    assert fmap.shape == (2, 24, h, w)
    assert model.forward_features(x).shape == (2, 24)
    torch.testing.assert_close(model(x), fmap.mean(dim=(-2, -1)))  # global average pool


def test_contract_attributes():
    model = small_resnet(in_chans=3, img_size=(32, 24))
    assert (model.embed_dim, model.in_chans, model.img_size) == (24, 3, (32, 24))


def test_blocks_per_stage_and_shortcuts():
    model = small_resnet(blocks_per_stage=2)
    assert [len(stage) for stage in model.stages] == [2, 2, 2]
    assert isinstance(model.stages[0][0].shortcut, torch.nn.Identity)  # 8 -> 8, stride 1
    assert isinstance(model.stages[1][0].shortcut, torch.nn.Sequential)  # 8 -> 16, stride 2


def test_basic_block_is_residual():
    torch.manual_seed(0)
    block = BasicBlock(4, 4).eval()
    torch.nn.init.zeros_(block.bn2.weight)  # kill the residual branch: output = relu(x)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_every_parameter_gets_a_gradient():
    model = small_resnet(in_chans=3)
    model.forward_features(torch.randn(4, 3, 16, 16)).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []


def test_train_step_lowers_a_regression_loss():
    model = small_resnet()
    x, target = torch.randn(16, 1, 12, 12), torch.randn(16, 24)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = (model(x) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_same_seed_same_weights():
    a, b = small_resnet(), small_resnet()
    assert all(torch.equal(ta, tb) for ta, tb in zip(a.parameters(), b.parameters(), strict=True))


def test_input_errors():
    model = small_resnet()
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, H, W\)"):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="at least 8x8 pixels; got 7x28"):
        model(torch.randn(2, 1, 7, 28))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(widths=()), "widths must be a non-empty sequence"),
        (dict(widths=(8, 0)), "widths must be a non-empty sequence"),
        (dict(stem_stride=3), "stem_stride 1 or 2"),
        (dict(blocks_per_stage=0), "blocks_per_stage must be >= 1"),
        (dict(img_size=-1), "img_size must be a positive int"),
    ],
)
def test_config_errors(overrides, match):
    with pytest.raises(ValueError, match=match):
        ResNetConfig(**overrides)


def test_input_statistics_normalise_inside_the_cnn():
    from ssl_core.models.cnn import ResNetConfig

    base = ResNetConfig(widths=(8, 16))
    torch.manual_seed(0)
    plain = base.build().eval()
    normed = ResNetConfig(widths=(8, 16), input_mean=(0.3,), input_std=(0.5,)).build()
    normed.load_state_dict(plain.state_dict())
    normed.eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(normed.forward_features(x), plain.forward_features((x - 0.3) / 0.5),
                          atol=1e-6)
