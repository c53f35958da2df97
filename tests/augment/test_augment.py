"""Tests for ssl_core.augment: view pipelines, seeded sampling and traced parameters."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ssl_core.augment import (
    MultiCrop,
    MultiCropConfig,
    TwoViewDataset,
    ViewConfig,
    byol_views,
    mae_train,
    multi_crop,
    sample_views,
    to_image_tensor,
    trace_views,
    two_view_train,
)

SHAPES = [(1, 28, 28), (3, 28, 28), (1, 64, 80), (3, 64, 80), (1, 96, 96), (3, 96, 96)]


def _image(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """A uint8 image with structure (a gradient) plus noise, so colour ops change it visibly."""
    g = torch.Generator().manual_seed(seed)
    *_, h, w = shape
    ramp = torch.linspace(0, 200, w).expand(h, w)
    noise = torch.randint(0, 56, shape, generator=g)
    return (ramp + noise).clamp(0, 255).to(torch.uint8)


# name -> (pipeline description, expected output sides in view order)
PIPELINES = {
    "simclr": (ViewConfig(size=32), [32, 32]),
    "simclr_full": (
        ViewConfig(size=32, jitter_p=0.8, grayscale_p=0.5, blur_p=0.5, solarize_p=0.5),
        [32, 32],
    ),
    "byol": (byol_views(24), [24, 24]),
    "multicrop": (MultiCropConfig(global_size=28, local_size=12, n_local=3), [28, 28, 12, 12, 12]),
    "mae": (mae_train(32), [32, 32]),
}


# ---------------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("make", "channels"),
    [
        (lambda a: torch.from_numpy(a[..., 0]).clone()[None], 1),  # torch (1, H, W)
        (lambda a: torch.from_numpy(a).permute(2, 0, 1).contiguous(), 3),  # torch (3, H, W)
        (lambda a: torch.from_numpy(a[..., 0]).clone(), 1),  # torch (H, W)
        (lambda a: a[..., 0].copy(), 1),  # numpy (H, W)
        (lambda a: a[..., :1].copy(), 1),  # numpy (H, W, 1)
        (lambda a: a, 3),  # numpy (H, W, 3)
        (lambda a: PIL.Image.fromarray(a[..., 0], mode="L"), 1),
        (lambda a: PIL.Image.fromarray(a, mode="RGB"), 3),
    ],
)
def test_to_image_tensor_accepts_formats(make, channels):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)  # (H, W, 3)
    out = to_image_tensor(make(arr))
    assert out.dtype == torch.uint8
    assert tuple(out.shape) == (channels, 7, 9)
    expected = torch.from_numpy(arr).permute(2, 0, 1)[:channels]  # (C, H, W)
    assert torch.equal(out.as_subclass(torch.Tensor), expected)


def test_to_image_tensor_converts_other_pil_modes():
    rgba = PIL.Image.new("RGBA", (5, 4), (10, 20, 30, 40))
    assert tuple(to_image_tensor(rgba).shape) == (3, 4, 5)
    assert tuple(to_image_tensor(PIL.Image.new("1", (5, 4), 1)).shape) == (1, 4, 5)


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.rand(3, 8, 8), ValueError, "must be uint8"),
        (torch.zeros(8, 8, 3, dtype=torch.uint8), ValueError, "permute"),
        (torch.zeros(4, 8, 8, dtype=torch.uint8), ValueError, "C in \\(1, 3\\)"),
        (np.zeros((8, 8, 4), dtype=np.uint8), ValueError, "\\(H, W, C\\)"),
        ([[0, 1], [2, 3]], TypeError, "PIL image; got list"),
    ],
)
def test_to_image_tensor_rejects(x, error, match):
    with pytest.raises(error, match=match):
        to_image_tensor(x)


# ------------------------------------------------------------------- shapes, dtype, range


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", PIPELINES)
def test_views_shape_dtype_range(name, shape):
    pipeline, sides = PIPELINES[name]
    views = sample_views(_image(shape), pipeline, seed=1)
    assert len(views) == len(sides)
    for view, side in zip(views, sides, strict=True):
        assert type(view) is torch.Tensor  # plain tensor, not a tv_tensors subclass
        assert view.dtype == torch.float32
        assert tuple(view.shape) == (shape[0], side, side)
        assert view.min() >= 0.0 and view.max() <= 1.0


def test_numpy_and_pil_inputs_give_the_same_views_as_tensors():
    img = _image((3, 40, 50))  # (3, H, W)
    arr = img.permute(1, 2, 0).numpy()  # (H, W, 3)
    cfg = ViewConfig(size=24)
    expected = sample_views(img, cfg, seed=5)
    for other in (arr, PIL.Image.fromarray(arr)):
        got = sample_views(other, cfg, seed=5)
        assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))


def test_gray_input_through_full_colour_pipeline_stays_one_channel():
    cfg = ViewConfig(size=28, jitter_p=1.0, grayscale_p=1.0, saturation=0.8, hue=0.5, blur_p=1.0)
    img = _image((1, 28, 28))
    views = trace_views(img, cfg, seed=0, n_views=6)
    for view in views:
        assert tuple(view.image.shape) == (1, 28, 28)
        jitter = view.params["jitter"]
        assert jitter["saturation"] is None and jitter["hue"] is None  # skipped on 1 channel
        assert set(jitter["order"]) == {"brightness", "contrast"}
        assert view.params["grayscale"] is False  # no-op on 1 channel, so not reported


def test_rgb_grayscale_is_applied_and_reported():
    cfg = ViewConfig(size=16, jitter_p=0.0, grayscale_p=1.0)
    for view in trace_views(_image((3, 28, 28)), cfg, seed=0, n_views=3):
        assert view.params["grayscale"] is True
        assert tuple(view.image.shape) == (3, 16, 16)
        assert torch.equal(view.image[0], view.image[1])
        assert torch.equal(view.image[1], view.image[2])


# --------------------------------------------------------------------- seeds and the RNG


@pytest.mark.parametrize("name", PIPELINES)
def test_same_seed_same_views_different_seed_different_views(name):
    pipeline, _ = PIPELINES[name]
    img = _image((3, 64, 80))
    a = sample_views(img, pipeline, seed=7)
    b = sample_views(img, pipeline, seed=7)
    c = sample_views(img, pipeline, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(not torch.equal(x, z) for x, z in zip(a, c, strict=True))
    assert not torch.equal(a[0], a[1])  # the views within one draw differ too


def test_sample_and_trace_leave_the_global_rng_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(5)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    img = _image((3, 64, 80))
    sample_views(img, ViewConfig(size=16), seed=0)
    trace_views(img, MultiCropConfig(n_local=2), seed=99)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.rand(5), expected_next)


def test_sample_views_matches_calling_the_pipeline_under_manual_seed():
    img = _image((3, 40, 40))
    pipeline = two_view_train(size=20, blur_p=0.5, solarize_p=0.5)
    views = sample_views(img, pipeline, seed=4, n_views=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        direct = [pipeline(img.numpy().transpose(1, 2, 0)) for _ in range(3)]  # numpy (H, W, 3)
    assert all(torch.equal(a, b) for a, b in zip(views, direct, strict=True))


# ---------------------------------------------------------------------------- tracing


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 80)])
@pytest.mark.parametrize("name", PIPELINES)
def test_traced_pixels_equal_untraced(name, shape, seed):
    pipeline, sides = PIPELINES[name]
    img = _image(shape, seed=seed)
    plain = sample_views(img, pipeline, seed=seed)
    traced = trace_views(img, pipeline, seed=seed)
    assert len(traced) == len(plain) == len(sides)
    for p, t in zip(plain, traced, strict=True):
        assert torch.equal(p, t.image)
        json.dumps(t.params)  # JSON-serialisable
        assert t.params["source_size"] == list(shape[1:])
        assert t.params["output_size"] == list(p.shape[-2:])


def test_traced_params_have_one_schema():
    keys = None
    for pipeline in (ViewConfig(size=16), mae_train(16), MultiCropConfig(n_local=1)):
        for view in trace_views(_image((3, 28, 28)), pipeline, seed=0):
            assert keys is None or list(view.params) == keys
            keys = list(view.params)
    assert keys == [
        "kind",
        "source_size",
        "crop",
        "flipped",
        "jitter",
        "grayscale",
        "blur_sigma",
        "solarized",
        "output_size",
    ]


@pytest.mark.parametrize("shape", [(1, 64, 80), (3, 64, 80), (3, 28, 28)])
def test_crop_boxes_lie_inside_the_image_and_respect_scale(shape):
    cfg = MultiCropConfig(  # crops only: colour stages off to keep the test quick
        global_size=32,
        local_size=16,
        n_local=4,
        jitter_p=0.0,
        grayscale_p=0.0,
        global_blur_p=(0.0,),
        global_solarize_p=(0.0,),
        local_blur_p=0.0,
    )
    img = _image(shape)
    h, w = shape[1:]
    for seed in range(15):
        for view in trace_views(img, cfg, seed=seed):
            box = view.params["crop"]
            assert 0 <= box["top"] and box["top"] + box["height"] <= h
            assert 0 <= box["left"] and box["left"] + box["width"] <= w
            assert box["height"] >= 1 and box["width"] >= 1
            lo, hi = cfg.global_scale if view.params["kind"] == "global" else cfg.local_scale
            area = box["height"] * box["width"] / (h * w)
            # RandomResizedCrop rounds each side to whole pixels: allow that slack
            slack = (box["height"] + box["width"] + 1) / (h * w)
            assert lo - slack <= area <= hi + slack


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 80)])
def test_crop_only_view_equals_hand_crop_of_recorded_box(shape):
    cfg = ViewConfig(size=24, hflip_p=0.0, jitter_p=0.0, grayscale_p=0.0)
    img = _image(shape)
    for view in trace_views(img, cfg, seed=3, n_views=5):
        box = view.params["crop"]
        by_hand = F.resized_crop(img, **box, size=[24, 24], antialias=True)  # (C, 24, 24) uint8
        by_hand = F.to_dtype(by_hand, torch.float32, scale=True)
        assert torch.equal(view.image, by_hand)


def _replay(img: torch.Tensor, params: dict, cfg: ViewConfig) -> torch.Tensor:
    """Rebuild a view from its recorded params with torchvision's functional ops."""
    x = F.resized_crop(
        img,
        **params["crop"],
        size=[cfg.size, cfg.size],
        interpolation=v2.InterpolationMode(cfg.interpolation),
        antialias=True,
    )
    if params["flipped"]:
        x = F.horizontal_flip(x)
    x = F.to_dtype(x, torch.float32, scale=True)
    jitter = params["jitter"]
    if jitter is not None:
        for name in jitter["order"]:
            x = getattr(F, f"adjust_{name}")(x, jitter[name])
    if params["grayscale"]:
        x = F.rgb_to_grayscale(x, num_output_channels=3)
    if params["blur_sigma"] is not None:
        k = cfg.resolved_blur_kernel()
        x = F.gaussian_blur(x, [k, k], [params["blur_sigma"]] * 2)
    if params["solarized"]:
        x = F.solarize(x, cfg.solarize_threshold)
    return x


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 80)])
def test_recorded_params_are_the_whole_story(shape):
    """Replaying crop, flip, jitter (in the recorded order), grayscale, blur, solarize by hand
    reproduces every view exactly, including views where coins said no."""
    cfg = ViewConfig(size=20, grayscale_p=0.5, blur_p=0.5, solarize_p=0.5, interpolation="bicubic")
    img = _image(shape)
    seen = {"jitter_skipped": False, "jitter_applied": False, "flipped": set(), "solar": set()}
    for seed in range(6):
        for view in trace_views(img, cfg, seed=seed, n_views=4):
            assert torch.equal(view.image, _replay(img, view.params, cfg))
            seen["jitter_skipped"] |= view.params["jitter"] is None
            seen["jitter_applied"] |= view.params["jitter"] is not None
            seen["flipped"].add(view.params["flipped"])
            seen["solar"].add(view.params["solarized"])
    # the replay covered both branches of every coin
    assert seen["jitter_skipped"] and seen["jitter_applied"]
    assert seen["flipped"] == {True, False} and seen["solar"] == {True, False}


