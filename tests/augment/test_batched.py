"""Tests for ssl_core.augment.batched: batched training views against the per-image v2 pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ssl_core.augment import MultiCropConfig, ViewConfig
from ssl_core.augment.batched import BatchViews, CropParams, crop_resize, sample_crops
from ssl_core.data import ArrayImageDataset
from ssl_core.train import StepBatches, batch_view_pipeline, view_pipeline


def images(n: int = 16, c: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, size=(n, c, size, size), dtype=np.uint8))


@pytest.mark.parametrize(("height", "width", "scale", "ratio"), [
    (28, 28, (0.2, 1.0), (3 / 4, 4 / 3)),
    (28, 28, (0.05, 0.4), (3 / 4, 4 / 3)),
    (20, 36, (0.08, 1.0), (0.5, 2.0)),
])
def test_crop_boxes_follow_random_resized_crop(height, width, scale, ratio) -> None:
    """Box area, height and offsets: same distributions as v2's own make_params (KS test)."""
    n = 4000
    torch.manual_seed(0)
    reference = v2.RandomResizedCrop(8, scale=scale, ratio=ratio)
    ref = [reference.make_params([torch.zeros(1, height, width)]) for _ in range(n)]
    ours = sample_crops(n, height=height, width=width, scale=scale, ratio=ratio,
                        generator=torch.Generator().manual_seed(1))
    for key, mine in (("height", ours.height), ("width", ours.width), ("top", ours.top),
                      ("left", ours.left)):
        theirs = np.array([p[key] for p in ref])
        assert ks_2samp(theirs, mine.numpy()).pvalue > 1e-3, key
    assert (ours.top + ours.height <= height).all() and (ours.left + ours.width <= width).all()
    assert (ours.height >= 1).all() and (ours.width >= 1).all()


def test_crop_fallback_is_torchvisions_central_crop() -> None:
    """No try fits a 10 x 40 image at scale >= 0.9 with ratio <= 4/3: the central box."""
    crops = sample_crops(50, height=10, width=40, scale=(0.9, 1.0), ratio=(3 / 4, 4 / 3),
                         generator=torch.Generator().manual_seed(0))
    params = v2.RandomResizedCrop(8, scale=(0.9, 1.0)).make_params([torch.zeros(1, 10, 40)])
    assert set(crops.height.tolist()) == {params["height"]}
    assert set(crops.width.tolist()) == {params["width"]}
    assert set(crops.left.tolist()) == {params["left"]}


def test_enlarging_crop_equals_bilinear_resize() -> None:
    """roi_align samples where a bilinear resize of the crop does. Inside the crop the pixels are
    equal; within half a source pixel of its edge a resize clamps to the crop while roi_align reads
    the real neighbour outside it, so the two outer output pixels are left out here."""
    x = images(4).float() / 255
    crops = CropParams(top=torch.tensor([0, 3, 5, 10]), left=torch.tensor([2, 0, 7, 1]),
                       height=torch.tensor([14, 20, 9, 18]), width=torch.tensor([14, 16, 12, 27]))
    ours = crop_resize(x, crops, 28)
    for b in range(4):
        t, left, h, w = (int(v[b]) for v in (crops.top, crops.left, crops.height, crops.width))
        theirs = F.resize(x[b, :, t:t + h, left:left + w], [28, 28], antialias=False)
        assert torch.allclose(ours[b, :, 2:-2, 2:-2], theirs[:, 2:-2, 2:-2], atol=1e-5)
        assert (ours[b] - theirs).abs().mean() < 0.05


def test_shrinking_crop_antialiases() -> None:
    """A shrinking crop averages several samples per output pixel: on noise it lands far closer to
    v2's antialiased resize than a plain bilinear resize (which aliases) does."""
    x = images(2, size=64).float() / 255
    crops = CropParams(top=torch.tensor([0, 8]), left=torch.tensor([0, 4]),
                       height=torch.tensor([64, 48]), width=torch.tensor([64, 56]))
    ours = crop_resize(x, crops, 16)
    for b in range(2):
        t, left, h, w = (int(v[b]) for v in (crops.top, crops.left, crops.height, crops.width))
        crop = x[b, :, t:t + h, left:left + w]
        smooth = F.resize(crop, [16, 16], antialias=True)
        aliased = F.resize(crop, [16, 16], antialias=False)
        assert (ours[b] - smooth).abs().mean() < 0.5 * (aliased - smooth).abs().mean()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("op", ["brightness", "contrast", "saturation", "hue"])
def test_colour_ops_equal_torchvision_per_image(op: str, channels: int) -> None:
    x = images(6, c=channels).float() / 255
    factors = torch.linspace(0.6, 1.4, 6) if op != "hue" else torch.linspace(-0.1, 0.1, 6)
    view = BatchViews([ViewConfig(size=28)]).views[0]
    if channels == 1 and op in ("saturation", "hue"):
        return  # never applied to gray images (as v2 leaves them unchanged)
    ours = view._colour(op, x.clone(), factors)
    kernel = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast,
              "saturation": F.adjust_saturation, "hue": F.adjust_hue}[op]
    for b in range(6):
        assert torch.allclose(ours[b], kernel(x[b], float(factors[b])), atol=1e-5), (op, b)


