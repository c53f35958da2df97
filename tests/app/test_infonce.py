from __future__ import annotations

import math

import pytest
import torch

from app.resources import bundled_checkpoint
from lesson import results
from lesson.experiments.infonce_tau import InfonceTauResult
from ssl_core import paths
from ssl_core.checkpoints import save_checkpoint
from ssl_core.methods import build_method, method_spec

PAGE = "infonce"


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _figures(at) -> list:
    return at.get("plotly_chart")


def test_defaults_render_with_the_lesson_claim_and_the_measurement(open_page, clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error
    assert len(_figures(at)) == 3  # heat map, anchor weights, temperature sweep
    metrics = _metrics(at)
    # N = 16, noise 0.5, tau = 0.1: aligned views beat the uniform softmax by far.
    assert float(metrics["log(2N−1)"]) == pytest.approx(math.log(31), abs=1e-3)
    assert float(metrics["InfoNCE loss"]) < math.log(31) - 1
    # The lesson's claim and the live measurement, side by side.
    assert metrics["Lesson: log(2N−1) at N = 16"] == "3.43"
    measured, sem = metrics["Measured: D = 32, τ = 0.1"].split(" ± ")
    assert 4.5 < float(measured) < 5.0 and 0 < float(sem) < 0.1
    assert metrics["Upper bound log(2N−1) + 1/(2Dτ²)"] == "5.00"
    if bundled_checkpoint("simclr") is None:
        assert any("bundled SimCLR checkpoint is not present" in i.value for i in at.info)
        assert not at.radio  # no mode choice without the checkpoint
    else:
        assert at.radio(key="nce_mode").options == ["Synthetic",
                                                    "Real pairs through the SimCLR encoder"]
    assert at.query_params == {}


def test_zero_temperature_gets_a_clear_message_and_keeps_the_figures(open_page, clean):
    at = open_page(PAGE)
    at.slider(key="nce_tau").set_value(0.05).run()
    at.slider(key="nce_tau").set_value(0.0).run()
    clean(at)
    assert len(at.error) == 1
    assert "tau must be a finite temperature > 0" in at.error[0].value
    assert "τ = 0.05, the last valid value" in at.error[0].value
    assert len(_figures(at)) == 3 and "InfoNCE loss" in _metrics(at)
    at.slider(key="nce_tau").set_value(0.2).run()
    clean(at)
    assert not at.error


@pytest.mark.slow
def test_extreme_slider_values(open_page, clean):
    at = open_page(PAGE)
    for n, d, noise, tau, random in ((2, 1, 0.0, 0.01, False), (2, 512, 3.0, 2.0, True),
                                     (1024, 1, 0.0, 2.0, False), (1024, 512, 3.0, 0.01, True)):
        at.slider(key="nce_n").set_value(n)
        at.slider(key="nce_d").set_value(d)
        at.slider(key="nce_noise").set_value(noise)
        at.slider(key="nce_tau").set_value(tau)
        at.checkbox(key="nce_random").set_value(random)
        at.slider(key="nce_anchor").set_value(0)
        at.run()
        clean(at)
        assert not at.error
        assert len(_figures(at)) == 3
        assert float(_metrics(at)["log(2N−1)"]) == pytest.approx(math.log(2 * n - 1), abs=1e-3)
        assert at.slider(key="nce_anchor").max == 2 * n - 1


def test_anchor_is_pulled_into_range_when_the_batch_shrinks(open_page, clean):
    at = open_page(PAGE)
    at.slider(key="nce_anchor").set_value(31).run()
    at.slider(key="nce_n").set_value(2).run()
    clean(at)
    assert at.slider(key="nce_anchor").value == 3
    assert at.toggle(key="nce_negonly").value is False
    at.toggle(key="nce_negonly").set_value(True).run()
    clean(at)
    assert at.query_params["nce_negonly"] == "true"


@pytest.mark.parametrize("index", range(4))
def test_each_preset(open_page, clean, index):
    at = open_page(PAGE)
    button = at.button(key=f"nce_preset_{index}")
    label = button.label
    button.click().run()
    clean(at)
    assert not at.error and len(_figures(at)) == 3
    loss, chance = (float(_metrics(at)[k]) for k in ("InfoNCE loss", "log(2N−1)"))
    if label == "Lesson: random pairs":
        assert at.checkbox(key="nce_random").value is True
        assert loss > chance  # a cold tau makes random pairs worse than log(2N - 1)
    elif label == "Large batch":
        assert at.slider(key="nce_n").value == 512 and at.slider(key="nce_d").value == 128
    else:
        assert loss < chance


def test_query_params_restore_the_view(open_page, clean):
    at = open_page(PAGE, query={"nce_n": "64", "nce_tau": "0.05", "nce_random": "true",
                                "nce_anchor": "5000", "nce_d": "lots", "nce_mode": "nope"})
    clean(at)
    assert at.slider(key="nce_n").value == 64
    assert at.slider(key="nce_tau").value == 0.05
    assert at.checkbox(key="nce_random").value is True
    assert at.slider(key="nce_anchor").value == 127  # 5000 -> 2047 (URL) -> 2N - 1 (slider)
    assert at.slider(key="nce_d").value == 32
    assert at.query_params == {"nce_n": "64", "nce_tau": "0.05", "nce_random": "true",
                               "nce_anchor": "127"}
    at.slider(key="nce_tau").set_value(0.1).run()
    assert "nce_tau" not in at.query_params


# --- real mode: pairs through a SimCLR checkpoint (a tiny one saved in tmp, or none) -------------

REAL = "Real pairs through the SimCLR encoder"


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    """An empty checkpoints folder and an empty results folder in place of the bundled ones."""
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path / "checkpoints")
    monkeypatch.setattr(paths, "results_dir", lambda: tmp_path / "results")
    return tmp_path / "checkpoints"


