from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.widgets import decode_upload
from ssl_core.data import FASHION_MNIST_CLASSES, DataError, load_fashion_mnist

PAGE = "augmentations"
PROBABILITIES = ("aug_hflip", "aug_jitter_p", "aug_gray_p", "aug_blur_p", "aug_solarize_p")


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _captions(at) -> list[str]:
    return [caption for image in at.image for caption in image.captions]


def _figures(at) -> list:
    return at.get("plotly_chart")


def test_defaults_render_three_pipelines_and_a_clean_url(open_page, clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error
    assert at.title[0].value == "Augmentations"
    assert len(_figures(at)) == 3  # SimCLR, DINO and MAE crops on the source
    captions = _captions(at)
    # 4 pairs (8 views), pair 1 again, 2 DINO globals + 6 locals, 1 MAE view.
    assert sum(c.startswith("**") and "crop" in c for c in captions) == 8 + 2
    assert all("crop" in c for c in captions if not c.startswith("**L"))
    assert at.query_params == {}
    assert {b.key for b in at.get("download_button")} == {"aug_csv", "aug_png"}


def test_reroll_changes_the_views_and_the_url(open_page, clean):
    at = open_page(PAGE)
    before = _captions(at)
    at.button(key="aug_reroll").click().run()
    clean(at)
    assert at.number_input(key="aug_seed").value == 1
    assert at.query_params["aug_seed"] == "1"
    assert _captions(at) != before


@pytest.mark.parametrize("index", range(5))
def test_each_preset_sets_the_sliders_and_renders(open_page, clean, index):
    at = open_page(PAGE)
    label = at.button(key=f"aug_preset_{index}").label
    at.button(key=f"aug_preset_{index}").click().run()
    clean(at)
    assert not at.error
    assert len(_figures(at)) == 3
    if label == "No augmentation":
        assert at.slider(key="aug_scale").value == (1.0, 1.0)
        # astronaut is 512 x 512: a full-area square crop, no flip, no colour.
        pair_captions = at.image[0].captions
        assert all("crop 512x512 at (0, 0) (100% area) · no colour change" in c
                   for c in pair_captions)
    if label == "SimCLR (ImageNet)":
        assert at.slider(key="aug_blur_p").value == 0.5
        assert at.slider(key="aug_scale").value == (0.08, 1.0)


@pytest.mark.slow
def test_extreme_slider_values(open_page, clean):
    at = open_page(PAGE)
    high = {"aug_size": 224, "aug_pairs": 8, "aug_n_local": 10, "aug_local_size": 224,
            "aug_scale": (0.01, 0.01), "aug_ratio": (0.25, 4.0), "aug_brightness": 1.0,
            "aug_contrast": 1.0, "aug_saturation": 1.0, "aug_hue": 0.5,
            "aug_blur_sigma": (5.0, 5.0), "aug_global_scale": (1.0, 1.0),
            "aug_local_scale": (0.01, 1.0), "aug_mae_scale": (0.01, 0.01),
            **dict.fromkeys(PROBABILITIES, 1.0)}
    low = {"aug_size": 16, "aug_pairs": 1, "aug_n_local": 0, "aug_local_size": 8,
           "aug_scale": (1.0, 1.0), "aug_ratio": (0.25, 0.25), "aug_brightness": 0.0,
           "aug_contrast": 0.0, "aug_saturation": 0.0, "aug_hue": 0.0,
           "aug_blur_sigma": (0.1, 0.1), "aug_global_scale": (0.01, 0.01),
           "aug_local_scale": (0.01, 0.01), "aug_mae_scale": (1.0, 1.0),
           **dict.fromkeys(PROBABILITIES, 0.0)}
    for values, n_views in ((high, 16 + 2 + 2 + 1), (low, 2 + 2 + 2 + 1)):
        for key, value in values.items():
            at.slider(key=key).set_value(value)
        at.run()
        clean(at)
        assert not at.error
        assert len(_figures(at)) == 3
        assert sum(len(image.captions) for image in at.image) == n_views + (
            10 if values is high else 0)  # the local crops
    assert all("no colour change" in c for c in at.image[0].captions)


def test_fashion_mnist_item_shows_its_class(open_page, clean):
    at = open_page(PAGE)
    at.radio(key="aug_source").set_value("fashion").run()
    at.number_input(key="aug_item").set_value(19_999).run()
    clean(at)
    dataset = load_fashion_mnist("train", source="bundled")
    class_name = FASHION_MNIST_CLASSES[int(dataset.labels[19_999])]
    assert any(f"Item 19999: **{class_name}**" in c.value for c in at.caption)
    assert at.query_params["aug_source"] == "fashion"
    assert at.query_params["aug_item"] == "19999"
    # A 28 x 28 source: every crop lies inside it.
    for caption in _captions(at):
        if "crop" in caption:
            size = caption.split("crop ")[1].split(" ")[0]
            assert all(int(side) <= 28 for side in size.split("x"))


def test_corrupt_upload_shows_an_error_and_keeps_the_page(open_page, clean):
    at = open_page(PAGE)
    at.radio(key="aug_source").set_value("upload").run()
    assert any("No upload yet" in c.value for c in at.caption)
    at.file_uploader(key="aug_upload").set_value(
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10, "image/png")
    ).run()
    clean(at)
    assert len(at.error) == 1
    assert "broken.png" in at.error[0].value and "previous image" in at.error[0].value
    assert len(_figures(at)) == 3 and len(at.image) >= 4  # the page goes on working

    wide = np.random.default_rng(0).integers(0, 256, (300, 1200, 3), dtype=np.uint8)
    at.file_uploader(key="aug_upload").set_value(("wide.png", _png(wide), "image/png")).run()
    clean(at)
    assert not at.error
    assert at.session_state["aug_decoded"][1].shape == (128, 512, 3)  # shrunk to 512 px
    for caption in _captions(at):
        if "crop" in caption:
            width, height = caption.split("crop ")[1].split(" ")[0].split("x")
            assert int(width) <= 512 and int(height) <= 128


