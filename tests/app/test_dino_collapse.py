from __future__ import annotations

import pytest

from lesson.exercises import centring_exercise
from lesson.experiments.dino_collapse import DinoCollapseResult, run
from lesson.live import dino as live
from lesson.live.dino import VARIANTS, LiveDINOConfig
from lesson.results import save_result
from ssl_core import paths

PAGE = "dino_collapse"
# A DINO small enough for a live run in a test: one block of width 16, K = 16.
TINY = LiveDINOConfig(depth=1, embed_dim=16, num_heads=1, out_dim=16, head_hidden_dim=32,
                      head_bottleneck_dim=8, n_local=1, batch_size=16, lr=1e-3)


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    """A real dino_collapse result of the tiny recipe (4 steps per variant), in its own folder."""
    folder = tmp_path_factory.mktemp("results")
    data = run(TINY, steps=4, every=2, knn_every=4, knn_train_per_class=2,
               knn_test_per_class=1, probe_size=16)
    save_result("dino_collapse", data, command="tests: run(TINY, steps=4)", directory=folder)
    return folder, data


@pytest.fixture
def no_result(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "results_dir", lambda: tmp_path)
    monkeypatch.setattr(live, "DEFAULT_RECIPE", TINY)
    return tmp_path


@pytest.fixture
def with_result(tiny_result, monkeypatch):
    folder, data = tiny_result
    monkeypatch.setattr(paths, "results_dir", lambda: folder)
    monkeypatch.setattr(live, "DEFAULT_RECIPE", TINY)
    return data


def _figures(at) -> list:
    return at.get("plotly_chart")


def _markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_defaults_without_the_result_say_how_to_make_it(no_result, open_page, clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error
    assert any("python3 -m lesson.experiments.dino_collapse" in i.value for i in at.info)
    assert not _figures(at)  # nothing measured, nothing run yet
    assert at.toggle(key="dino_centering").value and at.toggle(key="dino_sharpening").value
    assert at.slider(key="dino_teacher_temp").value == pytest.approx(0.04)
    assert not at.button(key="dino_run").disabled
    assert "centring stops any one dimension from winning" in _markdown(at)
    assert at.query_params == {}


def test_defaults_with_the_result_show_the_four_measured_runs(with_result, open_page, clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error and not at.info
    assert len(_figures(at)) == 5  # four metric panels and the teacher's output profile
    panel = _figures(at)[0].proto.spec
    for variant in with_result["variants"].values():
        assert variant["label"] in panel  # every variant is drawn
    assert with_result["variants"]["healthy"]["verdict"] in _markdown(at)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 4
    assert f"**Verdict.** After {with_result['steps']} steps" in _markdown(at)
    # predict first: the centring exercise, answered from the run without centring
    assert at.radio(key="dino_predict_choice").value is None
    assert at.button(key="dino_predict_reveal").disabled
    at.radio(key="dino_predict_choice").set_value(1).run()
    at.button(key="dino_predict_reveal").click().run()
    clean(at)
    item = centring_exercise(DinoCollapseResult.from_json(with_result))  # the tiny run's
    assert bool(at.success) == (item.answer == 1) and bool(at.warning) == (item.answer != 1)
    assert "The centre buffer is a running mean" in _markdown(at)


@pytest.mark.parametrize(("index", "variant"), list(enumerate(VARIANTS)))
def test_each_preset_sets_the_switches_and_shows_its_run(with_result, open_page, clean, index,
                                                         variant):
    at = open_page(PAGE)
    at.slider(key="dino_teacher_temp").set_value(0.1).run()
    at.button(key=f"dino_preset_{index}").click().run()
    clean(at)
    assert not at.error
    _, centering, sharpening = VARIANTS[variant]
    assert at.toggle(key="dino_centering").value is centering
    assert at.toggle(key="dino_sharpening").value is sharpening
    assert at.slider(key="dino_teacher_temp").value == pytest.approx(0.04)  # reset by the preset
    assert at.radio(key="dino_shown").value == variant
    shown = with_result["variants"][variant]
    assert f"**{shown['label']}** — {shown['verdict']}" in [m.value for m in at.markdown]
    assert len(_figures(at)) == 5


@pytest.mark.slow
def test_a_short_live_run_draws_its_charts_and_verdict(no_result, open_page, clean):
    at = open_page(PAGE)
    at.slider(key="dino_steps").set_value(10)
    at.toggle(key="dino_centering").set_value(False)
    at.button(key="dino_run").click().run()
    clean(at)
    assert not at.error
    verdicts = [m.value for m in at.markdown if m.value.startswith("**Verdict:**")]
    assert len(verdicts) == 1
    assert "collapsed" in verdicts[0] or "healthy" in verdicts[0]
    assert any(c.value.startswith("10 / 10 steps in ") and "centring off" in c.value
               for c in at.caption)
    assert len(_figures(at)) == 5  # the live panels and profile; no measured result here
    assert "this run" in _figures(at)[0].proto.spec
    live = at.session_state["dino_live"]
    assert [row["step"] for row in live["rows"]] == [5, 10]
    assert live["settings"]["centering"] is False
    # the run survives a rerun of the page (another widget moved)
    at.slider(key="dino_student_temp").set_value(0.2).run()
    clean(at)
    assert len(_figures(at)) == 5


def test_a_run_stopped_by_the_time_limit_says_steps_done_of_steps_asked(no_result, open_page,
                                                                        clean):
    at = open_page(PAGE)
    assert at.slider(key="dino_steps").value == live.LIVE_STEPS  # the default asks this many
    rows = [{"step": s, "teacher_entropy": 1.0, "max_entropy": 2.77, "marginal_entropy": 2.0,
             "kl_teacher_student": 0.3, "loss": 1.3, "output_std": 0.1, "output_std_ref": 0.25,
             "dominant_dim_share": 0.2, "argmax_mode_share": 0.3, "effective_rank": 3.0}
            for s in (5, 10, 15, 20, 21)]
    at.session_state["dino_live"] = dict(
        rows=rows, verdict="healthy: a stand-in", histogram=[1 / 16] * 16,
        row_profile=[1 / 16] * 16, steps_per_s=0.7, elapsed_s=30.0, steps=40,
        settings=TINY.to_dict())
    at.run()
    clean(at)
    assert "**Verdict:** healthy: a stand-in" in [m.value for m in at.markdown]
    assert any(c.value.startswith("21 / 40 steps in 30.0 s (0.7 steps/s) (stopped by the time "
                                  "limit)") for c in at.caption)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("dino_teacher_temp", 0.0, "teacher_temp must be a positive finite temperature"),
        ("dino_student_temp", 0.0, "student_temp must be a positive finite temperature"),
        ("dino_ema", 1.0, "At 1.0 the teacher never leaves its random start"),
    ],
)
def test_bad_values_give_a_message_and_disable_run(no_result, open_page, clean, key, value,
                                                   message):
    at = open_page(PAGE)
    at.slider(key=key).set_value(value).run()
    clean(at)
    assert len(at.error) == 1 and message in at.error[0].value
    assert at.button(key="dino_run").disabled
    assert any("python3 -m lesson.experiments.dino_collapse" in i.value for i in at.info)


