"""mae_speedup: the encoder's forward time on visible patches vs all, read back by the MAE page.
No timing is asserted (a busy machine would fail it): the shape of the result, the nearest-ratio
lookup and the sentence are."""

from __future__ import annotations

import pytest

from lesson.experiments import mae_speedup
from lesson.experiments.mae_speedup import MaeSpeedupResult, main, run, speedup_sentence
from ssl_core.masking import num_visible


def _result(speedups: list[float]) -> MaeSpeedupResult:
    return MaeSpeedupResult.from_json({
        "ratios": [0.25, 0.5, 0.75], "repeats": 3, "device": "cpu", "protocol": "test",
        "encoders": [{"name": "vit_b16_224", "label": "ViT-B/16-sized, 224 px", "patches": 196,
                      "embed_dim": 768, "depth": 12, "batch_size": 4, "all_tokens_ms": 400.0,
                      "kept_ms": [400.0 / s for s in speedups], "speedup": speedups}]})


def test_the_speedup_is_read_at_the_nearest_measured_ratio():
    result = _result([1.3, 1.9, 3.6])
    assert result.at("vit_b16_224", 0.7)[1:] == (0.75, 3.6)
    assert result.at("vit_b16_224", 0.05)[1:] == (0.25, 1.3)
    assert result.at("vit_tiny_p4_28", 0.75) is None  # not measured
    sentence = speedup_sentence(result, 0.8)
    assert "mask ratio 0.75" in sentence and "ViT-B/16-sized, 224 px: 3.6x" in sentence
    assert "1.9x" in speedup_sentence(result, 0.5)


def test_run_times_every_ratio_of_an_encoder(monkeypatch):
    """With a clock that charges one unit per token, the speed-up is the token ratio."""
    monkeypatch.setattr(mae_speedup, "_time_ms", lambda encoder, images, ids_keep: 1.0 + (
        ids_keep.shape[1] if ids_keep is not None else 49))
    data = run(encoders=["vit_tiny_p4_28"], ratios=[0.5, 0.9], repeats=2)
    (timing,) = MaeSpeedupResult.from_json(data).encoders
    assert timing.patches == 49 and timing.embed_dim == 128 and timing.all_tokens_ms == 50.0
    kept = [num_visible(49, 0.5), num_visible(49, 0.9)]
    assert timing.kept_ms == [1.0 + k for k in kept]
    assert timing.speedup == pytest.approx([50.0 / (1 + k) for k in kept])


def test_run_calls_the_real_encoder():
    (timing,) = MaeSpeedupResult.from_json(run(encoders=["vit_tiny_p4_28"], ratios=[0.75],
                                               repeats=1)).encoders
    assert timing.all_tokens_ms > 0 and timing.kept_ms[0] > 0 and timing.speedup[0] > 0


def test_bad_arguments_are_a_message(tmp_path, capsys):
    assert main(["--encoders", "vit_h", "--results-dir", str(tmp_path)]) == 2
    assert "unknown encoder" in capsys.readouterr().err
    assert main(["--ratios", "0", "--results-dir", str(tmp_path)]) == 2
