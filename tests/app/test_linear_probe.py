from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from app import resources
from lesson.experiments.label_efficiency import LabelEfficiencyResult
from ssl_core import paths
from ssl_core.checkpoints import save_checkpoint
from ssl_core.data import ArrayImageDataset, load_fashion_mnist
from ssl_core.methods import build_method, method_spec

PAGE = "linear_probe"


def _save_tiny_simclr(directory) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = build_method("simclr", backbone="cnn_small_28",
                             backbone_kwargs={"widths": (8, 16)})
    save_checkpoint(directory, state_dict=model.state_dict(),
                    config=method_spec(model) | {"data": {"name": "Fashion-MNIST, test"}})


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    _save_tiny_simclr(root / "simclr")
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: root)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no_hf"))
    monkeypatch.setattr(paths, "results_dir", lambda: tmp_path / "results")
    return tmp_path


def _finished(at, polls: int = 2400):
    """Rerun until the probe (a background job) is done and the page shows its result, as the
    browser does through the page's run_every fragment."""
    for _ in range(polls):
        if [m for m in at.metric if m.label.startswith("Test accuracy")] or at.error:
            return at
        assert any("stays usable" in c.value for c in at.caption)  # the progress is shown
        time.sleep(0.05)
        at.run()
    raise AssertionError("the probe did not finish")


def _accuracy(at) -> float:
    (metric,) = [m for m in _finished(at).metric if m.label.startswith("Test accuracy")]
    return float(metric.value.rstrip("%")) / 100


@pytest.mark.slow
def test_probe_without_measured_results(tiny, open_page, clean):
    at = _finished(open_page(PAGE, {"lp_labels": "2"}))
    clean(at)
    assert not at.error
    assert at.selectbox(key="lp_enc").value == "ckpt:simclr"
    assert 0.1 < _accuracy(at) <= 1.0  # 20 labels already beat chance (10 %)
    infos = " ".join(i.value for i in at.info)
    assert "label_efficiency" in infos and "hard_exercise" in infos
    (chart,) = at.get("plotly_chart")
    assert "live: SimCLR" in chart.proto.spec
    assert any("on 20 labelled training images" in c.value and "3 random draws" in c.value
               for c in at.caption)
    imagenet = at.dataframe[-1].value
    assert list(imagenet["ImageNet linear probe"]) == ["~71 %", "~77 %", "~76 %", "~86 %"]
    assert any("not measured by this app" in c.value for c in at.caption)


@pytest.mark.slow
def test_more_labels_help_raw_pixels(tiny, open_page, clean):
    at = open_page(PAGE, {"lp_enc": "raw", "lp_labels": "1"})
    one = _accuracy(at)
    at.select_slider(key="lp_labels").set_value("50").run()
    clean(_finished(at))
    assert _accuracy(at) > one
    assert at.query_params == {"lp_enc": "raw", "lp_labels": "50"}


@pytest.mark.slow
def test_all_labels_of_a_small_training_set(tiny, monkeypatch, open_page, clean):
    train = load_fashion_mnist("train", source="bundled")
    idx = np.concatenate([np.flatnonzero(train.labels == c)[:15] for c in range(10)])
    small = ArrayImageDataset(np.array(train.images[idx]), train.labels[idx], train.classes)
    monkeypatch.setattr(resources, "fashion_mnist", lambda: small)
    at = _finished(open_page(PAGE, {"lp_labels": "all", "lp_enc": "random:simclr"}))
    clean(at)
    assert 0.0 <= _accuracy(at) <= 1.0
    assert any("on 150 labelled training images" in c.value for c in at.caption)
    assert not any("random draws" in c.value for c in at.caption)  # "all" is one run


def _hard_row(model: str, epochs: int, accuracy: float) -> dict:
    return {"model": model, "backbone": "vit_tiny_p4_28", "epochs": epochs,
            "accuracy": accuracy, "protocol": "probe on 1,000 labels", "wall_time_s": 12.34}


