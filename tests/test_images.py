from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_core.images import (
    batch_adapter,
    fit_to,
    fit_within,
    image_to_batch,
    images_to_batch,
    input_geometry,
    model_input,
    square_crop,
    to_chw_uint8,
    to_float_batch,
    to_uint8_image,
)
from ssl_core.models.registry import build_backbone


@pytest.mark.parametrize("channels", [1, 3])
def test_to_uint8_image_matches_a_pixel_loop(channels):
    generator = torch.Generator().manual_seed(0)
    view = torch.rand(channels, 5, 7, generator=generator) * 1.4 - 0.2  # some out of [0, 1]
    out = to_uint8_image(view)
    assert out.dtype == np.uint8
    assert out.shape == ((5, 7) if channels == 1 else (5, 7, 3))
    for c in range(channels):
        for y in range(5):
            for x in range(7):
                expected = round(min(max(float(view[c, y, x]), 0.0), 1.0) * 255)
                got = out[y, x] if channels == 1 else out[y, x, c]
                assert abs(int(got) - expected) <= 1  # float32 rounding at .5


def test_to_uint8_image_rejects_bad_views():
    with pytest.raises(ValueError, match=r"\(C, h, w\) tensor with C in \(1, 3\)"):
        to_uint8_image(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="float tensor"):
        to_uint8_image(torch.zeros(3, 4, 4, dtype=torch.uint8))


def test_fit_within_keeps_aspect_and_leaves_small_images_alone():
    image = np.random.default_rng(0).integers(0, 256, (300, 1200, 3), dtype=np.uint8)
    out = fit_within(image, 512)
    assert out.shape == (128, 512, 3) and out.dtype == np.uint8
    gray = np.zeros((100, 80), dtype=np.uint8)
    assert fit_within(gray, 512) is gray
    assert fit_within(np.zeros((1000, 10), dtype=np.uint8), 100).shape == (100, 1)
    with pytest.raises(ValueError, match="uint8"):
        fit_within(np.zeros((10, 10), dtype=np.float32), 5)


def test_square_crop_takes_the_centre_and_converts_channels():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    image[:, 10:50] = 200  # the centred 40 x 40 square is all 200
    out = square_crop(image, 20, channels=3)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8 and (out == 200).all()
    gray = square_crop(image, 40, channels=1)
    assert gray.shape == (40, 40) and (gray == 200).all()  # luminance of a gray colour
    item = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(square_crop(item, 28, channels=1), item)  # no resampling
    rgb = square_crop(item, 28, channels=3)
    assert rgb.shape == (28, 28, 3) and (rgb == item[..., None]).all()
    with pytest.raises(ValueError, match="channels in"):
        square_crop(item, 28, channels=2)
    with pytest.raises(ValueError, match="must be uint8"):
        square_crop(item.astype(np.float32), 28, channels=1)


def test_image_to_batch_layout_and_scale():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)  # (H, W, C)
    batch = image_to_batch(image)
    assert batch.shape == (1, 3, 2, 3) and batch.dtype == torch.float32
    assert batch[0, 2, 1, 0] == pytest.approx(image[1, 0, 2] / 255)
    assert image_to_batch(image[..., 0]).shape == (1, 1, 2, 3)


def _tiny_vit(**kw):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_backbone("vit_tiny_p4_28", depth=1, embed_dim=32, num_heads=2,
                              **kw).eval()


def test_model_input_follows_the_encoder():
    vit = _tiny_vit()
    assert input_geometry(vit) == (28, 28, 1)
    photo = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    assert model_input(photo, vit).shape == (28, 28)
    rgb = _tiny_vit(in_chans=3)
    assert model_input(photo, rgb).shape == (28, 28, 3)


def test_to_chw_uint8_takes_every_layout_and_copies_arrays():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gray.flags.writeable = False  # a cached, read-only array
    t = to_chw_uint8(gray)
    assert t.shape == (1, 3, 4) and t.dtype == torch.uint8
    t[0, 0, 0] = 99  # writable, and not the array's memory
    assert gray[0, 0] == 0
    rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert torch.equal(to_chw_uint8(rgb), torch.from_numpy(rgb).permute(2, 0, 1))
    assert torch.equal(to_chw_uint8(Image.fromarray(rgb)), to_chw_uint8(rgb))
    assert to_chw_uint8(Image.fromarray(gray).convert("1")).shape == (1, 3, 4)
    chw = torch.zeros(3, 5, 6, dtype=torch.uint8)
    assert to_chw_uint8(chw) is chw
    with pytest.raises(ValueError, match="channels-first"):
        to_chw_uint8(torch.zeros(5, 6, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        to_chw_uint8(np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match="torch tensor, numpy array or PIL image"):
        to_chw_uint8([[0]])


def test_float_batches_scale_uint8_and_keep_floats():
    batch = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    x = to_float_batch(batch)
    assert x.shape == (2, 1, 28, 28) and x.dtype == torch.float32 and bool((x == 1).all())
    floats = torch.rand(2, 3, 4, 4)
    assert torch.equal(to_float_batch(floats), floats)
    with pytest.raises(ValueError, match="uint8 .* or float"):
        to_float_batch(torch.zeros(2, 1, 4, 4, dtype=torch.int32))
    hwc = np.zeros((5, 6, 7, 3), np.uint8)
    assert images_to_batch(hwc).shape == (5, 3, 6, 7)
    assert images_to_batch([np.zeros((6, 7), np.uint8)] * 2).shape == (2, 1, 6, 7)


def test_batch_adapter_resizes_and_repeats_gray_for_the_encoder():
    rgb_64 = _tiny_vit(in_chans=3, img_size=64, patch_size=8)
    adapt = batch_adapter(rgb_64, 1, (28, 28))
    out = adapt(torch.rand(2, 1, 28, 28))
    assert out.shape == (2, 3, 64, 64)
    assert torch.equal(out[:, 0], out[:, 2])
    assert batch_adapter(_tiny_vit(), 1, (28, 28)) is None  # it fits already
    with pytest.raises(ValueError, match="cannot feed 3-channel"):
        batch_adapter(_tiny_vit(), 3, (28, 28))
    assert input_geometry(torch.nn.Identity()) is None


def test_fit_to_converts_gray_and_colour_and_leaves_fitting_arrays_alone():
    gray = np.zeros((3, 28, 28), dtype=np.uint8)
    assert fit_to(gray, size=28, channels=1) is gray  # already right: no copy
    rgb = fit_to(gray, size=64, channels=3)
    assert rgb.shape == (3, 64, 64, 3)
    mixed = [np.full((50, 80, 3), 200, np.uint8), np.full((28, 28), 10, np.uint8)]
    out = fit_to(mixed, size=28, channels=1)
    assert out.shape == (2, 28, 28) and out[0].mean() == pytest.approx(200, abs=1)
    with pytest.raises(ValueError, match="empty"):
        fit_to([], size=28, channels=1)