def test_other_extremes_are_valid(no_result, open_page, clean):
    at = open_page(PAGE)
    for settings in ({"dino_center_momentum": 0.0, "dino_ema": 0.8, "dino_teacher_temp": 0.3,
                      "dino_student_temp": 0.5, "dino_steps": 1000, "dino_time_limit": 60},
                     {"dino_center_momentum": 1.0, "dino_ema": 0.999, "dino_teacher_temp": 0.005,
                      "dino_student_temp": 0.01, "dino_steps": 10, "dino_time_limit": 5}):
        for key, value in settings.items():
            at.slider(key=key).set_value(value)
        at.run()
        clean(at)
        assert not at.error
        assert not at.button(key="dino_run").disabled
    # without sharpening the teacher temperature is unused, so 0 is no error
    at.toggle(key="dino_sharpening").set_value(False)
    at.slider(key="dino_teacher_temp").set_value(0.0).run()
    clean(at)
    assert not at.error and at.slider(key="dino_teacher_temp").disabled


def test_a_malformed_result_gives_a_message(no_result, open_page, clean):
    (no_result / "dino_collapse.json").write_text('{"steps": 3, "variants": {"healthy": {}}}')
    at = open_page(PAGE)
    clean(at)
    assert len(at.error) == 1 and "unexpected shape" in at.error[0].value
    (no_result / "dino_collapse.json").write_text("not json")
    at = open_page(PAGE)
    clean(at)
    assert len(at.error) == 1 and "could not be read" in at.error[0].value


def test_query_params_round_trip(no_result, open_page, clean):
    query = {"dino_centering": "false", "dino_teacher_temp": "0.07", "dino_ema": "0.95",
             "dino_steps": "300"}
    at = open_page(PAGE, query)
    clean(at)
    assert at.toggle(key="dino_centering").value is False
    assert at.slider(key="dino_teacher_temp").value == pytest.approx(0.07)
    assert at.slider(key="dino_ema").value == pytest.approx(0.95)
    assert at.slider(key="dino_steps").value == 300
    assert at.query_params == query
    at.toggle(key="dino_centering").set_value(True).run()
    assert "dino_centering" not in at.query_params
