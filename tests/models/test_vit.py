"""Tests for ssl_core.models.vit: shapes, masking path, attention, positions, init, errors."""

from __future__ import annotations

import math

import pytest
import torch
from einops import rearrange

from ssl_core.models.vit import (
    Attention,
    VisionTransformer,
    ViTConfig,
    as_pair,
    interpolate_pos_embed,
    sincos_pos_embed_2d,
)

SMALL = dict(embed_dim=32, depth=2, num_heads=4)  # fast enough to build many times


def small_vit(**overrides) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(ViTConfig(**{**SMALL, **overrides}))


# --- positional embeddings ---------------------------------------------------------------------


@pytest.mark.parametrize(("dim", "grid"), [(8, (2, 3)), (16, (4, 4)), (12, (3, 1)), (4, (1, 1))])
def test_sincos_matches_explicit_loop(dim, grid):
    gh, gw = grid
    quarter = dim // 4
    expected = torch.empty(gh * gw, dim, dtype=torch.float64)
    for i in range(gh):
        for j in range(gw):
            for k in range(quarter):
                omega = 1.0 / 10000 ** (k / quarter)
                row = i * gw + j  # raster order
                expected[row, k] = math.sin(j * omega)  # column index in the first half
                expected[row, quarter + k] = math.cos(j * omega)
                expected[row, 2 * quarter + k] = math.sin(i * omega)  # row index in the second
                expected[row, 3 * quarter + k] = math.cos(i * omega)
    got = sincos_pos_embed_2d(dim, grid)
    assert got.shape == (gh * gw, dim) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected.float())


def test_sincos_origin_is_zeros_then_ones():
    emb = sincos_pos_embed_2d(16, 3)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 4 + [1.0] * 4))


def test_sincos_needs_dim_multiple_of_4():
    with pytest.raises(ValueError, match="divisible by 4; got 10"):
        sincos_pos_embed_2d(10, 3)


def test_interpolate_identity_constant_and_shape():
    table = torch.randn(1, 7 * 5, 6)
    assert interpolate_pos_embed(table, src_grid=(7, 5), dst_grid=(7, 5)) is table
    resized = interpolate_pos_embed(table, src_grid=(7, 5), dst_grid=(3, 2))
    assert resized.shape == (1, 6, 6)
    # a table that is the same at every position stays the same after bicubic resampling
    const = torch.arange(6.0).expand(1, 49, 6)
    torch.testing.assert_close(
        interpolate_pos_embed(const, src_grid=(7, 7), dst_grid=(3, 3)), const[:, :9]
    )


def test_as_pair():
    assert as_pair(28, name="img_size") == (28, 28)
    assert as_pair([28, 20], name="img_size") == (28, 20)
    with pytest.raises(ValueError, match="img_size must be a positive int or a pair"):
        as_pair((28, 0), name="img_size")


# --- shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("img_size", "patch", "chans", "input_hw", "grid"),
    [
        (28, 4, 1, (28, 28), (7, 7)),  # Fashion-MNIST
        (32, 8, 3, (32, 32), (4, 4)),  # RGB
        ((28, 20), 4, 1, (28, 20), (7, 5)),  # non-square, its own size
        ((28, 20), 4, 3, (12, 16), (3, 4)),  # non-square, another size (interpolated positions)
        (28, 4, 1, (12, 12), (3, 3)),  # DINO local crop through a 28 px model
    ],
)
@pytest.mark.parametrize("pos_embed", ["sincos", "learned"])
def test_shapes(img_size, patch, chans, input_hw, grid, pos_embed):
    model = small_vit(img_size=img_size, patch_size=patch, in_chans=chans, pos_embed=pos_embed)
    x = torch.randn(3, chans, *input_hw)
    length = grid[0] * grid[1]
    assert model.input_grid(x) == grid
    assert model.forward_features(x).shape == (3, 32)
    assert model(x).shape == (3, 32)
    assert model.forward_tokens(x).shape == (3, 1 + length, 32)
    assert model.patch_tokens(x).shape == (3, length, 32)
    assert model.get_last_selfattention(x).shape == (3, 4, 1 + length, 1 + length)


def test_attributes_for_non_square_config():
    model = small_vit(img_size=(28, 20), patch_size=4, in_chans=3)
    assert model.img_size == (28, 20)
    assert model.grid_size == (7, 5)
    assert model.num_patches == 35
    assert model.patch_size == 4 and model.in_chans == 3 and model.embed_dim == 32
    assert model.pos_embed.shape == (1, 35, 32)


