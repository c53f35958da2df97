"""Tests for ssl_core.masking: patches, per-sample masks, structured masks, interpolation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssl_core.masking import (
    MASK_KINDS,
    MaskResult,
    biharmonic_masked,
    block_mask,
    gather_visible,
    grid_mask,
    interpolate_masked,
    make_mask,
    mask_to_image,
    num_visible,
    patchify,
    random_mask_indices,
    random_masking,
    restore_sequence,
    unpatchify,
)

# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------


def loop_patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """Element by element: out[b, i*w + j, (u*p + v)*C + c] = images[b, c, i*p + u, j*p + v]."""
    b_size, channels, height, width = images.shape
    grid_h, grid_w = height // p, width // p
    out = torch.empty(b_size, grid_h * grid_w, p * p * channels, dtype=images.dtype)
    for b in range(b_size):
        for i in range(grid_h):
            for j in range(grid_w):
                for u in range(p):
                    for v in range(p):
                        for c in range(channels):
                            value = images[b, c, i * p + u, j * p + v]
                            out[b, i * grid_w + j, (u * p + v) * channels + c] = value
    return out


def mae_patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """facebookresearch/mae models_mae.py patchify (3 channels hard-coded there)."""
    h = w = imgs.shape[2] // p
    x = imgs.reshape(shape=(imgs.shape[0], 3, h, p, w, p))
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(shape=(imgs.shape[0], h * w, p**2 * 3))


def mae_random_masking(noise: torch.Tensor, mask_ratio: float):
    """facebookresearch/mae models_mae.py random_masking, given its noise."""
    n, length = noise.shape
    len_keep = int(length * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    mask = torch.ones([n, length])
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)
    return ids_keep, mask, ids_restore


def components(masked: np.ndarray, grid_h: int, grid_w: int) -> int:
    """Number of 4-connected components of True cells."""
    cells = {(int(k) // grid_w, int(k) % grid_w) for k in np.flatnonzero(masked)}
    seen: set[tuple[int, int]] = set()
    count = 0
    for start in cells:
        if start in seen:
            continue
        count += 1
        stack = [start]
        while stack:
            r, c = stack.pop()
            if (r, c) in seen:
                continue
            seen.add((r, c))
            for nb in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if nb in cells and nb not in seen:
                    stack.append(nb)
    return count


# --------------------------------------------------------------------------------------------
# patchify / unpatchify
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize(("p", "height", "width"), [(2, 4, 4), (4, 8, 12), (7, 14, 21), (3, 9, 6)])
def test_patchify_matches_loop_reference(channels: int, p: int, height: int, width: int) -> None:
    gen = torch.Generator().manual_seed(channels * 100 + p)
    images = torch.randn(2, channels, height, width, generator=gen)
    patches = patchify(images, p)
    assert patches.shape == (2, (height // p) * (width // p), p * p * channels)
    assert torch.equal(patches, loop_patchify(images, p))


def test_patchify_matches_mae_for_rgb() -> None:
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(patchify(images, 8), mae_patchify(images, 8))


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize(("p", "height", "width"), [(2, 4, 6), (4, 16, 8), (16, 32, 48)])
def test_unpatchify_round_trip_is_exact(channels: int, p: int, height: int, width: int) -> None:
    images = torch.randn(3, channels, height, width, generator=torch.Generator().manual_seed(1))
    patches = patchify(images, p)
    grid = (height // p, width // p)
    assert torch.equal(unpatchify(patches, patch_size=p, channels=channels, grid=grid), images)
    assert torch.equal(unpatchify(patches, patch_size=p, image_size=(height, width)), images)
    # and the other way round
    assert torch.equal(patchify(unpatchify(patches, patch_size=p, grid=grid), p), patches)


def test_unpatchify_defaults_to_square_grid_and_inferred_channels() -> None:
    images = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    assert torch.equal(unpatchify(patchify(images, 7), patch_size=7), images)


def test_patchify_works_on_numpy() -> None:
    images = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    patches = patchify(images, 2)
    assert isinstance(patches, np.ndarray)
    np.testing.assert_array_equal(patches, loop_patchify(torch.from_numpy(images), 2).numpy())
    np.testing.assert_array_equal(unpatchify(patches, patch_size=2, channels=3), images)


def test_patchify_names_nearest_valid_sizes() -> None:
    with pytest.raises(
        ValueError, match=r"30x28 .* multiples of 16.*H in \[16, 32\].*W in \[16, 32\]"
    ):
        patchify(torch.zeros(1, 3, 30, 28), 16)
    with pytest.raises(ValueError, match=r"H in \[16\] and W in \[16\]"):
        patchify(torch.zeros(1, 1, 10, 12), 16)


def test_patchify_rejects_wrong_rank_and_patch_size() -> None:
    with pytest.raises(ValueError, match=r"\(B, C, H, W\).*images\[None\]"):
        patchify(torch.zeros(3, 8, 8), 4)
    with pytest.raises(ValueError, match="patch_size must be a positive int"):
        patchify(torch.zeros(1, 3, 8, 8), 0)


def test_unpatchify_rejects_inconsistent_arguments() -> None:
    patches = torch.zeros(1, 4, 2 * 2 * 3)
    with pytest.raises(ValueError, match="channels=1 does not match .* pass channels=3"):
        unpatchify(patches, patch_size=2, channels=1)
    with pytest.raises(ValueError, match=r"not p\*p\*C for patch_size=3"):
        unpatchify(patches, patch_size=3)
    with pytest.raises(ValueError, match=r"grid=\(3, 2\) does not hold 4 patches"):
        unpatchify(patches, patch_size=2, grid=(3, 2))
    with pytest.raises(ValueError, match="not both"):
        unpatchify(patches, patch_size=2, grid=(2, 2), image_size=(4, 4))
    with pytest.raises(ValueError, match="do not form a square grid"):
        unpatchify(torch.zeros(1, 6, 12), patch_size=2)


# --------------------------------------------------------------------------------------------
# counts and the lesson's random_mask_indices
# --------------------------------------------------------------------------------------------


def test_random_mask_indices_196_at_075() -> None:
    visible, masked = random_mask_indices(196, 0.75, seed=0)
    assert (len(visible), len(masked)) == (49, 147)
    assert visible.dtype == np.int64 and masked.dtype == np.int64
    assert not set(visible) & set(masked)
    np.testing.assert_array_equal(np.sort(np.concatenate([visible, masked])), np.arange(196))
    assert np.all(np.diff(visible) > 0) and np.all(np.diff(masked) > 0)


def test_random_mask_indices_deterministic_per_seed() -> None:
    first = random_mask_indices(196, 0.75, seed=3)
    again = random_mask_indices(196, 0.75, seed=3)
    other = random_mask_indices(196, 0.75, seed=4)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_lesson_rule_rounds_masked_down_mae_rule_rounds_up() -> None:
    # 16 * 0.3 = 4.8: the lesson masks floor(4.8) = 4, MAE keeps floor(11.2) = 11 so masks 5
    _, masked = random_mask_indices(16, 0.3, seed=0)
    assert len(masked) == 4
    assert 16 - num_visible(16, 0.3) == 5
    # they agree when L * r is whole
    assert len(random_mask_indices(196, 0.75)[1]) == 196 - num_visible(196, 0.75) == 147


def test_counts_forgive_float_noise() -> None:
    assert int(10 * (1 - 0.9)) == 0  # the plain rule drops the last patch
    assert num_visible(10, 0.9) == 1
    assert len(random_mask_indices(100, 0.29)[1]) == 29  # int(100 * 0.29) == 28


@pytest.mark.parametrize(
    ("ratio", "match"),
    [
        (0.0, r"must be in \(0, 1\).*got 0.0"),
        (1.0, r"must be in \(0, 1\).*got 1.0"),
        (-0.1, r"must be in \(0, 1\).*got -0.1"),
        (1.5, r"must be in \(0, 1\).*got 1.5"),
        (float("nan"), "finite.*got nan"),
        (float("inf"), "finite.*got inf"),
        ("0.5", "must be a number"),
    ],
)
def test_bad_ratios_raise_everywhere(ratio: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        num_visible(16, ratio)
    with pytest.raises(ValueError, match=match):
        random_masking(2, 16, ratio, seed=0)
    with pytest.raises(ValueError, match=match):
        random_mask_indices(16, ratio)
    for kind in MASK_KINDS:
        with pytest.raises(ValueError, match=match):
            make_mask(kind, 4, 4, ratio)


def test_ratio_leaving_no_visible_patch_says_the_limit() -> None:
    message = (
        r"mask_ratio=0.999 leaves no visible patch for 16 patches "
        r"\(keeps int\(16\*\(1-0.999\)\)=0\); use at most 0.9375"
    )
    with pytest.raises(ValueError, match=message):
        random_masking(2, 16, 0.999, seed=0)
    assert len(random_mask_indices(16, 0.999)[0]) == 1  # the lesson rounds masked down
    assert random_masking(2, 16, 0.9375, seed=0).n_keep == 1  # the suggested limit works
    for length in (7, 196, 197):  # the suggested limit is rounded the safe way and works
        with pytest.raises(ValueError, match="use at most") as info:
            num_visible(length, 0.99999)
        limit = float(str(info.value).split("use at most ")[1])
        assert num_visible(length, limit) == 1


def test_tiny_ratio_masks_one_patch_under_mae_rule_but_none_under_lesson_rule() -> None:
    assert random_masking(1, 16, 0.01, seed=0).n_mask == 1  # floor(15.84) = 15 kept
    with pytest.raises(ValueError, match=r"no masked patch for 16 patches .* at least 0.0625"):
        random_mask_indices(16, 0.01)
    assert len(random_mask_indices(16, 0.0625)[1]) == 1
    with pytest.raises(ValueError, match=r"no masked patch for 16 patches .*keeps.*=16"):
        random_masking(1, 16, 1e-12, seed=0)


def test_too_few_patches_raise() -> None:
    with pytest.raises(ValueError, match="at least 2 patches"):
        random_masking(1, 1, 0.5)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        random_masking(0, 16, 0.5)


# --------------------------------------------------------------------------------------------
# random_masking, gather_visible, restore_sequence
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("batch", "length", "ratio"), [(4, 196, 0.75), (3, 16, 0.5), (2, 49, 0.9)])
def test_random_masking_structure(batch: int, length: int, ratio: float) -> None:
    result = random_masking(batch, length, ratio, seed=0)
    n_keep = num_visible(length, ratio)
    assert result.n_keep == n_keep and result.n_mask == length - n_keep
    assert result.num_patches == length
    assert result.ids_keep.shape == (batch, n_keep) and result.ids_keep.dtype == torch.long
    assert result.mask.shape == (batch, length) and result.mask.dtype == torch.float32
    assert result.ids_restore.shape == (batch, length) and result.ids_restore.dtype == torch.long
    assert torch.equal(result.mask.sum(dim=1), torch.full((batch,), float(length - n_keep)))
    for b in range(batch):
        keep = result.ids_keep[b].tolist()
        assert len(set(keep)) == n_keep
        assert set(keep) == set(torch.nonzero(result.mask[b] == 0).flatten().tolist())
        # ids_restore is a permutation whose inverse starts with ids_keep
        assert sorted(result.ids_restore[b].tolist()) == list(range(length))
        ids_shuffle = torch.argsort(result.ids_restore[b])
        assert torch.equal(ids_shuffle[:n_keep], result.ids_keep[b])
        assert torch.equal(ids_shuffle[result.ids_restore[b]], torch.arange(length))


def test_random_masking_matches_mae_given_the_same_noise() -> None:
    ours = random_masking(3, 49, 0.75, generator=torch.Generator().manual_seed(7))
    noise = torch.rand(3, 49, generator=torch.Generator().manual_seed(7))
    ids_keep, mask, ids_restore = mae_random_masking(noise, 0.75)
    assert torch.equal(ours.ids_keep, ids_keep)
    assert torch.equal(ours.mask, mask)
    assert torch.equal(ours.ids_restore, ids_restore)


def test_random_masking_differs_across_the_batch() -> None:
    mask = random_masking(8, 196, 0.75, seed=0).mask
    assert len({tuple(row.tolist()) for row in mask}) == 8


def test_random_masking_is_deterministic_with_seed_or_generator() -> None:
    a = random_masking(4, 64, 0.75, seed=11)
    b = random_masking(4, 64, 0.75, seed=11)
    c = random_masking(4, 64, 0.75, seed=12)
    assert torch.equal(a.ids_keep, b.ids_keep) and torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, c.mask)
    assert torch.equal(random_masking(4, 64, 0.75, generator=11).mask, a.mask)  # int = seed
    gen1, gen2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    first1, first2 = random_masking(4, 64, generator=gen1), random_masking(4, 64, generator=gen2)
    assert torch.equal(first1.mask, first2.mask)
    second1 = random_masking(4, 64, generator=gen1)  # the generator advances
    assert not torch.equal(first1.mask, second1.mask)
    with pytest.raises(ValueError, match="not both"):
        random_masking(4, 64, generator=gen1, seed=1)


def test_random_masking_uses_global_rng_without_seed() -> None:
    torch.manual_seed(0)
    a = random_masking(2, 64).mask
    torch.manual_seed(0)
    assert torch.equal(random_masking(2, 64).mask, a)


def test_random_masking_device_argument() -> None:
    result = random_masking(2, 16, 0.5, seed=0, device="cpu")
    assert result.mask.device.type == "cpu" and result.ids_keep.device.type == "cpu"


def test_gather_then_restore_recovers_visible_tokens_in_place() -> None:
    batch, length, dim = 3, 16, 5
    tokens = torch.randn(batch, length, dim, generator=torch.Generator().manual_seed(0))
    result = random_masking(batch, length, 0.75, seed=1)
    visible = gather_visible(tokens, result.ids_keep)
    assert visible.shape == (batch, result.n_keep, dim)
    for b in range(batch):
        for k, idx in enumerate(result.ids_keep[b].tolist()):
            assert torch.equal(visible[b, k], tokens[b, idx])
    filler = torch.full((batch, result.n_mask, dim), -7.0)
    restored = restore_sequence(torch.cat([visible, filler], dim=1), result.ids_restore)
    assert restored.shape == (batch, length, dim)
    is_masked = result.mask.bool()
    assert torch.equal(restored[~is_masked], tokens[~is_masked])
    assert torch.all(restored[is_masked] == -7.0)


def test_restore_sequence_appends_mask_token_and_passes_gradient() -> None:
    batch, length, dim = 2, 9, 4
    result = random_masking(batch, length, 0.67, seed=0)
    visible = torch.randn(batch, result.n_keep, dim)
    mask_token = torch.zeros(dim, requires_grad=True)
    restored = restore_sequence(visible, result.ids_restore, mask_token=mask_token)
    manual = restore_sequence(
        torch.cat([visible, mask_token.detach().expand(batch, result.n_mask, dim)], dim=1),
        result.ids_restore,
    )
    assert torch.equal(restored.detach(), manual)
    restored.sum().backward()
    assert torch.equal(mask_token.grad, torch.full((dim,), float(batch * result.n_mask)))


def test_gather_and_restore_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"tokens \(B, L, D\) and ids_keep"):
        gather_visible(torch.zeros(2, 16), torch.zeros(2, 4, dtype=torch.long))
    ids_restore = torch.arange(16).expand(2, 16)
    with pytest.raises(ValueError, match="append the mask tokens first"):
        restore_sequence(torch.zeros(2, 4, 3), ids_restore)
    with pytest.raises(ValueError, match="mask_token must hold 3 values"):
        restore_sequence(torch.zeros(2, 4, 3), ids_restore, mask_token=torch.zeros(4))


# --------------------------------------------------------------------------------------------
# MaskResult.from_bool
# --------------------------------------------------------------------------------------------


def test_from_bool_round_trips_a_random_mask() -> None:
    original = random_masking(4, 25, 0.6, seed=3)
    converted = MaskResult.from_bool(original.mask.bool())
    assert torch.equal(converted.mask, original.mask)
    assert converted.n_keep == original.n_keep
    # same visible set, kept in ascending order
    assert torch.equal(converted.ids_keep, torch.sort(original.ids_keep, dim=1).values)
    tokens = torch.randn(4, 25, 3)
    a = gather_visible(tokens, converted.ids_keep)
    full = torch.cat([a, torch.zeros(4, converted.n_mask, 3)], dim=1)
    restored = restore_sequence(full, converted.ids_restore)
    keep = ~converted.mask.bool()
    assert torch.equal(restored[keep], tokens[keep])


def test_from_bool_accepts_numpy_1d() -> None:
    result = MaskResult.from_bool(np.array([True, False, True, False]))
    assert result.ids_keep.tolist() == [[1, 3]]
    assert result.mask.tolist() == [[1.0, 0.0, 1.0, 0.0]]


def test_from_bool_rejects_ragged_or_degenerate_masks() -> None:
    with pytest.raises(ValueError, match="same number of patches"):
        MaskResult.from_bool(torch.tensor([[True, False, False], [True, True, False]]))
    with pytest.raises(ValueError, match="hides 3 of 3"):
        MaskResult.from_bool(torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="hides 0 of 3"):
        MaskResult.from_bool(torch.zeros(3, dtype=torch.bool))


def test_mask_result_is_frozen_and_checks_shapes() -> None:
    result = random_masking(1, 4, 0.5, seed=0)
    with pytest.raises(AttributeError):
        result.mask = torch.zeros(1, 4)  # type: ignore[misc]
    with pytest.raises(ValueError, match="shapes disagree"):
        MaskResult(ids_keep=result.ids_keep, mask=torch.zeros(1, 5), ids_restore=result.ids_restore)


# --------------------------------------------------------------------------------------------
# structured masks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid_h", "grid_w", "ratio"),
    [(14, 14, 0.75), (14, 14, 0.4), (4, 4, 0.9375), (7, 3, 0.5), (2, 9, 0.2), (1, 5, 0.6)],
)
def test_block_mask_exact_count_and_one_block(grid_h: int, grid_w: int, ratio: float) -> None:
    length = grid_h * grid_w
    for seed in range(5):
        masked = block_mask(grid_h, grid_w, ratio, seed=seed)
        assert masked.shape == (length,) and masked.dtype == bool
        assert masked.sum() == length - num_visible(length, ratio)
        assert components(masked, grid_h, grid_w) == 1
        # rows of the block are full except the last, which starts at the block's left edge
        rows, cols = np.nonzero(masked.reshape(grid_h, grid_w))
        width = cols.max() - cols.min() + 1
        assert (rows.max() - rows.min() + 1) == math.ceil(masked.sum() / width)


def test_block_mask_deterministic_per_seed_and_moves_with_seed() -> None:
    np.testing.assert_array_equal(block_mask(14, 14, 0.3, seed=1), block_mask(14, 14, 0.3, seed=1))
    placements = {tuple(np.flatnonzero(block_mask(14, 14, 0.3, seed=s))) for s in range(10)}
    assert len(placements) > 1


@pytest.mark.parametrize(
    ("grid_h", "grid_w", "ratio", "expected"),
    [
        (14, 14, 0.75, 147),  # keep one of each 2x2: matches the rule exactly
        (12, 12, 8 / 9, 128),  # keep one of each 3x3, 3 divides 12: matches
        (14, 14, 0.5, 98),  # checkerboard
        (14, 14, 0.25, 49),  # mask one of each 2x2
        (14, 14, 0.9, 171),  # s = 3 does not divide 14: 196 - 5 * 5, rule would say 177
        (7, 7, 0.75, 33),  # 49 - 4 * 4, rule would say 37
        (5, 5, 0.5, 12),  # checkerboard floor(25 / 2), rule would say 13
    ],
)
def test_grid_mask_counts(grid_h: int, grid_w: int, ratio: float, expected: int) -> None:
    masked = grid_mask(grid_h, grid_w, ratio)
    assert masked.shape == (grid_h * grid_w,) and masked.dtype == bool
    assert masked.sum() == expected


def test_grid_mask_patterns_are_regular() -> None:
    keep_one = grid_mask(6, 6, 0.75).reshape(6, 6)
    rows, cols = np.nonzero(~keep_one)
    assert set(rows.tolist()) == {0, 2, 4} and set(cols.tolist()) == {0, 2, 4}
    checker = grid_mask(4, 4, 0.5).reshape(4, 4)
    assert not checker[0, 0] and checker[0, 1] and checker[1, 0] and not checker[1, 1]
    mask_one = grid_mask(6, 6, 0.1).reshape(6, 6)  # nearest nominal 1/9
    assert np.flatnonzero(mask_one.reshape(-1)).tolist() == [0, 3, 18, 21]


def test_grid_mask_rounds_to_nearest_pattern_ties_upward() -> None:
    assert grid_mask(12, 12, 0.6).sum() == 72  # 0.5 is nearer than 0.75
    assert grid_mask(12, 12, 0.625).sum() == 108  # tie between 0.5 and 0.75: 0.75


def test_grid_mask_too_small_grid_raises() -> None:
    with pytest.raises(ValueError, match="at least 2 patches"):
        grid_mask(1, 1, 0.5)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_make_mask_dispatches_and_feeds_the_encoder(kind: str) -> None:
    masked = make_mask(kind, 14, 14, 0.75, seed=2)
    assert masked.shape == (196,) and masked.dtype == bool
    assert masked.sum() == 147  # every kind meets the rule at 0.75 on 14 x 14
    result = MaskResult.from_bool(masked)
    tokens = torch.randn(1, 196, 8)
    assert gather_visible(tokens, result.ids_keep).shape == (1, 49, 8)


def test_make_mask_random_is_random_masking_row() -> None:
    expected = random_masking(1, 64, 0.6, seed=9).mask[0].bool().numpy()
    np.testing.assert_array_equal(make_mask("random", 8, 8, 0.6, seed=9), expected)
    np.testing.assert_array_equal(
        make_mask("block", 8, 8, 0.6, seed=9), block_mask(8, 8, 0.6, seed=9)
    )


def test_make_mask_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown mask kind 'blocks'; choose one of random"):
        make_mask("blocks", 4, 4, 0.5)


# --------------------------------------------------------------------------------------------
# mask_to_image
# --------------------------------------------------------------------------------------------


def test_mask_to_image_matches_loop() -> None:
    masked = make_mask("random", 3, 4, 0.5, seed=0)
    pixels = mask_to_image(masked, 5, (3, 4))
    assert pixels.shape == (15, 20) and pixels.dtype == bool
    for y in range(15):
        for x in range(20):
            assert pixels[y, x] == masked[(y // 5) * 4 + x // 5]


def test_mask_to_image_batched_torch_and_square_default() -> None:
    mask = random_masking(2, 16, 0.5, seed=0).mask
    pixels = mask_to_image(mask, 2)
    assert isinstance(pixels, torch.Tensor) and pixels.shape == (2, 8, 8)
    assert torch.equal(pixels[:, ::2, ::2].reshape(2, 16), mask)
    with pytest.raises(ValueError, match="square grid"):
        mask_to_image(torch.zeros(12), 2)


# --------------------------------------------------------------------------------------------
# interpolate_masked
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", [interpolate_masked, biharmonic_masked])
def test_classical_fills_leave_visible_pixels_untouched_and_stay_in_range(fill) -> None:
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    mask = random_masking(2, 16, 0.75, seed=0).mask
    out = fill(images, mask, 4)
    visible = ~mask_to_image(mask.bool(), 4, (4, 4))[:, None].expand_as(images)
    assert torch.equal(out[visible], images[visible])
    assert not torch.allclose(out[~visible], images[~visible], atol=1e-3)  # masked ones refilled
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_interpolation_keeps_constant_image_constant() -> None:
    images = torch.full((1, 3, 16, 24), 0.37)
    images[:, 1] = -2.0  # a different constant per channel
    for kind in MASK_KINDS:
        out = interpolate_masked(images, make_mask(kind, 4, 6, 0.75, seed=1), 4)
        torch.testing.assert_close(out, images, atol=1e-6, rtol=0)


def test_interpolation_rebuilds_a_linear_ramp_across_an_interior_hole() -> None:
    rows = torch.arange(32.0)[:, None]
    cols = torch.arange(32.0)[None]
    images = (0.1 * rows + 0.05 * cols).expand(1, 2, 32, 32).clone()
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True  # a 16 x 16 pixel hole away from the border
    out = interpolate_masked(images, mask.reshape(64), 4)
    torch.testing.assert_close(out, images, atol=2e-3, rtol=0)
    # with no relaxation the hole is only filled coarsely, so the fine steps are doing the work
    coarse = interpolate_masked(images, mask.reshape(64), 4, iterations=0)
    assert (coarse - images).abs().max() > 0.1


def test_interpolation_stays_within_visible_range() -> None:
    images = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    mask = random_masking(3, 49, 0.75, seed=4).mask
    out = interpolate_masked(images, mask.numpy(), 4)
    for b in range(3):
        visible = ~mask_to_image(mask[b].bool(), 4)
        low, high = images[b, 0][visible].min(), images[b, 0][visible].max()
        assert out[b].min() >= low - 1e-6 and out[b].max() <= high + 1e-6


def test_interpolation_is_deterministic_and_shared_mask_broadcasts() -> None:
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    shared = make_mask("block", 4, 4, 0.5, seed=0)
    out = interpolate_masked(images, shared, 4)
    assert torch.equal(out, interpolate_masked(images, torch.from_numpy(shared).expand(2, 16), 4))
    assert torch.equal(out, interpolate_masked(images, shared, 4))


@pytest.mark.parametrize("fill", [interpolate_masked, biharmonic_masked])
def test_classical_fills_reject_bad_inputs(fill) -> None:
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="at least one visible patch"):
        fill(images, torch.ones(16), 4)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 16\) or \(16,\)"):
        fill(images, torch.zeros(2, 9), 4)
    with pytest.raises(ValueError, match="float tensor"):
        fill(torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.zeros(16), 4)
    with pytest.raises(ValueError, match="multiples of 5"):
        fill(images, torch.zeros(16), 5)


# --------------------------------------------------------------------------------------------
# biharmonic_masked (scikit-image's inpaint_biharmonic)
# --------------------------------------------------------------------------------------------


def test_biharmonic_rebuilds_a_ramp_exactly_and_a_bowl_better_than_interpolation() -> None:
    coords = (torch.arange(32.0) - 15.5) / 32
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True  # a 16 x 16 pixel hole away from the border
    ramp = (0.5 + 0.3 * coords[:, None] + 0.2 * coords[None]).expand(1, 1, 32, 32).clone()
    torch.testing.assert_close(biharmonic_masked(ramp, mask.reshape(64), 4), ramp, atol=1e-5,
                               rtol=0)
    # x^2 + y^2 is not harmonic (its Laplacian is constant, not 0): the harmonic fill sags in
    # the hole, the biharmonic one follows the curvature it sees at the hole's edge more closely
    bowl = (0.2 + coords[:, None] ** 2 + coords[None] ** 2).expand(1, 1, 32, 32).clone()
    bi = (biharmonic_masked(bowl, mask.reshape(64), 4) - bowl).abs().mean()
    harmonic = (interpolate_masked(bowl, mask.reshape(64), 4) - bowl).abs().mean()
    assert bi < 0.8 * harmonic