def _save_tiny_simclr(directory) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method("simclr", backbone="cnn_small_28",
                              backbone_kwargs={"widths": [4, 8, 8, 8]},
                              config={"proj_hidden_dim": 16, "proj_out_dim": 8})
    save_checkpoint(directory, state_dict=method.state_dict(), config=method_spec(method))


def _batch_result() -> dict:
    """A simclr_batch result of the documented shape (test data, not a measurement)."""
    return {"images_seen": 4096, "finding": "Test finding text.", "claim": "Test claim",
            "runs": [
        {"batch_size": size, "steps": 4096 // size, "lr": 0.001, "wall_time_s": 1.0,
         "curve": [{"step": s, "images_seen": s * size, "knn_k200": acc, "knn_k20": acc - 0.01}
                   for s, acc in ((0, 0.5), (4096 // size, top))]}
        for size, top in ((512, 0.7), (32, 0.75))]}


def test_without_a_checkpoint_real_mode_is_not_offered(checkpoints, open_page, clean):
    at = open_page(PAGE, {"nce_mode": "real"})
    clean(at)
    assert not at.radio
    assert any("bundled SimCLR checkpoint is not present" in i.value for i in at.info)
    assert len(_figures(at)) == 3 and "InfoNCE loss" in _metrics(at)
    assert at.slider(key="nce_n").value == 16  # the synthetic inputs


def test_real_mode_with_a_tiny_checkpoint(checkpoints, open_page, clean):
    _save_tiny_simclr(checkpoints / "simclr")
    at = open_page(PAGE, {"nce_mode": "real", "nce_rn": "8", "nce_seed": "3"})
    clean(at)
    assert not at.error
    assert at.radio(key="nce_mode").value == "real"
    assert at.slider(key="nce_rn").value == 8 and at.slider(key="nce_anchor").max == 15
    metrics = _metrics(at)
    assert float(metrics["log(2N−1)"]) == pytest.approx(math.log(15), abs=1e-3)
    loss = float(metrics["InfoNCE loss"])
    assert 0 < loss < 20
    assert any("projections z" in m.value for m in at.markdown)
    # 6 pairs drawn, and what was sampled for each of their 12 views
    tiles = at.get("image")[0]
    assert len(tiles.captions) == 6 and tiles.captions[0].startswith("pair 0: image ")
    sampled = at.dataframe[0].value
    assert len(sampled) == 12 and sampled["sampled"].str.startswith("crop").all()
    assert len(_figures(at)) == 3  # heat map, anchor weights, this batch's sweep
    # no measured results in the (empty) results folder: each section says what makes it
    infos = " ".join(i.value for i in at.info)
    assert "lesson.experiments.simclr_batch" in infos
    assert "lesson.experiments.infonce_tau" in infos
    # moving tau recomputes the loss only; the batch (log(2N-1), views) stays
    at.slider(key="nce_tau").set_value(0.5).run()
    clean(at)
    assert float(_metrics(at)["InfoNCE loss"]) != loss
    assert float(_metrics(at)["log(2N−1)"]) == pytest.approx(math.log(15), abs=1e-3)
    assert at.get("image")[0].proto == tiles.proto
    at.radio(key="nce_feat").set_value("backbone").run()
    clean(at)
    assert at.query_params["nce_feat"] == "backbone"
    assert at.query_params["nce_mode"] == "real"


@pytest.mark.slow
@pytest.mark.parametrize(("n", "tau", "anchor"), [(2, 0.01, 3), (512, 2.0, 1023)])
def test_real_mode_extremes(checkpoints, open_page, clean, n, tau, anchor):
    _save_tiny_simclr(checkpoints / "simclr")
    at = open_page(PAGE, {"nce_mode": "real", "nce_rn": str(n), "nce_tau": str(tau),
                          "nce_anchor": str(anchor)})
    clean(at)
    assert not at.error
    assert at.slider(key="nce_anchor").value == anchor
    assert float(_metrics(at)["log(2N−1)"]) == pytest.approx(math.log(2 * n - 1), abs=1e-3)
    at.slider(key="nce_tau").set_value(0.0).run()
    clean(at)
    assert len(at.error) == 1 and "the last valid value" in at.error[0].value


def test_real_mode_shows_the_measured_results(checkpoints, open_page, clean):
    _save_tiny_simclr(checkpoints / "simclr")
    results.save_result("simclr_batch", _batch_result(), command="test")
    results.save_result("infonce_tau", {  # the documented shape; test data
        "taus": [0.05, 0.5],
        "synthetic": {"n": 16, "d": 32, "noise": 0.5, "seeds": 3, "aligned": [0.01, 1.5],
                      "random": [7.8, 3.4]},
        "real": {"encoder": "simclr", "n_pairs": 64, "seeds": [0], "reference_loss": 4.85,
                 "loss": [1.25, 5.5]}}, command="test")
    at = open_page(PAGE, {"nce_mode": "real", "nce_rn": "4"})
    clean(at)
    assert not at.error
    table = at.dataframe[1].value
    assert list(table["τ"]) == [0.05, 0.5] and list(table["SimCLR z (real pairs)"]) == [1.25, 5.5]
    metrics = _metrics(at)
    assert metrics["kNN accuracy, batch 32"] == "75.0%"
    assert metrics["kNN accuracy, batch 512"] == "70.0%"
    assert any("Test finding text." in m.value for m in at.markdown)
    assert any("The lesson's claim.** Test claim." in m.value for m in at.markdown)
    assert len(_figures(at)) == 4  # + accuracy against images seen
    verdicts = [m.value for m in at.markdown if m.value.startswith("**Verdict.**")]
    assert verdicts == ["**Verdict.** As τ drops from 0.5 to 0.05, the loss of aligned toy "
                        "pairs falls from 1.5 to 0.01; the loss of random toy pairs rises from "
                        "3.4 to 7.8; the loss of the trained SimCLR on real pairs falls from 5.5 "
                        "to 1.25. A cold τ rewards an encoder that already tells positives from "
                        "negatives and punishes one that cannot."]
    # the temperature exercise is answered from the same file: predict, reveal, reason
    at.radio(key="nce_predict_choice").set_value(0).run()
    at.button(key="nce_predict_reveal").click().run()
    clean(at)
    assert at.success[0].value == "Right. Measured: It falls."
    assert any("falls from 1.5 at τ = 0.5 to 0.01 at τ = 0.05" in m.value for m in at.markdown)
    results.save_result("simclr_batch", {"runs": "not a list"}, command="test")
    at.run()
    clean(at)
    assert any("unexpected shape" in e.value for e in at.error)


def test_an_unreadable_checkpoint_falls_back_to_synthetic(checkpoints, open_page, clean):
    (checkpoints / "simclr").mkdir(parents=True)
    (checkpoints / "simclr" / "model.safetensors").write_bytes(b"not safetensors")
    at = open_page(PAGE, {"nce_mode": "real"})
    clean(at)
    assert len(at.error) == 1 and "could not be used" in at.error[0].value
    assert len(_figures(at)) == 3 and at.slider(key="nce_n").value == 16


@pytest.mark.slow
@pytest.mark.skipif(bundled_checkpoint("simclr") is None, reason="no bundled SimCLR")
def test_real_mode_through_the_bundled_simclr_matches_its_measurement(open_page, clean):
    """The page embeds a real batch of 512 pairs through the bundled SimCLR (whatever its
    backbone) and gets the loss that infonce_tau measured for that checkpoint (mean of 3 seeds;
    the page shows one of them)."""
    measured = InfonceTauResult.load()
    assert measured.real is not None and measured.real.n_pairs == 512
    tau = 0.1
    expected = measured.real.loss[measured.taus.index(tau)]
    at = open_page(PAGE, {"nce_mode": "real", "nce_rn": "512", "nce_tau": str(tau),
                          "nce_seed": "0"})
    clean(at)
    assert not at.error
    metrics = _metrics(at)
    assert float(metrics["log(2N−1)"]) == pytest.approx(math.log(1023), abs=1e-3)
    assert float(metrics["InfoNCE loss"]) == pytest.approx(expected, abs=0.15)