def test_jitter_coin_rate_matches_jitter_p():
    cfg = ViewConfig(size=4, jitter_p=0.8, grayscale_p=0.0, hflip_p=0.0)
    views = trace_views(_image((1, 8, 8)), cfg, seed=0, n_views=300)
    skipped = sum(v.params["jitter"] is None for v in views) / len(views)
    assert 0.13 <= skipped <= 0.27  # 0.2 +- 3 standard errors (0.023)


# --------------------------------------------------------------------- pipeline presets


def test_lesson_pipeline_is_jitter_p_one():
    stages = two_view_train(jitter_p=1.0).transforms
    kinds = [type(s) for s in stages[1:-1]]
    assert kinds == [
        v2.RandomResizedCrop,
        v2.RandomHorizontalFlip,
        v2.ToDtype,
        v2.ColorJitter,
        v2.RandomGrayscale,
    ]
    crop, flip, _, jitter, gray = stages[1:-1]
    assert list(crop.size) == [96, 96] and tuple(crop.scale) == (0.2, 1.0)
    assert flip.p == 0.5 and gray.p == 0.2
    assert jitter.brightness == (0.6, 1.4) and jitter.hue == (-0.1, 0.1)
    default = two_view_train().transforms
    assert isinstance(default[4], v2.RandomApply) and default[4].p == 0.8  # SimCLR's coin


