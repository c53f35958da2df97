"""Tests for ssl_core.models.heads: SimCLR projection, DINO head, MAE decoder."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ssl_core.models.heads import DINOHead, MAEDecoder, ProjectionHead
from ssl_core.models.vit import sincos_pos_embed_2d

# --- ProjectionHead ------------------------------------------------------------------------------


def layer_types(module: nn.Module) -> list[type]:
    return [type(m) for m in module.mlp]


def test_projection_head_is_linear_bn_relu_linear():
    torch.manual_seed(0)
    head = ProjectionHead(32, hidden_dim=64, out_dim=16)
    assert layer_types(head) == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert head.mlp[0].bias is None and head.mlp[3].bias is not None  # BN replaces the bias
    x = torch.randn(5, 32)
    head.eval()  # eval BN with fresh running stats is the identity: check the composition
    expected = head.mlp[3](torch.relu(head.mlp[0](x)))
    torch.testing.assert_close(head(x), expected)
    head.train()
    assert head(x).shape == (5, 16)


@pytest.mark.parametrize(
    ("n_layers", "bn", "n_linear", "n_bn"), [(1, True, 1, 0), (3, True, 3, 2), (2, False, 2, 0)]
)
def test_projection_head_layers(n_layers, bn, n_linear, n_bn):
    head = ProjectionHead(8, hidden_dim=12, out_dim=4, n_layers=n_layers, bn=bn)
    types = layer_types(head)
    assert types.count(nn.Linear) == n_linear and types.count(nn.BatchNorm1d) == n_bn
    assert types[-1] is nn.Linear
    assert head(torch.randn(3, 8)).shape == (3, 4)


def test_projection_head_rejects_zero_layers():
    with pytest.raises(ValueError, match="n_layers must be >= 1; got 0"):
        ProjectionHead(8, n_layers=0)


# --- DINOHead ------------------------------------------------------------------------------------


def test_dino_head_shape_and_formula():
    torch.manual_seed(0)
    head = DINOHead(32, 100, hidden_dim=48, bottleneck_dim=16)
    assert layer_types(head) == [nn.Linear, nn.GELU, nn.Linear, nn.GELU, nn.Linear]
    x = torch.randn(6, 32)
    out = head(x)
    assert out.shape == (6, 100)
    z = F.normalize(head.mlp(x), dim=-1)
    v = head.last_layer.parametrizations.weight.original1  # (100, 16)
    torch.testing.assert_close(out, z @ F.normalize(v, dim=-1).T)  # g = 1: unit prototypes


def test_dino_head_uses_the_parametrization_api():
    head = DINOHead(8, 10, hidden_dim=8, bottleneck_dim=4)
    assert parametrize.is_parametrized(head.last_layer, "weight")
    assert head.last_layer.bias is None


def test_dino_head_norm_last_layer_fixes_g():
    torch.manual_seed(0)
    head = DINOHead(8, 10, hidden_dim=8, bottleneck_dim=4, norm_last_layer=True)
    g = head.last_layer.parametrizations.weight.original0
    v = head.last_layer.parametrizations.weight.original1
    assert not g.requires_grad and torch.equal(g, torch.ones(10, 1))
    v_before = v.detach().clone()
    opt = torch.optim.SGD([p for p in head.parameters() if p.requires_grad], lr=1.0)
    head(torch.randn(4, 8)).pow(2).sum().backward()
    opt.step()
    assert torch.equal(g, torch.ones(10, 1)) and not torch.equal(v, v_before)
    rows = head.last_layer.weight.norm(dim=1)
    torch.testing.assert_close(rows, torch.ones(10))  # prototypes stay unit vectors


def test_dino_head_trainable_g_without_norm_last_layer():
    head = DINOHead(8, 10, hidden_dim=8, bottleneck_dim=4, norm_last_layer=False)
    g = head.last_layer.parametrizations.weight.original0
    assert g.requires_grad
    head(torch.randn(4, 8)).pow(2).sum().backward()
    assert g.grad is not None and g.grad.abs().sum() > 0


def test_dino_head_deepcopies_for_an_ema_teacher():
    head = DINOHead(8, 10, hidden_dim=8, bottleneck_dim=4, use_bn=True, n_layers=2)
    assert layer_types(head) == [nn.Linear, nn.BatchNorm1d, nn.GELU, nn.Linear]
    teacher = copy.deepcopy(head).eval()
    head.eval()
    x = torch.randn(3, 8)
    torch.testing.assert_close(teacher(x), head(x))
    with torch.no_grad():
        teacher.last_layer.parametrizations.weight.original1.mul_(2.0)  # independent tensors
    assert not torch.equal(
        teacher.last_layer.parametrizations.weight.original1,
        head.last_layer.parametrizations.weight.original1,
    )


def test_dino_head_one_layer():
    head = DINOHead(8, 10, bottleneck_dim=4, n_layers=1)
    assert layer_types(head) == [nn.Linear]
    assert head(torch.randn(2, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        DINOHead(8, 10, n_layers=0)


# --- MAEDecoder ----------------------------------------------------------------------------------


def make_decoder(grid=(3, 4)) -> MAEDecoder:
    torch.manual_seed(0)
    return MAEDecoder(
        grid_size=grid, embed_dim=20, patch_dim=12, decoder_dim=16, depth=1, num_heads=2
    )


def masking(batch: int, length: int, keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ids_keep (B, keep) and ids_restore (B, L), as MAE's random_masking makes them."""
    ids_shuffle = torch.stack([torch.randperm(length) for _ in range(batch)])
    return ids_shuffle[:, :keep], ids_shuffle.argsort(dim=1)


