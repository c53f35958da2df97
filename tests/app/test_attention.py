from __future__ import annotations

import pytest
import torch

from lesson import results
from lesson.experiments import attention_foreground
from ssl_core import paths
from ssl_core.checkpoints import save_checkpoint
from ssl_core.methods import build_method, method_spec

PAGE = "attention"


@pytest.fixture
def no_checkpoints(tmp_path, monkeypatch):
    """Empty checkpoint and result folders, and an empty Hugging Face cache."""
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: checkpoints)
    monkeypatch.setattr(paths, "results_dir", lambda: tmp_path / "results")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return checkpoints


def _save_tiny(directory, method="dino") -> None:
    kwargs = {"depth": 1, "embed_dim": 32, "num_heads": 2}
    config = ({"out_dim": 64, "head_hidden_dim": 32, "head_bottleneck_dim": 16}
              if method == "dino" else {"decoder_depth": 1, "decoder_dim": 32})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_method(method, backbone="vit_tiny_p4_28", backbone_kwargs=kwargs,
                             config=config)
    save_checkpoint(directory, state_dict=model.state_dict(), config=method_spec(model))


@pytest.fixture
def tiny_dino(no_checkpoints):
    _save_tiny(no_checkpoints / "dino")
    return no_checkpoints


def _captions(at) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_missing_checkpoint_and_result_say_so(no_checkpoints, open_page, clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error
    infos = " ".join(i.value for i in at.info)
    assert "assets/checkpoints/dino_vit/" in infos  # no encoder
    assert "python3 -m lesson.experiments.attention_foreground" in infos  # no result
    assert not at.get("image")


@pytest.mark.slow
def test_defaults_with_a_tiny_dino(tiny_dino, open_page, clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error
    assert at.selectbox(key="att_encoder").value == "dino"
    captions = _captions(at)
    assert "Model input" in captions and "Mean of the heads" in captions
    assert sum(c.startswith("Head ") for c in captions) == 2  # the tiny model's two heads
    assert any("converted to gray, resized to 28 x 28" in c.value
               for c in at.caption)
    assert len(at.get("plotly_chart")) == 1
    assert _metrics(at)["Patches kept"].endswith("/ 49")
    assert at.query_params == {}


def test_extreme_thresholds(tiny_dino, open_page, clean):
    at = open_page(PAGE, {"att_source": "fashion", "att_item": "3"})
    assert "Attention on the garment" in _metrics(at)
    assert any("The picked image is already that." in c.value for c in at.caption)
    kept = {}
    for keep in (0.05, 1.0):
        at.slider(key="att_keep").set_value(keep).run()
        clean(at)
        kept[keep] = int(_metrics(at)["Patches kept"].split("/")[0])
    assert 1 <= kept[0.05] <= 5
    assert kept[1.0] == 49  # softmax weights are all > 0: every patch holds some mass


def test_options_and_url_round_trip(tiny_dino, open_page, clean):
    query = {"att_source": "fashion", "att_item": "12", "att_keep": "0.3", "att_alpha": "0.2",
             "att_smooth": "true"}
    at = open_page(PAGE, query)
    clean(at)
    assert at.slider(key="att_keep").value == pytest.approx(0.3)
    assert at.toggle(key="att_smooth").value is True
    assert at.number_input(key="att_item").value == 12
    assert at.query_params == query
    at.slider(key="att_keep").set_value(0.6).run()
    assert "att_keep" not in at.query_params


def test_a_broken_checkpoint_shows_an_error(no_checkpoints, open_page, clean):
    broken = no_checkpoints / "dino"
    _save_tiny(broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    at = open_page(PAGE)
    clean(at)
    assert any("Could not load" in e.value for e in at.error)


def test_measured_result_is_shown(tiny_dino, open_page, clean):
    _save_tiny(tiny_dino / "mae", method="mae")
    data = attention_foreground.run(checkpoints_dir=tiny_dino, n_images=20, random_seeds=(0,))
    results.save_result("attention_foreground", data, command="test")
    at = open_page(PAGE)
    clean(at)
    table = at.dataframe[0].value
    assert list(table["model"]) == ["DINO ViT (bundled dino)", "Same ViT, random init",
                                    "MAE (bundled)"]
    assert any("Verdict" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 2  # the per-class lift and the mean map


def test_dinov2_from_the_local_cache(no_checkpoints, tiny_dinov2_cache, monkeypatch, open_page,
                                     clean):
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_dinov2_cache))
    at = open_page(PAGE, {"att_source": "photo"})
    clean(at)
    assert not at.error
    assert at.selectbox(key="att_encoder").value == "hf:facebook/dinov2-small"
    assert sum(c.startswith("Head ") for c in _captions(at)) == 2
    assert any("28 x 28 RGB" in c.value for c in at.caption)