def test_mae_pipeline_is_crop_and_flip_only():
    pipeline = mae_train(32, scale=(0.3, 1.0))
    kinds = [type(s) for s in pipeline.transforms[1:-1]]
    assert kinds == [v2.RandomResizedCrop, v2.RandomHorizontalFlip, v2.ToDtype]
    assert pipeline.transforms[1].interpolation == v2.InterpolationMode.BICUBIC
    for view in trace_views(_image((3, 64, 80)), pipeline, seed=0, n_views=4):
        p = view.params
        assert p["jitter"] is None and p["blur_sigma"] is None and not p["solarized"]
        assert p["crop"] is not None


def test_byol_views_are_asymmetric():
    c1, c2 = byol_views(32)
    assert (c1.blur_p, c1.solarize_p, c2.blur_p, c2.solarize_p) == (1.0, 0.0, 0.1, 0.2)
    assert c1.scale == (0.08, 1.0) and c1.saturation == 0.2
    assert c1.resolved_blur_kernel() == 3 and byol_views(224)[0].resolved_blur_kernel() == 23
    for seed in range(5):
        v1, v2_ = trace_views(_image((3, 64, 80)), (c1, c2), seed=seed)
        assert v1.params["blur_sigma"] is not None and not v1.params["solarized"]
    assert byol_views(32, scale=(0.5, 1.0))[1].scale == (0.5, 1.0)


