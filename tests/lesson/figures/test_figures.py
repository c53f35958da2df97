from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from lesson.figures.infonce import (
    candidate_weights,
    embedding_labels,
    pool_matrix,
    sweep_seed_count,
    sweep_temperatures,
)
from lesson.figures.mae import error_curve, interpolation_error_curve
from lesson.figures.pictures import encode_png, image_grid, upscale_nearest
from lesson.figures.tables import matrix_to_csv, records_to_csv
from lesson.figures.views import crop_box, describe_view, view_record
from ssl_core.augment import ViewConfig, trace_views
from ssl_core.losses.infonce import info_nce_diagnostics
from ssl_core.losses.infonce_sweep import DEFAULT_TAUS, random_pair_bounds, synthetic_pairs
from ssl_core.losses.mae import masked_patch_errors
from ssl_core.masking import make_mask

# --- images -----------------------------------------------------------------------------------


def test_upscale_nearest_repeats_pixels_by_an_integer_factor():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = upscale_nearest(image, min_side=5)  # factor ceil(5 / 2) = 3
    assert out.shape == (6, 9)
    for y in range(6):
        for x in range(9):
            assert out[y, x] == image[y // 3, x // 3]
    big = np.zeros((40, 50, 3), dtype=np.uint8)
    assert upscale_nearest(big, min_side=30) is big
    with pytest.raises(ValueError, match="min_side must be >= 1"):
        upscale_nearest(image, min_side=0)


def test_image_grid_places_each_tile_in_its_cell():
    a = np.full((4, 4), 10, dtype=np.uint8)
    b = np.full((2, 3, 3), 20, dtype=np.uint8)
    c = np.full((3, 2), 30, dtype=np.uint8)
    grid = image_grid([a, b, c], ncols=2, pad=1, fill=255)
    # cells 4 x 4, 2 columns, 2 rows: (2 * 5 + 1, 2 * 5 + 1, 3) since one tile is colour
    assert grid.shape == (11, 11, 3)
    assert (grid[1:5, 1:5] == 10).all()
    assert (grid[1:3, 6:9] == 20).all() and (grid[3:5, 6:10] == 255).all()
    assert (grid[6:9, 1:3] == 30).all()
    assert (grid[6:10, 6:10] == 255).all()  # the empty fourth cell
    assert (grid[0] == 255).all() and (grid[:, 5] == 255).all()
    with pytest.raises(ValueError, match="at least one tile"):
        image_grid([], ncols=2)


def test_encode_png_round_trips():
    image = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(image))))
    np.testing.assert_array_equal(decoded, image)


# --- view parameters --------------------------------------------------------------------------

FULL_PARAMS = {
    "kind": "view",
    "source_size": [100, 200],
    "output_size": [32, 32],
    "crop": {"top": 10, "left": 20, "height": 50, "width": 40},
    "flipped": True,
    "jitter": {"order": ["contrast", "hue"], "brightness": None, "contrast": 0.83,
               "saturation": None, "hue": 0.031},
    "grayscale": True,
    "blur_sigma": 1.23,
    "solarized": True,
}


def test_crop_box_and_description_of_every_stage():
    assert crop_box(FULL_PARAMS) == (20, 10, 60, 60)
    assert describe_view(FULL_PARAMS) == (
        "crop 40x50 at (20, 10) (10% area) · flip · jitter c0.83 h+0.03 · gray · blur σ1.2 · "
        "solarize"
    )
    plain = FULL_PARAMS | {"flipped": False, "jitter": None, "grayscale": False,
                           "blur_sigma": None, "solarized": False}
    assert describe_view(plain) == "crop 40x50 at (20, 10) (10% area) · no colour change"
    assert crop_box(plain | {"crop": None}) is None


def test_view_records_of_traced_views_make_a_csv():
    image = np.random.default_rng(2).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    views = trace_views(image, ViewConfig(size=16, jitter_p=1.0), seed=3, n_views=3)
    records = [view_record(v.params, pipeline="simclr", index=i) for i, v in enumerate(views)]
    rows = list(csv.DictReader(io.StringIO(records_to_csv(records))))
    assert len(rows) == 3
    for row, view in zip(rows, views, strict=True):
        crop = view.params["crop"]
        assert int(row["crop_left"]) == crop["left"] and int(row["crop_width"]) == crop["width"]
        assert row["flipped"] == str(view.params["flipped"])
        assert row["output_h"] == "16"
        assert row["jitter_order"] == " ".join(view.params["jitter"]["order"])
        assert row["blur_sigma"] == ""  # blur is off in this config
    with pytest.raises(ValueError, match="at least one row"):
        records_to_csv([])


