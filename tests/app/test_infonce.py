from __future__ import annotations

import math

import pytest

from app.resources import bundled_checkpoint

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
