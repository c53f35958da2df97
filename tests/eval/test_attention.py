"""Tests for ssl_core.eval.attention: against explicit loops on tiny inputs, and real tiny ViTs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesson.figures.pictures import colourize, overlay
from ssl_core.eval.attention import (
    attention_maps,
    cls_attention,
    foreground_share,
    mass_threshold_mask,
    upsample,
)
from ssl_core.images import image_to_batch, input_geometry, model_input
from ssl_core.models.registry import build_backbone

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_vit(**kw):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_backbone("vit_tiny_p4_28", depth=1, embed_dim=32, num_heads=2,
                              **kw).eval()


def _random_maps(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.random(shape) ** 3  # skewed, so the threshold keeps few patches


@pytest.mark.parametrize("grid", [(2, 3), (7, 7)])
def test_cls_attention_matches_a_loop(grid):
    gh, gw = grid
    attention = torch.rand(2, 3, 1 + gh * gw, 1 + gh * gw).softmax(-1)
    maps = cls_attention(attention, grid)
    assert maps.shape == (2, 3, gh, gw)
    for b in range(2):
        for h in range(3):
            for i in range(gh):
                for j in range(gw):
                    assert maps[b, h, i, j] == attention[b, h, 0, 1 + i * gw + j]


def test_cls_attention_rejects_a_wrong_grid():
    with pytest.raises(ValueError, match="needs 1 \\+ 9"):
        cls_attention(torch.rand(1, 2, 5, 5), (3, 3))
    with pytest.raises(ValueError, match="must be \\(B, heads"):
        cls_attention(torch.rand(2, 5, 5), (2, 2))


def _loop_threshold(m: np.ndarray, keep: float) -> np.ndarray:
    flat = m.ravel() / m.sum()
    order = sorted(range(flat.size), key=lambda k: (-flat[k], k))
    out = np.zeros(flat.size, bool)
    mass = 0.0
    for k in order:
        if mass >= keep - 1e-12 or flat[k] == 0:
            break
        out[k] = True
        mass += flat[k]
    return out.reshape(m.shape)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.6, 0.9, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mass_threshold_matches_a_loop(keep, seed):
    maps = _random_maps((3, 4, 5), seed)
    mask = mass_threshold_mask(maps, keep)
    assert mask.shape == maps.shape and mask.dtype == bool
    for m, got in zip(maps, mask, strict=True):
        np.testing.assert_array_equal(got, _loop_threshold(m, keep))
        kept = m[got].sum() / m.sum()
        assert kept >= keep - 1e-9  # at least the mass asked for
        if got.any():  # and minimal: without its smallest kept patch it holds less than keep
            assert kept - m[got].min() / m.sum() < keep + 1e-9


def test_mass_threshold_is_dinos_cumsum_rule():
    # DINO's visualize_attention.py: sort ascending, cumsum of the normalised values,
    # keep where cumsum > 1 - threshold.
    m = _random_maps((6, 6), 5)
    flat = m.ravel() / m.sum()
    idx = np.argsort(flat)
    cum = np.cumsum(flat[idx])
    dino = np.zeros(flat.size, bool)
    dino[idx] = cum > 1 - 0.6
    np.testing.assert_array_equal(mass_threshold_mask(m, 0.6).ravel(), dino)


def test_mass_threshold_errors():
    with pytest.raises(ValueError, match="share of the attention mass"):
        mass_threshold_mask(np.ones((2, 2)), 1.5)
    with pytest.raises(ValueError, match="non-negative"):
        mass_threshold_mask(-np.ones((2, 2)), 0.5)


def _loop_share(m: np.ndarray, fg: np.ndarray) -> float:
    gh, gw = m.shape
    ph, pw = fg.shape[0] // gh, fg.shape[1] // gw
    on = 0.0
    for i in range(fg.shape[0]):
        for j in range(fg.shape[1]):
            if fg[i, j]:
                on += m[i // ph, j // pw] / (ph * pw)
    return on / m.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("grid", "size"), [((2, 3), (4, 9)), ((7, 7), (28, 28))])
def test_foreground_share_matches_a_loop(seed, grid, size):
    rng = np.random.default_rng(seed)
    maps = rng.random((2, *grid))
    fg = rng.random((2, *size)) > 0.6
    got = foreground_share(maps, fg)
    assert got.shape == (2,)
    for b in range(2):
        assert got[b] == pytest.approx(_loop_share(maps[b], fg[b]))


def test_foreground_share_edges():
    maps = np.ones((1, 2, 2))
    assert foreground_share(maps, np.ones((1, 4, 4), bool))[0] == pytest.approx(1.0)
    assert foreground_share(maps, np.zeros((1, 4, 4), bool))[0] == 0.0
    # uniform attention: the share equals the area share
    fg = np.random.default_rng(0).random((1, 4, 4)) > 0.5
    assert foreground_share(maps, fg)[0] == pytest.approx(fg.mean())
    assert np.isnan(foreground_share(np.zeros((2, 2)), np.ones((4, 4), bool)))
    with pytest.raises(ValueError, match="must tile"):
        foreground_share(np.ones((3, 3)), np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="same leading shape"):
        foreground_share(np.ones((2, 3, 3)), np.ones((3, 3, 3), bool))


def test_upsample_nearest_repeats_patches_and_bilinear_is_smooth():
    maps = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    up = upsample(maps, (4, 6))
    np.testing.assert_array_equal(up[0], np.kron(maps[0], np.ones((2, 2))))
    smooth = upsample(maps, (4, 6), mode="bilinear")
    assert smooth.shape == (1, 4, 6) and smooth.min() >= 0 and smooth.max() <= 5
    assert len(np.unique(smooth)) > 6
    with pytest.raises(ValueError, match="mode must be"):
        upsample(maps, (4, 6), mode="cubic")


def test_attention_maps_on_our_vit():
    vit = _tiny_vit()
    x = torch.rand(1, 1, 28, 28)
    maps = attention_maps(vit, x)
    assert maps.heads.shape == (2, 7, 7) and maps.grid == (7, 7) and maps.patch_size == 4
    np.testing.assert_allclose(maps.mean, maps.heads.mean(0), rtol=1e-6)
    # each head's row sums to 1 over CLS and the 49 patches
    np.testing.assert_allclose(maps.heads.sum((1, 2)) + maps.cls_self, 1.0, rtol=1e-5)
    full = vit.get_last_selfattention(x)
    np.testing.assert_allclose(maps.heads[1, 2, 3], full[0, 1, 0, 1 + 2 * 7 + 3].item(),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="one image"):
        attention_maps(vit, torch.rand(2, 1, 28, 28))


def test_attention_maps_reject_a_cnn():
    with pytest.raises(ValueError, match="need a ViT"):
        attention_maps(build_backbone("cnn_small_28"), torch.rand(1, 1, 28, 28))


def test_attention_maps_on_a_transformers_dinov2():
    from transformers import Dinov2Config, Dinov2Model

    from ssl_core.models.hf import HFEncoder

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, mlp_ratio=2, image_size=28,
                                         patch_size=7, attn_implementation="eager"))
    encoder = HFEncoder(model.eval(), image_size=28)
    assert input_geometry(encoder) == (28, 28, 3)
    image = model_input(np.full((40, 60, 3), 128, np.uint8), encoder)
    assert image.shape == (28, 28, 3)
    x = image_to_batch(image)
    maps = attention_maps(encoder, x)
    assert maps.heads.shape == (2, 4, 4) and maps.patch_size == 7
    np.testing.assert_allclose(maps.heads.sum((1, 2)) + maps.cls_self, 1.0, rtol=1e-5)


def test_colourize_and_overlay():
    scale = colourize(np.array([[0.0, 1.0, 2.0, np.nan]]))
    np.testing.assert_array_equal(scale[0, 0], [0, 0, 4])
    np.testing.assert_array_equal(scale[0, 1], [252, 255, 164])
    np.testing.assert_array_equal(scale[0, 2], scale[0, 1])  # clipped
    np.testing.assert_array_equal(scale[0, 3], scale[0, 0])  # NaN -> 0
    image = np.full((8, 8), 200, np.uint8)
    heat = np.array([[0.0, 1.0], [0.5, 0.25]])
    out = overlay(image, heat, alpha=0.0)
    assert out.shape == (8, 8, 3) and (out == 200).all()  # no colour: the image, in RGB
    full = overlay(image, heat, alpha=1.0)
    np.testing.assert_array_equal(full[0, 4], [252, 255, 164])  # the hottest patch
    np.testing.assert_array_equal(full[0, 0], [0, 0, 4])
    masked = overlay(image, heat, alpha=1.0, mask=np.array([[False, True], [False, False]]))
    np.testing.assert_array_equal(masked[0, 4], [252, 255, 164])
    np.testing.assert_array_equal(masked[7, 0], [70, 70, 70])  # outside: darkened image
    with pytest.raises(ValueError, match="alpha must be"):
        overlay(image, heat, alpha=2.0)
    with pytest.raises(ValueError, match="mask must be"):
        overlay(image, heat, mask=np.ones((3, 3), bool))