def test_blur_equals_torchvision_per_image() -> None:
    from ssl_core.augment.batched import _gaussian_blur

    x = images(4, c=3, size=32).float() / 255
    sigma = torch.tensor([0.3, 0.8, 1.5, 2.0], dtype=torch.float64)
    ours = _gaussian_blur(x, 5, sigma)
    for b in range(4):
        theirs = F.gaussian_blur(x[b], [5, 5], [float(sigma[b])] * 2)
        assert torch.allclose(ours[b], theirs, atol=1e-5)


def test_coin_rates_follow_the_config() -> None:
    """Flip, jitter and solarize happen at their configured rates (1-channel, big batch)."""
    cfg = ViewConfig(size=28, hflip_p=0.5, jitter_p=0.0, solarize_p=0.3, scale=(1.0, 1.0),
                     ratio=(1.0, 1.0))
    x = torch.arange(28, dtype=torch.uint8).repeat(2000, 1, 28, 1) * 9  # left-to-right ramp
    out = BatchViews([cfg])(x, generator=torch.Generator().manual_seed(0))
    flipped = out[:, 0, 0, 0] > out[:, 0, 0, -1]
    assert 0.45 < flipped.float().mean() < 0.55
    solarized = (out[:, 0, 0] > 0.5).sum(dim=1) == 0  # a solarized ramp never exceeds 0.5
    assert 0.25 < solarized.float().mean() < 0.35


def test_views_have_each_methods_shapes() -> None:
    x = images(8)
    g = torch.Generator().manual_seed(0)
    simclr = batch_view_pipeline("simclr", size=28)(x, generator=g)
    assert isinstance(simclr, tuple) and [v.shape for v in simclr] == [(8, 1, 28, 28)] * 2
    dino = BatchViews.multi_crop(MultiCropConfig(n_local=3))(x, generator=g)
    assert isinstance(dino, list)
    assert [tuple(v.shape) for v in dino] == [(8, 1, 28, 28)] * 2 + [(8, 1, 12, 12)] * 3
    mae = batch_view_pipeline("mae", size=28)(x, generator=g)
    assert mae.shape == (8, 1, 28, 28) and 0 <= mae.min() and mae.max() <= 1


def test_views_never_touch_the_global_rng() -> None:
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    batch_view_pipeline("dino", size=28)(images(4), generator=torch.Generator().manual_seed(0))
    assert torch.equal(before, torch.random.get_rng_state())


def test_bad_batches_are_refused() -> None:
    with pytest.raises(ValueError, match="uint8 batch"):
        BatchViews([ViewConfig(size=28)])(torch.zeros(2, 1, 28, 28),
                                          generator=torch.Generator())
    with pytest.raises(ValueError, match="at least one"):
        BatchViews([])


def dataset(n: int = 48) -> ArrayImageDataset:
    rng = np.random.default_rng(0)
    return ArrayImageDataset(rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
                             rng.integers(0, 10, size=n), [str(i) for i in range(10)])


def step_batches(**kwargs) -> StepBatches:
    args = dict(seed=1, batch_size=8) | kwargs
    return StepBatches(dataset(), view_pipeline("simclr", size=28),
                       batch_views=batch_view_pipeline("simclr", size=28), **args)


def test_step_batches_take_the_batched_path_and_stay_a_function_of_the_step() -> None:
    a, b = step_batches(), step_batches()
    assert a._array is not None
    for step in (4, 0, 4):
        assert all(torch.equal(x, y) for x, y in zip(a[step], b[step], strict=True))
    assert not torch.equal(a[0][0], a[1][0])
    assert not torch.equal(a[0][0], step_batches(seed=2)[0][0])


def test_batched_ranks_split_the_global_batch_of_one_process() -> None:
    whole = step_batches()[3]
    parts = [step_batches(batch_size=4, world_size=2, rank=r)[3] for r in range(2)]
    for v in range(2):
        assert torch.equal(torch.cat([parts[0][v], parts[1][v]]), whole[v])


def test_batched_path_uses_the_epochs_images() -> None:
    """Unaugmented views (full crop, no flip, no jitter) are exactly the batch's images."""
    identity = BatchViews([ViewConfig(size=28, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip_p=0.0,
                                      jitter_p=0.0)])
    data = dataset()
    batches = StepBatches(data, view_pipeline("mae", size=28), seed=0, batch_size=8,
                          batch_views=identity)
    expected = torch.from_numpy(data.images[batches.global_indices(2).numpy()])[:, None] / 255
    assert torch.allclose(batches[2], expected.float(), atol=1e-6)