@pytest.mark.slow
def test_measured_curves_and_hard_exercise_are_shown(tiny, open_page, clean):
    folder = tiny / "results"
    folder.mkdir()
    (folder / "label_efficiency.json").write_text(json.dumps({
        "labels_per_class": [1, 10, 100, 2000],
        "curves": [{"name": "simclr", "label": "SimCLR (measured)",
                    "accuracy": [0.4, 0.6, 0.75, 0.85], "std": [0.05, 0.02, 0.01, 0.0]}]}))
    (folder / "hard_exercise.json").write_text(json.dumps({
        "labelled_subset": 1000, "rows": [
            _hard_row("MAE ViT", 10, 0.7123), _hard_row("Supervised ViT", 10, 0.35),
            _hard_row("MAE ViT", 200, 0.70), _hard_row("Supervised ViT", 200, 0.77)]}))
    at = _finished(open_page(PAGE, {"lp_labels": "1"}))
    clean(at)
    assert [i.value for i in at.info if "probe_table" not in i.value] == []
    (chart,) = at.get("plotly_chart")
    assert "SimCLR (measured)" in chart.proto.spec and "live: SimCLR" in chart.proto.spec
    # predict first: the table waits for a prediction and a click
    assert not [d for d in at.dataframe if "model" in d.value]
    assert at.button(key="lp_predict_reveal").disabled
    at.radio(key="lp_predict_choice").set_value(1).run()  # "Supervised wins at every budget"
    at.button(key="lp_predict_reveal").click().run()
    clean(at)
    assert at.warning[0].value == ("Not what was measured. Measured: MAE + probe wins short, "
                                   "supervised wins long.")
    (hard,) = [d.value for d in at.dataframe if "model" in d.value]
    assert list(hard["model"])[:2] == ["MAE ViT", "Supervised ViT"]
    assert list(hard["accuracy"])[:2] == ["71.2%", "35.0%"]
    verdicts = [m.value for m in at.markdown if m.value.startswith("**Verdict.**")]
    assert any("At 200 epochs, the longest budget, supervised ViT beats MAE" in v
               for v in verdicts)


@pytest.mark.slow
def test_probe_table_and_fine_tuning_have_verdicts(tiny, open_page, clean):
    folder = tiny / "results"
    folder.mkdir()
    rows = [{"name": name, "label": label, "kind": kind, "backbone": "b", "knn_k200": value,
             "knn_k20": value, "linear_all": value, "linear_1000": value}
            for name, label, kind, value in [("dino", "DINO, vit", "ssl", 0.6),
                                             ("raw_pixels", "raw pixels", "raw", 0.8)]]
    (folder / "probe_table.json").write_text(json.dumps({
        "protocol": {"summary": "frozen encoders"}, "few_labels_key": "linear_1000",
        "rows": rows}))
    at = _finished(open_page(PAGE, {"lp_labels": "1"}))
    clean(at)
    table = at.dataframe[0].value
    assert list(table["encoder"]) == ["DINO, vit", "raw pixels"]
    assert list(table["linear (1,000 labels)"]) == ["60.0%", "80.0%"]
    verdicts = [m.value for m in at.markdown if m.value.startswith("**Verdict.**")]
    assert any("Raw pixels, with no network at all, beat DINO on every column" in v
               for v in verdicts)
    # fine-tuning vs scratch from outputs/probe-full (bundled with the checkout)
    assert any("Fine-tuning the pretrained SimCLR on 1,000 labels" in v for v in verdicts)
    # every bundled encoder under the full protocol (outputs/probe-full), raw pixels last
    full = next(d.value for d in at.dataframe if "end to end, 1,000 labels" in d.value.columns)
    assert full["encoder"].iloc[0].startswith("SimCLR · cnn_base_28")
    assert full["encoder"].iloc[-1] == "raw pixels (no network)"
    assert any(v.startswith("**Verdict.** On the full protocol") for v in verdicts)
    assert any("skill-linear-probe-runner.md" in e.label for e in at.expander)


@pytest.mark.slow
def test_broken_result_file_is_a_message(tiny, open_page, clean):
    folder = tiny / "results"
    folder.mkdir()
    (folder / "label_efficiency.json").write_text("{not json")
    (folder / "hard_exercise.json").write_text(json.dumps({"rows": [{"model": "x"}]}))
    at = _finished(open_page(PAGE, {"lp_labels": "1"}))
    clean(at)
    infos = [i.value for i in at.info]
    assert len(infos) == 3 and any("probe_table" in i for i in infos)  # never measured here
    assert len(at.get("plotly_chart")) == 1  # the live point is still drawn


@pytest.mark.slow
@pytest.mark.skipif(resources.bundled_checkpoint("simclr") is None, reason="no bundled SimCLR")
def test_bundled_simclr_probe_agrees_with_its_measured_curve(open_page, clean):
    """The live probe of the bundled SimCLR (3 draws of 10 labels per class, 2,000 test items)
    lands near label_efficiency's measurement of the same checkpoint, drawn beside it."""
    measured = LabelEfficiencyResult.load()
    (curve,) = [c for c in measured.curves if c.name == "simclr"]
    expected = curve.accuracy[measured.labels_per_class.index(10)]
    at = _finished(open_page(PAGE, {"lp_enc": "ckpt:simclr", "lp_labels": "10"}))
    clean(at)
    assert not at.error
    assert _accuracy(at) == pytest.approx(expected, abs=0.08)
    (chart,) = at.get("plotly_chart")
    assert curve.label in chart.proto.spec and "live: SimCLR" in chart.proto.spec
