from __future__ import annotations

import multiprocessing
import threading

import pytest

from app import training
from lesson.live import mae, simclr

PAGE = "live_learning"
TINY_SIMCLR = simclr.LiveSimCLRConfig(widths=(4, 8), batch_size=8, proj_hidden_dim=16,
                                      proj_out_dim=8)
TINY_MAE = mae.LiveMAEConfig(depth=1, embed_dim=16, num_heads=1, decoder_dim=16,
                             decoder_heads=1, batch_size=16)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(simclr, "DEFAULT_RECIPE", TINY_SIMCLR)
    monkeypatch.setattr(mae, "DEFAULT_RECIPE", TINY_MAE)


def _stream_children() -> list:
    return [p for p in multiprocessing.active_children() if "stream" in p.name]


def _status(at) -> str:
    return "\n".join(m.value for m in at.markdown if m.value.startswith("**Step "))


def test_defaults_offer_the_switches_and_a_run_button(tiny, open_page, clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error
    assert at.radio(key="live_mode").value == "SimCLR map"
    assert at.select_slider(key="live_temperature").value == pytest.approx(0.2)
    assert at.select_slider(key="live_batch").value == 64
    assert not at.button(key="live_run").disabled
    assert not at.get("plotly_chart")  # nothing before Run
    assert at.query_params == {}


@pytest.mark.slow
def test_a_short_simclr_run_draws_its_map_and_curves(tiny, open_page, clean):
    at = open_page(PAGE)
    at.select_slider(key="live_temperature").set_value(0.5)
    at.select_slider(key="live_batch").set_value(16)
    at.slider(key="live_steps").set_value(10)
    at.button(key="live_run").click().run()
    clean(at)
    assert not at.error and not at.warning
    run = at.session_state["live_simclr"]
    assert [row["step"] for row in run["rows"]] == [0, 10]
    assert run["settings"]["temperature"] == 0.5 and run["settings"]["batch_size"] == 16
    assert len(run["frame"]["points"]) == 1000 and len(run["frame"]["labels"]) == 1000
    assert _status(at).startswith("**Step 10 / 10** · kNN accuracy ")
    assert len(at.get("plotly_chart")) == 2  # the map and the curves
    assert at.query_params == {"live_temperature": "0.5", "live_batch": "16", "live_steps": "10"}
    # the run survives a rerun of the page (a slider moved)
    at.slider(key="live_time_limit").set_value(30).run()
    clean(at)
    assert len(at.get("plotly_chart")) == 2 and _status(at).startswith("**Step 10 / 10**")
    assert not _stream_children()


@pytest.mark.slow
def test_a_short_mae_run_draws_its_strip_and_mse(tiny, open_page, clean):
    at = open_page(PAGE)
    at.radio(key="live_mode").set_value("MAE strip").run()
    assert not at.select_slider  # no SimCLR switches in this mode
    at.slider(key="live_steps").set_value(20)
    at.button(key="live_run").click().run()
    clean(at)
    assert not at.error and not at.warning
    run = at.session_state["live_mae"]
    assert [row["step"] for row in run["rows"]] == [0, 20]
    assert run["rows"][-1]["strip_mse"] < run["rows"][0]["strip_mse"]
    assert len(run["strip"]["images"]) == 10
    assert "biharmonic inpainting's" in _status(at)
    assert len(at.image) == 1 and len(at.get("plotly_chart")) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "state_key"), [("SimCLR map", "live_simclr"),
                                                 ("MAE strip", "live_mae")])
def test_a_page_that_goes_away_stops_the_run_and_frees_its_slot(tiny, open_page, clean,
                                                                monkeypatch, mode, state_key):
    """The page's loop ends when the session's run is abandoned (a rerun, Stop, another page,
    a closed tab: ``training.run_abandoned``); here it is abandoned as the first frame
    arrives. The child ends, the slot is free, and what was drawn stays."""
    slots = training.TrainingSlots(1)
    monkeypatch.setattr(training, "training_slots", lambda: slots)
    original = training.live_training
    gone = threading.Event()

    def abandoned_after_first_frame(fn, *args, **kwargs):
        for frame in original(fn, *args, abandoned=gone.is_set, **kwargs):
            gone.set()  # the page is left as soon as it has drawn a frame
            yield frame

    monkeypatch.setattr(training, "live_training", abandoned_after_first_frame)
    at = open_page(PAGE)
    at.radio(key="live_mode").set_value(mode)
    at.slider(key="live_steps").set_value(2000)
    at.button(key="live_run").click().run()
    clean(at)
    run = at.session_state[state_key]
    assert [row["step"] for row in run["rows"]] == [0]  # stopped long before 2000 steps
    assert slots.live() == 0 and not _stream_children()
    assert _status(at).startswith("**Step 0 / 2000** — stopped")


def test_every_slot_taken_gives_a_message_not_a_run(tiny, open_page, clean, monkeypatch):
    slots = training.TrainingSlots(1)
    slots.acquire("another student", 20.0)
    monkeypatch.setattr(training, "training_slots", lambda: slots)
    at = open_page(PAGE)
    at.button(key="live_run").click().run()
    clean(at)
    assert len(at.warning) == 1 and "The class is using the one training slot" in (
        at.warning[0].value)
    assert "live_simclr" not in at.session_state


def test_urls_with_bad_values_are_snapped_or_ignored(tiny, open_page, clean):
    at = open_page(PAGE, {"live_temperature": "0.07", "live_batch": "100000",
                          "live_mode": "nonsense", "live_steps": "-5"})
    clean(at)
    assert not at.error
    assert at.select_slider(key="live_temperature").value == pytest.approx(0.05)
    assert at.select_slider(key="live_batch").value == 256
    assert at.radio(key="live_mode").value == "SimCLR map"
    assert at.slider(key="live_steps").value == 10


def test_settings_the_library_refuses_give_a_message_and_disable_run(open_page, clean,
                                                                       monkeypatch):
    import dataclasses

    # a recipe whose learning rate the library would refuse (a hand-edited default)
    bad = dataclasses.replace(TINY_SIMCLR)
    object.__setattr__(bad, "lr", -1.0)
    monkeypatch.setattr(simclr, "DEFAULT_RECIPE", bad)
    at = open_page(PAGE)
    clean(at)
    assert len(at.error) == 1 and "lr must be a positive number" in at.error[0].value
    assert at.button(key="live_run").disabled


def test_a_run_that_fails_says_so_and_keeps_what_it_drew(tiny, open_page, clean, monkeypatch):
    """An error in the trainer (here after its first frame) is a message, never a traceback."""
    from app import workers

    first = {"step": 0, "total_steps": 10, "loss": None, "knn": 0.5, "silhouette": 0.0,
             "points": [[0.0, 0.0]] * 3, "labels": [0, 1, 2], "elapsed_s": 1.0,
             "steps_per_s": 0.0, "done": False}

    def failing_run(cfg, **kwargs):
        yield first
        raise RuntimeError("out of memory in the trainer")

    monkeypatch.setenv(workers.PROCESSES_ENV, "0")  # in this thread, so the patch is seen
    monkeypatch.setattr(simclr, "live_run", failing_run)
    at = open_page(PAGE)
    at.button(key="live_run").click().run()
    clean(at)
    assert len(at.error) == 1
    assert at.error[0].value == "The run stopped: out of memory in the trainer"
    assert [row["step"] for row in at.session_state["live_simclr"]["rows"]] == [0]
