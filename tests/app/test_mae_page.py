from __future__ import annotations

import json

import pytest
import torch

from app import mae as evidence
from ssl_core import paths
from ssl_core.checkpoints import save_checkpoint
from ssl_core.methods import build_method, method_spec

PAGE = "mae"
BASELINE = "Masked-patch MSE, interpolation"
MODEL = "Masked-patch MSE, MAE"
BIHARMONIC = "Masked-patch MSE, biharmonic inpainting"


@pytest.fixture
def no_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path)
    return tmp_path


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _figures(at) -> list:
    return at.get("plotly_chart")


def _captions(at) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


def _save_tiny_mae(directory) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method("mae", backbone="vit_tiny_p4_28", backbone_kwargs={"depth": 1},
                              config={"decoder_depth": 1, "decoder_dim": 32})
    save_checkpoint(directory, state_dict=method.state_dict(), config=method_spec(method))


@pytest.mark.slow
def test_defaults_render_the_baseline_and_say_where_the_model_comes_from(no_checkpoints, open_page,
                                                                         clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error
    # the baseline's error map, the error-vs-ratio curve and the measured 1,000-image study
    assert len(_figures(at)) == 3
    assert 0 < float(_metrics(at)[BASELINE]) < 1
    assert 0 < float(_metrics(at)[BIHARMONIC]) < 1  # the classical baseline needs no model
    assert "Biharmonic inpainting (scikit-image)" in _captions(at)
    assert MODEL not in _metrics(at)
    # it opens where the measurement says the model pays (mae_photos; the bundled result:
    # the colour MAE loses to interpolation on photos it never saw, so Fashion-MNIST)
    source = evidence.default_source()
    assert at.radio(key="mae_source").value == source
    folder, geometry = {"fashion": ("mae/", "28 x 28 input, 4 px patches (7 x 7 = 49"),
                        "photo": ("mae_rgb/", "64 x 64 input, 8 px patches (8 x 8 = 64")}[source]
    assert any(f"assets/checkpoints/{folder}" in i.value for i in at.info)
    assert f"{geometry} patches), mask ratio 0.75" in [s.value for s in at.subheader]
    assert at.query_params == {}
    # measured evidence: the encoder's speed-up at this ratio, the study and its verdict
    metrics = _metrics(at)
    assert float(metrics["ViT-B/16-sized, 224 px"].rstrip("x")) > 0
    assert any("mask ratio 0.75 makes the encoder's" in c.value for c in at.caption)
    assert any(m.value.startswith("**Verdict.** At 15% masking") for m in at.markdown)
    assert any("**mask ratio**" in m.value for m in at.markdown)  # the glossary


def _photos_result(folder, held_out_mae: float) -> None:
    block = {"n_images": 8, "sources": ["a"], "protocol": "p",
             "mae": {"mse": [held_out_mae], "sem": [0.0]},
             "interpolation": {"mse": [0.03], "sem": [0.0]},
             "biharmonic": {"mse": [0.04], "sem": [0.0]}, "wins_vs_biharmonic": [0.5]}
    (folder / "mae_photos.json").write_text(json.dumps({
        "checkpoint": "mae_rgb", "trained_on": "the 16 bundled photos", "ratios": [0.75],
        "seeds": [0], "seen": block, "held_out": block}))


@pytest.mark.parametrize(("held_out_mae", "opens_on"), [(0.02, "photo"), (0.035, "fashion")])
def test_the_page_opens_where_the_measurement_says_the_model_pays(
        no_checkpoints, monkeypatch, open_page, clean, held_out_mae, opens_on):
    results = no_checkpoints / "results"
    results.mkdir()
    _photos_result(results, held_out_mae)
    monkeypatch.setattr(paths, "results_dir", lambda: results)
    at = open_page(PAGE)
    clean(at)
    assert at.radio(key="mae_source").value == opens_on
    assert at.query_params == {}
    at.radio(key="mae_source").set_value("photo").run()
    clean(at)
    (note,) = [c.value for c in at.caption if c.value.startswith("The colour MAE saw only")]
    assert "the 16 bundled photos" in note
    assert ("it does not beat interpolation" in note) == (opens_on == "fashion")
    # nothing else measured in this folder: each section says so, and the page still works
    assert any("speed-up is not measured yet" in i.value for i in at.info)
    assert any("1,000-image study is not measured yet" in i.value for i in at.info)


@pytest.mark.parametrize("kind", ["random", "block", "grid"])
def test_each_mask_kind(no_checkpoints, open_page, clean, kind):
    at = open_page(PAGE, {"mae_source": "fashion", "mae_kind": kind})
    clean(at)
    assert not at.error
    assert at.radio(key="mae_kind").value == kind
    assert len(_figures(at)) == 3
    assert 0 <= float(_metrics(at)[BASELINE]) < 1


@pytest.mark.parametrize(("ratio", "hidden"), [(0.05, 3), (0.95, 47)])
def test_extreme_ratios(no_checkpoints, open_page, clean, ratio, hidden):
    at = open_page(PAGE, {"mae_source": "fashion"})
    at.slider(key="mae_ratio").set_value(ratio).run()
    clean(at)
    assert not at.error
    # 49 patches: 0.05 keeps floor(46.55) = 46 visible; 0.95 keeps floor(2.45) = 2.
    assert any(f"{hidden} of 49 patches hidden" in c for c in _captions(at))


def test_fashion_item_and_photo_use_their_own_sizes(no_checkpoints, open_page, clean):
    at = open_page(PAGE, {"mae_source": "fashion", "mae_item": "7"})
    clean(at)
    assert "28 x 28 input, 4 px patches (7 x 7 = 49 patches), mask ratio 0.75" in [
        s.value for s in at.subheader]
    assert any("assets/checkpoints/mae/" in i.value for i in at.info)
    at.radio(key="mae_source").set_value("photo").run()
    clean(at)
    assert "64 x 64 input, 8 px patches (8 x 8 = 64 patches), mask ratio 0.75" in [
        s.value for s in at.subheader]


def test_model_panels_appear_with_a_checkpoint(no_checkpoints, open_page, clean):
    _save_tiny_mae(no_checkpoints / "mae")
    at = open_page(PAGE, {"mae_source": "fashion", "mae_kind": "block", "mae_ratio": "0.4"})
    clean(at)
    assert not at.error
    assert not any("assets/checkpoints/mae/" in i.value for i in at.info)
    metrics = _metrics(at)
    assert BASELINE in metrics and 0 <= float(metrics[MODEL]) < 10
    assert len(_figures(at)) == 4  # two error maps, the curve and the measured study
    captions = _captions(at)
    assert "MAE reconstruction" in captions and "MAE, visible patches pasted back" in captions
    curve = _figures(at)[-2]
    assert "MAE" in curve.proto.spec and "interpolation" in curve.proto.spec
    # the photo checkpoint is another one: photos still get the baseline only
    at.radio(key="mae_source").set_value("photo").run()
    clean(at)
    assert MODEL not in _metrics(at)


def test_query_params_round_trip(no_checkpoints, open_page, clean):
    query = {"mae_source": "fashion", "mae_item": "12", "mae_ratio": "0.35", "mae_kind": "grid",
             "mae_seed": "5"}
    at = open_page(PAGE, query)
    clean(at)
    assert at.slider(key="mae_ratio").value == pytest.approx(0.35)
    assert at.radio(key="mae_kind").value == "grid"
    assert at.number_input(key="mae_seed").value == 5
    assert at.number_input(key="mae_item").value == 12
    opens_on = evidence.default_source()  # a default leaves the URL
    assert at.query_params == {k: v for k, v in query.items()
                               if (k, v) != ("mae_source", opens_on)}
    at.slider(key="mae_ratio").set_value(0.75).run()  # back to the default: leaves the URL
    assert "mae_ratio" not in at.query_params


def test_inconsistent_result_files_are_messages_not_tracebacks(no_checkpoints, monkeypatch,
                                                               open_page, clean):
    """Result files of the right types whose lists do not fit together (a hand edit): each
    section says so, the page works, and it opens on Fashion-MNIST (no claim without evidence)."""
    results = no_checkpoints / "results"
    results.mkdir()
    short = {"mse": [0.01], "sem": [0.0]}
    (results / "mae_ratio.json").write_text(json.dumps({
        "ratios": [0.25, 0.75], "n_images": 10, "interpolation": short,
        "mae": {"checkpoint": "mae", **short}}))
    block = {"n_images": 8, "sources": ["a"], "protocol": "p", "mae": short,
             "interpolation": short, "biharmonic": short, "wins_vs_biharmonic": []}
    (results / "mae_photos.json").write_text(json.dumps({
        "checkpoint": "mae_rgb", "trained_on": "x", "ratios": [0.25, 0.75], "seeds": [0],
        "seen": block, "held_out": block}))
    (results / "mae_speedup.json").write_text(json.dumps({
        "ratios": [0.25, 0.75], "repeats": 1, "device": "cpu", "protocol": "p",
        "encoders": [{"name": "vit_tiny_p4_28", "label": "tiny", "patches": 49, "embed_dim": 8,
                      "depth": 1, "batch_size": 1, "all_tokens_ms": 1.0, "kept_ms": [],
                      "speedup": []}]}))
    monkeypatch.setattr(paths, "results_dir", lambda: results)
    at = open_page(PAGE)
    clean(at)
    assert at.radio(key="mae_source").value == "fashion"
    infos = " ".join(i.value for i in at.info)
    assert "No verdict: the measured numbers do not fit together" in infos
    assert "The mae_speedup result does not fit together" in infos
    at.radio(key="mae_source").set_value("photo").run()
    clean(at)
    assert "The mae_photos result does not fit together" in " ".join(i.value for i in at.info)
