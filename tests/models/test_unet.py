"""Tests for ssl_core.models.unet: the TinyUNet encoder-decoder."""

from __future__ import annotations

import pytest
import torch

from ssl_core.models.unet import TinyUNet, UNetConfig


def small_unet(**overrides) -> TinyUNet:
    torch.manual_seed(0)
    return TinyUNet(UNetConfig(**{"widths": (8, 16, 16), **overrides}))


@pytest.mark.parametrize("chans", [1, 3])
@pytest.mark.parametrize("hw", [(28, 28), (32, 32), (64, 64), (28, 20), (30, 17)])
@pytest.mark.parametrize("widths", [(8, 16, 16), (8, 8, 16, 16)])
def test_reconstruction_has_the_input_shape(chans, hw, widths):
    model = small_unet(in_chans=chans, widths=widths)
    x = torch.randn(2, chans, *hw)
    assert model(x).shape == x.shape
    assert model.forward_features(x).shape == (2, 16)


def test_padding_multiple_and_bottleneck_size():
    model = small_unet(widths=(8, 8, 16, 16))  # 3 halvings: 28 -> pad 32 -> 16 -> 8 -> 4
    assert model.multiple == 8
    feats = model.encode(torch.randn(1, 1, 28, 28))
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4]
    assert [f.shape[1] for f in feats] == [8, 8, 16, 16]


def test_contract_attributes():
    model = small_unet(in_chans=3, img_size=64)
    assert (model.embed_dim, model.in_chans, model.img_size) == (16, 3, (64, 64))


def test_features_are_the_pooled_bottleneck():
    model = small_unet()
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(model.forward_features(x), model.encode(x)[-1].mean(dim=(-2, -1)))


def test_every_parameter_gets_a_gradient():
    model = small_unet(in_chans=3)
    model(torch.randn(2, 3, 28, 28)).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []


def test_reconstruction_loss_falls():
    model = small_unet()
    torch.manual_seed(1)
    x = torch.randn(8, 1, 28, 28)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = (model(x) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_output_depends_on_skip_connections_at_full_resolution():
    model = small_unet().eval()
    x = torch.zeros(1, 1, 28, 28)
    y = x.clone()
    y[..., 3, 5] = 5.0  # one pixel
    diff = (model(y) - model(x)).abs()[0, 0]
    assert diff[3, 5] > 0
    assert diff[20:, 20:].max() < diff[3, 5]  # the change stays mostly local


def test_input_and_config_errors():
    model = small_unet()
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, H, W\)"):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="widths needs at least 2 positive levels"):
        UNetConfig(widths=(8,))
    with pytest.raises(ValueError, match="in_chans must be >= 1; got 0"):
        UNetConfig(in_chans=0)