def test_multicrop_returns_globals_then_locals_with_their_sizes():
    cfg = MultiCropConfig(global_size=32, local_size=16, n_local=5)
    crops = multi_crop(cfg)
    assert crops.kinds == ("global",) * 2 + ("local",) * 5
    img = _image((3, 64, 80))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        views = crops(img)
    assert [tuple(v.shape) for v in views] == [(3, 32, 32)] * 2 + [(3, 16, 16)] * 5
    assert all(
        torch.equal(a, b) for a, b in zip(views, sample_views(img, crops, seed=0), strict=True)
    )
    traced = trace_views(img, cfg, seed=0)
    assert [t.params["kind"] for t in traced] == list(crops.kinds)


def test_multicrop_per_global_blur_and_solarize():
    cfg = MultiCropConfig(
        global_blur_p=(1.0, 0.0), global_solarize_p=(0.0, 1.0), local_blur_p=0.0, n_local=2
    )
    for seed in range(5):
        g1, g2, *locals_ = trace_views(_image((1, 28, 28)), cfg, seed=seed)
        assert g1.params["blur_sigma"] is not None and not g1.params["solarized"]
        assert g2.params["blur_sigma"] is None and g2.params["solarized"]
        assert all(v.params["blur_sigma"] is None for v in locals_)
    shared = MultiCropConfig(n_global=3, global_blur_p=(0.5,), global_solarize_p=(0.0,))
    assert len(MultiCrop(shared).pipelines) == 3 + shared.n_local


def test_normalisation_matches_unnormalised_views():
    img = _image((3, 40, 40))
    mean, std = (0.5, 0.4, 0.3), (0.25, 0.2, 0.1)
    plain = sample_views(img, ViewConfig(size=16), seed=2)
    normed = sample_views(img, ViewConfig(size=16, mean=mean, std=std), seed=2)
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    for p, n in zip(plain, normed, strict=True):
        torch.testing.assert_close(n, (p - m) / s)
    with pytest.raises(ValueError, match="3 values but the image has 1 channel"):
        sample_views(_image((1, 28, 28)), ViewConfig(size=16, mean=mean, std=std), seed=0)


def test_list_fields_become_tuples():
    cfg = ViewConfig(scale=[0.3, 1.0], mean=[0.5], std=[0.5])
    assert cfg.scale == (0.3, 1.0) and cfg.mean == (0.5,)
    hash(cfg)
    assert MultiCropConfig(global_blur_p=[1.0, 0.1]).global_blur_p == (1.0, 0.1)


# -------------------------------------------------------------------------- the dataset


def test_two_view_dataset_returns_two_views_of_the_same_item():
    items = [(_image((1, 28, 28), seed=i), i) for i in range(3)]
    ds = TwoViewDataset(items, two_view_train(size=16), return_label=True)
    assert len(ds) == 3
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        v1, v2_, label = ds[1]
    assert label == 1
    assert tuple(v1.shape) == tuple(v2_.shape) == (1, 16, 16)
    assert not torch.equal(v1, v2_)
    # a deterministic transform shows both views come from the item asked for
    whole = two_view_train(size=28, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip_p=0.0, jitter_p=0.0)
    w1, w2 = TwoViewDataset(items, whole)[2]
    expected = items[2][0].float() / 255
    assert torch.equal(w1, w2)
    torch.testing.assert_close(w1, expected)