@pytest.mark.parametrize("keep", [0, 3, 12])
def test_unshuffle_matches_loop(keep):
    decoder = make_decoder()
    torch.manual_seed(1)
    ids_keep, ids_restore = masking(2, 12, keep)
    tokens = torch.randn(2, 1 + keep, 20)
    out = decoder.unshuffle(tokens, ids_restore)
    assert out.shape == (2, 13, 16)
    projected = decoder.decoder_embed(tokens)
    for b in range(2):
        torch.testing.assert_close(out[b, 0], projected[b, 0])  # CLS stays first
        visible = {int(ids_keep[b, j]): j for j in range(keep)}
        for pos in range(12):
            expected = (
                projected[b, 1 + visible[pos]] if pos in visible else decoder.mask_token[0, 0]
            )
            torch.testing.assert_close(out[b, 1 + pos], expected)


def test_decoder_output_shape_and_dependence_on_mask_positions():
    decoder = make_decoder()
    torch.manual_seed(2)
    tokens = torch.randn(2, 1 + 4, 20)
    _, restore_a = masking(2, 12, 4)
    _, restore_b = masking(2, 12, 4)
    pred_a = decoder(tokens, restore_a)
    assert pred_a.shape == (2, 12, 12)
    assert not torch.allclose(pred_a, decoder(tokens, restore_b))
    torch.testing.assert_close(pred_a, decoder(tokens, restore_a))


def test_decoder_positions_matter():
    decoder = make_decoder()
    torch.manual_seed(3)
    tokens = torch.randn(1, 1, 20)  # everything masked: only positions tell patches apart
    pred = decoder(tokens, torch.arange(12).unsqueeze(0))
    assert not torch.allclose(pred[0, 0], pred[0, 1])
    torch.testing.assert_close(decoder.pos_embed[0], sincos_pos_embed_2d(16, (3, 4)))
    assert "pos_embed" not in dict(decoder.named_parameters())  # fixed sin-cos


def test_decoder_gradients_reach_encoder_tokens_and_mask_token():
    decoder = make_decoder()
    tokens = torch.randn(2, 5, 20, requires_grad=True)
    _, ids_restore = masking(2, 12, 4)
    decoder(tokens, ids_restore).pow(2).mean().backward()
    assert tokens.grad.abs().sum() > 0
    assert decoder.mask_token.grad.abs().sum() > 0


def test_decoder_input_errors():
    decoder = make_decoder()
    _, ids_restore = masking(2, 12, 4)
    with pytest.raises(ValueError, match=r"tokens must be \(B, 1 \+ L_keep, 20\)"):
        decoder(torch.randn(2, 5, 8), ids_restore)
    with pytest.raises(ValueError, match=r"ids_restore must be long of shape \(B, L\) = \(2, 12\)"):
        decoder(torch.randn(2, 5, 20), ids_restore[:, :10])
    with pytest.raises(ValueError, match="ids_restore must be long"):
        decoder(torch.randn(2, 5, 20), ids_restore.int())
    with pytest.raises(ValueError, match="at most 12 patches; got 14 tokens"):
        decoder(torch.randn(2, 14, 20), ids_restore)