def test_decode_upload():
    with pytest.raises(DataError, match="not a recognised image format"):
        decode_upload(b"this is not an image")
    with pytest.raises(DataError, match="empty"):
        decode_upload(b"")
    gray = np.arange(64 * 40, dtype=np.uint32).reshape(64, 40).astype(np.uint8)
    np.testing.assert_array_equal(decode_upload(_png(gray)), gray)  # small: unchanged
    big = np.zeros((1000, 600, 3), dtype=np.uint8)
    assert decode_upload(_png(big), max_side=100).shape == (100, 60, 3)


def test_query_params_restore_the_view(open_page, clean):
    at = open_page(PAGE, query={"aug_pairs": "2", "aug_scale": "0.9,0.5", "aug_source": "photo",
                                "aug_photo": "coffee", "aug_hue": "9", "aug_size": "abc",
                                "aug_seed": "42"})
    clean(at)
    assert at.slider(key="aug_pairs").value == 2
    assert at.slider(key="aug_scale").value == (0.5, 0.9)
    assert at.selectbox(key="aug_photo").value == "coffee"
    assert at.slider(key="aug_hue").value == 0.5  # clamped to the slider's range
    assert at.slider(key="aug_size").value == 96  # unreadable: the default
    assert at.number_input(key="aug_seed").value == 42
    assert sum(len(image.captions) for image in at.image[:2]) == 4  # 2 pairs
    assert at.query_params == {"aug_pairs": "2", "aug_scale": "0.5,0.9", "aug_photo": "coffee",
                               "aug_hue": "0.5", "aug_seed": "42"}


def test_settings_survive_a_visit_to_another_page(open_page, clean):
    at = open_page(PAGE)
    at.slider(key="aug_pairs").set_value(2).run()
    at.switch_page("../pages/infonce.py").run()
    clean(at)
    assert "aug_pairs" not in at.query_params
    at.switch_page("../pages/augmentations.py").run()
    clean(at)
    assert at.slider(key="aug_pairs").value == 2
    assert at.query_params["aug_pairs"] == "2"