def test_two_view_dataset_second_transform_and_image_only_base():
    images = [_image((3, 30, 30), seed=i) for i in range(2)]
    ds = TwoViewDataset(images, two_view_train(size=16), second_transform=two_view_train(size=8))
    v1, v2_ = ds[0]
    assert tuple(v1.shape) == (3, 16, 16) and tuple(v2_.shape) == (3, 8, 8)
    with pytest.raises(ValueError, match="without labels"):
        TwoViewDataset(images, two_view_train(size=8), return_label=True)[0]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0}, "size must be an int >= 1"),
        ({"scale": (0.0, 1.0)}, "scale is a fraction of the image area"),
        ({"scale": (0.2, 1.5)}, "scale is a fraction of the image area"),
        ({"scale": (0.6, 0.3)}, "min <= max"),
        ({"ratio": (2.0, 1.0)}, "ratio must be"),
        ({"hflip_p": 1.5}, "hflip_p is a probability"),
        ({"jitter_p": -0.1}, "jitter_p is a probability"),
        ({"grayscale_p": 2}, "grayscale_p is a probability"),
        ({"blur_p": -1}, "blur_p is a probability"),
        ({"solarize_p": 1.01}, "solarize_p is a probability"),
        ({"brightness": -0.1}, "brightness jitter strength must be >= 0"),
        ({"saturation": -1}, "saturation jitter strength"),
        ({"hue": 0.6}, "hue must be <= 0.5"),
        ({"blur_kernel": 4}, "blur_kernel must be an odd int"),
        ({"size": 8, "blur_p": 0.5, "blur_kernel": 17}, "too large for size 8"),
        ({"blur_sigma": (0.0, 1.0)}, "blur_sigma must be"),
        ({"solarize_threshold": 2.0}, "solarize_threshold is on the \\[0, 1\\]"),
        ({"mean": (0.5,)}, "both mean and std"),
        ({"mean": (0.5, 0.5), "std": (0.2, 0.2)}, "same length, 1 or 3"),
        ({"mean": (0.5,), "std": (0.0,)}, "std values must be > 0"),
        ({"interpolation": "box"}, "interpolation must be one of"),
    ],
)
def test_view_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViewConfig(**kwargs)
    with pytest.raises(ValueError, match=match):
        two_view_train(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"global_scale": (0.5, 0.4)}, "global_scale must be \\(min, max\\)"),
        ({"local_scale": (0.0, 0.4)}, "local_scale is a fraction"),
        ({"global_size": 0}, "global_size must be an int >= 1"),
        ({"local_size": -3}, "local_size must be an int >= 1"),
        ({"n_global": 0}, "n_global must be an int >= 1"),
        ({"n_local": -1}, "n_local must be an int >= 0"),
        ({"global_blur_p": (1.0, 0.5, 0.1)}, "global_blur_p has 3 values for n_global=2"),
        ({"n_global": 1}, "global_blur_p has 2 values for n_global=1"),
        ({"global_blur_p": (1.5, 0.1)}, "global_blur_p is a probability"),
        ({"global_solarize_p": (0.0, -0.2)}, "global_solarize_p is a probability"),
        ({"local_blur_p": 2.0}, "local_blur_p is a probability"),
        ({"hue": 0.7}, "hue must be <= 0.5"),
    ],
)
def test_multicrop_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiCropConfig(**kwargs)


def test_builder_and_sampler_argument_errors():
    with pytest.raises(TypeError, match="bogus"):
        two_view_train(bogus=1)
    with pytest.raises(ValueError, match="scale must be \\(min, max\\)"):
        mae_train(28, scale=(0.5, 0.1))
    img = _image((1, 28, 28))
    with pytest.raises(ValueError, match="n_views must be >= 1"):
        sample_views(img, ViewConfig(size=8), seed=0, n_views=0)
    with pytest.raises(ValueError, match="omit n_views"):
        sample_views(img, MultiCropConfig(), seed=0, n_views=3)
    with pytest.raises(ValueError, match="got 2 pipelines"):
        trace_views(img, byol_views(8), seed=0, n_views=3)
    with pytest.raises(TypeError, match="seed must be an int"):
        sample_views(img, ViewConfig(size=8), seed=1.5)