def test_records_to_csv_takes_columns_from_every_row():
    # a measured curve leaves out the loss it does not have at step 0
    rows = list(csv.DictReader(io.StringIO(records_to_csv(
        [{"step": 0, "knn": 0.5}, {"step": 10, "knn": 0.7, "loss": 1.25}]))))
    assert rows == [{"step": "0", "knn": "0.5", "loss": ""},
                    {"step": "10", "knn": "0.7", "loss": "1.25"}]


# --- InfoNCE figures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "cols", "max_side"), [(8, 8, 3), (7, 5, 2), (10, 4, 4), (6, 6, 6)]
)
def test_pool_matrix_matches_a_block_loop(rows, cols, max_side):
    matrix = np.random.default_rng(rows * cols).normal(size=(rows, cols))
    pooled, k = pool_matrix(matrix, max_side=max_side)
    assert k == max(1, math.ceil(max(rows, cols) / max_side))
    assert pooled.shape == (math.ceil(rows / k), math.ceil(cols / k))
    assert max(pooled.shape) <= max_side
    for i in range(pooled.shape[0]):
        for j in range(pooled.shape[1]):
            block = matrix[i * k : (i + 1) * k, j * k : (j + 1) * k]
            assert pooled[i, j] == pytest.approx(block.mean())


def test_matrix_to_csv_and_labels():
    assert embedding_labels(2) == ["v1·0", "v1·1", "v2·0", "v2·1"]
    matrix = np.array([[1.0, -0.25], [0.5, 1.0]])
    text = matrix_to_csv(matrix, ["a", "b"], decimals=2)
    assert text == ",a,b\na,1.00,-0.25\nb,0.50,1.00\n"
    with pytest.raises(ValueError, match="square with one label per row"):
        matrix_to_csv(matrix, ["a"])


@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_candidate_weights_against_an_explicit_softmax(tau):
    n, anchor = 6, 4
    z1, z2 = synthetic_pairs(n, 8, noise=0.7, seed=5)
    diag = info_nce_diagnostics(z1, z2, tau, anchor=anchor)
    bars = candidate_weights(diag, top_k=5)

    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1).double()
    sims = (z @ z.T)[anchor]
    candidates = [k for k in range(2 * n) if k != anchor]
    denominator = sum(math.exp(float(sims[k]) / tau) for k in candidates)
    weight = {k: math.exp(float(sims[k]) / tau) / denominator for k in candidates}
    positive = (anchor + n) % (2 * n)
    negatives = [k for k in candidates if k != positive]
    negative_total = sum(weight[k] for k in negatives)
    expected_order = sorted(candidates, key=lambda k: -weight[k])

    assert list(bars.candidate) == expected_order[:5]
    for k, w, s, share in zip(bars.candidate, bars.weight, bars.similarity,
                              bars.negative_share, strict=True):
        assert w == pytest.approx(weight[k], rel=1e-4, abs=1e-7)
        assert s == pytest.approx(float(sims[k]), abs=1e-5)
        if k == positive:
            assert math.isnan(share)
        else:
            assert share == pytest.approx(weight[k] / negative_total, rel=1e-4)
    assert bars.positive_weight == pytest.approx(weight[positive], rel=1e-4)
    assert bars.positive_rank_by_weight == expected_order.index(positive)
    assert bars.rest_weight == pytest.approx(sum(weight[k] for k in expected_order[5:]),
                                             rel=1e-4, abs=1e-7)
    assert bars.hardest_negative_share == pytest.approx(
        max(weight[k] for k in negatives) / negative_total, rel=1e-4)


def test_candidate_weights_needs_an_anchor():
    diag = info_nce_diagnostics(*synthetic_pairs(4, 3, noise=0.1, seed=0), 0.1)
    with pytest.raises(ValueError, match="diag has no anchor"):
        candidate_weights(diag)


def test_negative_share_survives_underflowing_weights():
    # Identical views at a cold temperature: every negative's weight underflows to 0 in float32.
    z1, _ = synthetic_pairs(8, 4, noise=0.0, seed=1)
    diag = info_nce_diagnostics(z1, z1.clone(), 0.005, anchor=0)
    bars = candidate_weights(diag, top_k=15)
    assert bars.positive_weight == pytest.approx(1.0)
    shares = bars.negative_share[~bars.is_positive]
    assert np.isfinite(shares).all() and shares.sum() == pytest.approx(1.0)
    assert list(bars.similarity) == sorted(bars.similarity, reverse=True)


