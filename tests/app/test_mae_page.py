from __future__ import annotations

import pytest
import torch

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
    assert len(_figures(at)) == 2  # the baseline's error map and the error-vs-ratio curve
    assert 0 < float(_metrics(at)[BASELINE]) < 1
    assert 0 < float(_metrics(at)[BIHARMONIC]) < 1  # the classical baseline needs no model
    assert "Biharmonic inpainting (scikit-image)" in _captions(at)
    assert MODEL not in _metrics(at)
    assert any("assets/checkpoints/mae_rgb/" in i.value for i in at.info)
    assert "64 x 64 input, 8 px patches (8 x 8 = 64 patches), mask ratio 0.75" in [
        s.value for s in at.subheader]
    assert at.query_params == {}


@pytest.mark.parametrize("kind", ["random", "block", "grid"])
def test_each_mask_kind(no_checkpoints, open_page, clean, kind):
    at = open_page(PAGE, {"mae_source": "fashion", "mae_kind": kind})
    clean(at)
    assert not at.error
    assert at.radio(key="mae_kind").value == kind
    assert len(_figures(at)) == 2
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
    assert len(_figures(at)) == 3  # two error maps and the curve
    captions = _captions(at)
    assert "MAE reconstruction" in captions and "MAE, visible patches pasted back" in captions
    curve = _figures(at)[-1]
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
    assert at.query_params == query
    at.slider(key="mae_ratio").set_value(0.75).run()  # back to the default: leaves the URL
    assert "mae_ratio" not in at.query_params