@pytest.mark.parametrize("pos_embed", ["sincos", "learned"])
def test_small_input_uses_interpolated_positions(pos_embed):
    model = small_vit(pos_embed=pos_embed)
    x = torch.randn(2, 1, 12, 12)
    tokens = model.embed_patches(x)  # (2, 9, D)
    no_pos = rearrange(model.patch_embed(x), "b d h w -> b (h w) d")
    expected_pos = interpolate_pos_embed(model.pos_embed, src_grid=(7, 7), dst_grid=(3, 3))
    torch.testing.assert_close(tokens - no_pos, expected_pos.expand(2, -1, -1))
    assert not torch.allclose(expected_pos, model.pos_embed[:, :9])  # really resampled


def test_sincos_buffer_is_fixed_and_learned_is_a_parameter():
    fixed = small_vit(pos_embed="sincos")
    assert "pos_embed" in dict(fixed.named_buffers())
    assert "pos_embed" in fixed.state_dict()
    torch.testing.assert_close(fixed.pos_embed[0], sincos_pos_embed_2d(32, (7, 7)))
    learned = small_vit(pos_embed="learned")
    assert "pos_embed" in dict(learned.named_parameters())


# --- masking path --------------------------------------------------------------------------------


def _record_first_block_input(model: VisionTransformer, x: torch.Tensor, **kwargs) -> torch.Tensor:
    seen = []
    handle = model.blocks[0].register_forward_hook(lambda m, args, out: seen.append(args[0]))
    try:
        out = model.forward_tokens(x, **kwargs)
    finally:
        handle.remove()
    assert len(seen) == 1
    return seen[0], out


@pytest.mark.parametrize("keep", [1, 12, 49])
def test_ids_keep_blocks_see_only_visible_tokens(keep):
    model = small_vit(pos_embed="learned")
    x = torch.randn(3, 1, 28, 28)
    ids_keep = torch.stack([torch.randperm(49)[:keep] for _ in range(3)])  # (3, keep)
    full_in, _ = _record_first_block_input(model, x)
    kept_in, out = _record_first_block_input(model, x, ids_keep=ids_keep)
    assert kept_in.shape == (3, 1 + keep, 32)
    assert out.shape == (3, 1 + keep, 32)
    for b in range(3):
        torch.testing.assert_close(kept_in[b, 0], full_in[b, 0])  # CLS first
        for j in range(keep):  # positions were added before the gather
            torch.testing.assert_close(kept_in[b, 1 + j], full_in[b, 1 + ids_keep[b, j]])


def test_all_patches_kept_in_order_equals_full_forward():
    model = small_vit()
    x = torch.randn(2, 1, 28, 28)
    ids_keep = torch.arange(49).expand(2, -1)
    torch.testing.assert_close(model.forward_tokens(x, ids_keep=ids_keep), model.forward_tokens(x))


def test_ids_keep_validation():
    model = small_vit()
    x = torch.randn(2, 1, 28, 28)
    with pytest.raises(ValueError, match="must be torch.long"):
        model.forward_tokens(x, ids_keep=torch.zeros(2, 5, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"ids_keep must be \(B, L_keep\) with B=2"):
        model.forward_tokens(x, ids_keep=torch.zeros(5, dtype=torch.long))


# --- attention -----------------------------------------------------------------------------------


def test_attention_weights_match_loop_and_sdpa_output():
    torch.manual_seed(1)
    attn = Attention(12, 3)
    x = torch.randn(2, 5, 12)
    weights = attn.attention_weights(x)  # (2, 3, 5, 5)
    q, k, v = (attn.qkv(x)).split(12, dim=-1)  # each (2, 5, 12), heads are 4-wide slices
    expected = torch.empty(2, 3, 5, 5)
    for b in range(2):
        for h in range(3):
            sl = slice(4 * h, 4 * h + 4)
            for i in range(5):
                scores = torch.stack([q[b, i, sl] @ k[b, j, sl] / 2.0 for j in range(5)])
                expected[b, h, i] = scores.softmax(dim=0)
    torch.testing.assert_close(weights, expected)
    # the fused path applies exactly these weights
    mixed = torch.einsum("bhij,bhjd->bhid", weights, rearrange(v, "b n (h d) -> b h n d", h=3))
    torch.testing.assert_close(attn(x), attn.proj(rearrange(mixed, "b h n d -> b n (h d)")))


def test_last_selfattention_rows_sum_to_one_and_match_forward_path():
    model = small_vit(img_size=(28, 20))
    x = torch.randn(2, 1, 28, 20)
    attn = model.get_last_selfattention(x)
    assert attn.shape == (2, 4, 36, 36)
    assert (attn >= 0).all()
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 4, 36))
    seen = []
    handle = model.blocks[-1].register_forward_hook(lambda m, args, out: seen.append(args[0]))
    model.forward_tokens(x)
    handle.remove()
    torch.testing.assert_close(attn, model.blocks[-1].attention_weights(seen[0]))


# --- pooling, gradients, init, determinism -------------------------------------------------------


