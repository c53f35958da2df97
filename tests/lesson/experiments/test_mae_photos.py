"""mae_photos: the colour MAE against the classical fills on seen and held-out photos; the MAE
page opens on a photo only where the held-out numbers say the model pays."""

from __future__ import annotations

import numpy as np
import pytest

from lesson.experiments.mae_photos import (
    MaePhotosResult,
    held_out_photos,
    main,
    opening_source,
    opens_on_photos,
    photo_verdict,
)
from ssl_core import paths
from ssl_core.data import load_photos


def _block(mae: float, interpolation: float, biharmonic: float) -> dict:
    return {"n_images": 8, "sources": ["a", "b"], "protocol": "test",
            "mae": {"mse": [0.01, mae], "sem": [0.0, 0.0]},
            "interpolation": {"mse": [0.01, interpolation], "sem": [0.0, 0.0]},
            "biharmonic": {"mse": [0.01, biharmonic], "sem": [0.0, 0.0]},
            "wins_vs_biharmonic": [0.5, 0.25]}


def _result(held_out: dict) -> MaePhotosResult:
    return MaePhotosResult.from_json({
        "checkpoint": "mae_rgb", "trained_on": "the 16 bundled photos", "ratios": [0.25, 0.75],
        "seeds": [0], "seen": _block(0.02, 0.03, 0.04), "held_out": held_out})


def test_opens_on_photos_only_when_the_model_beats_both_classical_fills_on_held_out_photos():
    assert opens_on_photos(_result(_block(0.02, 0.03, 0.04)))
    assert opening_source(_result(_block(0.02, 0.03, 0.04))) == "photo"
    assert not opens_on_photos(_result(_block(0.05, 0.03, 0.04)))  # loses to both
    assert not opens_on_photos(_result(_block(0.035, 0.03, 0.04)))  # beats biharmonic only
    assert opening_source(_result(_block(0.035, 0.03, 0.04))) == "fashion"
    assert opening_source(None) == "fashion"  # not measured: no claim


def test_photo_verdict_follows_the_numbers():
    good = photo_verdict(_result(_block(0.02, 0.03, 0.04)))
    bad = photo_verdict(_result(_block(0.05, 0.03, 0.04)))
    assert "the 16 bundled photos" in good
    held_good, held_bad = good.split("never saw")[1], bad.split("never saw")[1]
    assert "it beats biharmonic inpainting and interpolation" in held_good
    assert "does not beat" not in held_good
    assert "it does not beat biharmonic inpainting or interpolation" in held_bad
    assert "MAE 0.0500, biharmonic 0.0400, interpolation 0.0300" in held_bad
    assert "25% of 8 crops" in held_bad


def test_held_out_photos_are_colour_images_not_among_the_bundled_ones():
    photos = held_out_photos()
    assert len(photos) >= 5
    bundled = {np.asarray(p).tobytes()[:4096] for p in load_photos().values()}
    for name, image in photos.items():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3, name
        assert min(image.shape[:2]) >= 64, name  # a 64 px crop fits
        assert image.tobytes()[:4096] not in bundled, name


@pytest.mark.slow
def test_main_writes_a_result_the_page_can_read(tmp_path):
    if not (paths.checkpoints_dir() / "mae_rgb" / "config.json").is_file():
        pytest.skip("no bundled mae_rgb checkpoint")
    assert main(["--ratios", "0.75", "--seeds", "0", "--crops-per-photo", "1",
                 "--results-dir", str(tmp_path)]) == 0
    result = MaePhotosResult.load(tmp_path)
    assert result.seen.n_images == 16 and result.held_out.n_images == len(held_out_photos())
    assert result.provenance is not None and "mae_photos" in result.provenance.command
    assert photo_verdict(result).startswith("The colour MAE saw only")


def test_bad_arguments_are_a_message(tmp_path, capsys):
    assert main(["--ratios", "1.5", "--results-dir", str(tmp_path)]) == 2
    assert "ratios must be in (0, 1)" in capsys.readouterr().err