def test_sweep_helpers():
    taus = sweep_temperatures()
    assert set(DEFAULT_TAUS) <= set(taus) and list(taus) == sorted(taus)
    assert taus[0] == pytest.approx(0.02) and taus[-1] == pytest.approx(2.0)
    assert [sweep_seed_count(n) for n in (2, 16, 128, 256, 1024)] == [20, 16, 2, 1, 1]
    low, high = random_pair_bounds(16, 32, 0.1)
    assert low == pytest.approx(math.log(31)) and high == pytest.approx(math.log(31) + 1.5625)
    with pytest.raises(ValueError, match="tau > 0"):
        random_pair_bounds(16, 32, 0.0)


# --- MAE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masked_patch_errors_match_a_loop(seed):
    gen = torch.Generator().manual_seed(seed)
    images, prediction = torch.rand(2, 3, 8, 12, generator=gen), torch.rand(2, 3, 8, 12,
                                                                            generator=gen)
    mask = make_mask("random", 2, 3, 0.5, seed=seed)  # (6,) for 4 px patches
    per_patch, masked = masked_patch_errors(prediction, images, mask, patch_size=4)
    assert per_patch.shape == (2, 6) and masked.shape == (2,)
    for b in range(2):
        hidden = []
        for i in range(6):
            r, c = divmod(i, 3)
            diff = prediction[b, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] - images[
                b, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4]
            assert per_patch[b, i] == pytest.approx(float((diff**2).mean()), rel=1e-5)
            if mask[i]:
                hidden.append(float((diff**2).mean()))
        assert masked[b] == pytest.approx(sum(hidden) / len(hidden), rel=1e-5)
    with pytest.raises(ValueError, match="hides no patch"):
        masked_patch_errors(prediction, images, np.zeros(6, dtype=bool), patch_size=4)


def test_error_curve_known_fills_and_impossible_ratios():
    images = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ratios = (0.9, 0.5, 0.75)  # 2 x 2 patches: 0.9 keeps int(0.4) = 0 visible -> NaN
    perfect = error_curve(images, ratios, patch_size=4, fill=lambda x, m: x.clone(),
                          seeds=(0, 1))
    assert np.isnan(perfect.mean[0]) and np.isnan(perfect.sem[0])
    np.testing.assert_array_equal(perfect.mean[1:], 0.0)
    zeros = error_curve(images, ratios, patch_size=4, fill=lambda x, m: torch.zeros_like(x),
                        seeds=(3, 4, 5))
    for i, ratio in enumerate(ratios[1:], start=1):
        values = []
        for seed in (3, 4, 5):
            mask = make_mask("random", 2, 2, ratio, seed=seed)
            per_patch = (images**2).reshape(2, 4, 2, 4).mean(dim=(1, 3)).reshape(4)  # (L,)
            values.append(float(per_patch[torch.from_numpy(mask)].mean()))
        assert zeros.mean[i] == pytest.approx(np.mean(values), rel=1e-5)
        assert zeros.sem[i] == pytest.approx(np.std(values, ddof=1) / np.sqrt(3), rel=1e-4)
    assert zeros.seeds == (3, 4, 5) and zeros.ratios.tolist() == list(ratios)
    with pytest.raises(ValueError, match="one image"):
        error_curve(torch.rand(2, 1, 8, 8), ratios, patch_size=4, fill=lambda x, m: x)


@pytest.mark.slow
def test_interpolation_curve_is_zero_on_a_constant_image_and_grows_on_noise():
    constant = torch.full((1, 3, 16, 16), 0.3)
    flat = interpolation_error_curve(constant, (0.25, 0.75), patch_size=4, mask_kind="grid")
    np.testing.assert_allclose(flat.mean, 0.0, atol=1e-10)
    assert flat.sem.tolist() == [0.0, 0.0]  # one seed
    ramp = torch.linspace(0, 1, 32).expand(1, 1, 32, 32).contiguous()  # smooth: easy to fill
    noise = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    easy = interpolation_error_curve(ramp, (0.25,), patch_size=4, seeds=(0, 1))
    hard = interpolation_error_curve(noise, (0.25,), patch_size=4, seeds=(0, 1))
    assert easy.mean[0] < 0.01 < hard.mean[0]