def test_global_pool():
    x = torch.randn(2, 1, 28, 28)
    cls_model = small_vit()
    torch.testing.assert_close(cls_model.forward_features(x), cls_model.forward_tokens(x)[:, 0])
    avg_model = small_vit(global_pool="avg")
    torch.testing.assert_close(avg_model.forward_features(x), avg_model.patch_tokens(x).mean(1))


@pytest.mark.parametrize("pos_embed", ["sincos", "learned"])
def test_every_parameter_gets_a_gradient(pos_embed):
    model = small_vit(pos_embed=pos_embed)
    model.forward_features(torch.randn(2, 1, 28, 28)).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []


def test_parameter_count_matches_formula():
    d, depth, c, p, length = 32, 2, 3, 4, 49
    per_block = 12 * d * d + 13 * d  # qkv + proj + 2 MLP layers (ratio 4) + 2 LayerNorms
    base = c * p * p * d + d + d + depth * per_block + 2 * d  # patch embed, CLS, blocks, norm
    fixed = small_vit(in_chans=3)
    assert sum(t.numel() for t in fixed.parameters()) == base
    learned = small_vit(in_chans=3, pos_embed="learned")
    assert sum(t.numel() for t in learned.parameters()) == base + length * d


def test_init_follows_timm():
    torch.manual_seed(0)
    model = VisionTransformer(ViTConfig(embed_dim=128, depth=2, num_heads=4))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert abs(weights.std().item() - 0.02) < 0.001
    assert all((m.bias == 0).all() for m in linears)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert all((m.weight == 1).all() and (m.bias == 0).all() for m in norms)
    assert abs(model.cls_token.std().item() - 0.02) < 0.01
    w = model.patch_embed.weight.flatten(1)  # (D, C*p*p), Xavier uniform bound
    assert w.abs().max() <= math.sqrt(6 / (w.shape[0] + w.shape[1]))


def test_same_seed_same_weights():
    a, b = small_vit(pos_embed="learned"), small_vit(pos_embed="learned")
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb), name
    torch.manual_seed(1)
    c = VisionTransformer(ViTConfig(**SMALL, pos_embed="learned"))
    assert not torch.equal(a.cls_token, c.cls_token)


def test_drop_path_only_in_training():
    model = small_vit(drop_path_rate=0.5)
    x = torch.randn(8, 1, 28, 28)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    first = model(x)
    torch.manual_seed(1)
    assert not torch.allclose(first, model(x))


# --- errors --------------------------------------------------------------------------------------


def test_input_errors():
    model = small_vit()
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, H, W\); got \(2, 3"):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="26x28 is not a multiple of patch_size 4"):
        model(torch.randn(2, 1, 26, 28))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(img_size=30, patch_size=4), "img_size .30, 30. must be a multiple of patch_size 4"),
        (dict(embed_dim=30, num_heads=4), "embed_dim 30 must be divisible by num_heads 4"),
        (dict(embed_dim=30, num_heads=3), "pos_embed='sincos' needs embed_dim divisible by 4"),
        (dict(pos_embed="rope"), "pos_embed must be 'sincos' or 'learned'"),
        (dict(global_pool="max"), "global_pool must be 'cls' or 'avg'"),
        (dict(drop_path_rate=1.0), r"drop_path_rate must be in \[0, 1\)"),
        (dict(depth=0), "depth, in_chans and patch_size must all be >= 1"),
    ],
)
def test_config_errors(overrides, match):
    with pytest.raises(ValueError, match=match):
        ViTConfig(**{**SMALL, **overrides})


def test_learned_positions_allow_any_dim():
    model = small_vit(embed_dim=30, num_heads=3, pos_embed="learned")
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 30)


def test_input_statistics_normalise_inside_the_encoder():
    """An encoder with input_mean/std equals the plain one fed (x - mean) / std, and a checkpoint
    stays the same set of tensors (the statistics come from the config)."""
    from ssl_core.models.vit import ViTConfig

    base = ViTConfig(img_size=28, patch_size=4, embed_dim=32, depth=1, num_heads=2)
    torch.manual_seed(0)
    plain = base.build().eval()
    normed = ViTConfig(**{**base.__dict__, "input_mean": (0.3,), "input_std": (0.5,)}).build()
    normed.load_state_dict(plain.state_dict())
    normed.eval()
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(normed.forward_features(x), plain.forward_features((x - 0.3) / 0.5),
                          atol=1e-6)
    assert normed.state_dict().keys() == plain.state_dict().keys()
    with pytest.raises(ValueError, match="both input_mean and input_std"):
        ViTConfig(input_mean=(0.3,))
    with pytest.raises(ValueError, match="one value per channel"):
        ViTConfig(input_mean=(0.3, 0.3), input_std=(0.5, 0.5))
    with pytest.raises(ValueError, match="input_std must be > 0"):
        ViTConfig(input_mean=(0.3,), input_std=(0.0,))
