"""Live trainings bounded: one per session, a server-wide cap, stopped when the page goes
(issue 16, item 2)."""

from __future__ import annotations

import itertools
import multiprocessing
import re
import threading
import time

import pytest
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests

from app import training, workers
from lesson.live import dino as live

from .test_dino_collapse import TINY


def test_slot_count_from_the_environment_or_half_the_cores():
    assert training.slot_count({}, cpus=8) == 4
    assert training.slot_count({}, cpus=1) == 1
    assert training.slot_count({training.SLOTS_ENV: "3"}, cpus=8) == 3
    assert training.slot_count({training.SLOTS_ENV: "0"}, cpus=8) == 4
    assert training.slot_count({training.SLOTS_ENV: "many"}, cpus=2) == 1


def test_the_cap_holds_across_eight_sessions_and_says_when_to_come_back():
    now = [100.0]
    slots = training.TrainingSlots(3, clock=lambda: now[0])
    leases, refused = [], []
    for i in range(8):
        now[0] += 1.0
        try:
            leases.append(slots.acquire(f"session{i}", 30.0))
        except training.SlotsFull as full:
            refused.append(str(full))
    assert len(leases) == 3 and slots.live() == 3 and len(refused) == 5
    # the first lease started at 101 and ends at 131; the last refusal came at 108
    assert refused[-1] == "The class is using all 3 training slots — try again in about 23 s."
    slots.release(leases[0])
    assert slots.acquire("session7", 30.0).session == "session7" and slots.live() == 3


def test_a_new_run_of_a_session_stops_its_previous_one():
    slots = training.TrainingSlots(2)
    first = slots.acquire("s", 30.0)
    threading.Timer(0.2, lambda: first.stop.is_set() and slots.release(first)).start()
    second = slots.acquire("s", 30.0)
    assert first.stop.is_set() and first.released.is_set() and slots.live() == 1
    assert second is not first
    stuck = slots.acquire("t", 30.0)  # a run that never lets go
    with pytest.raises(training.SlotsFull, match="Your previous run is still stopping"):
        slots.acquire("t", 30.0, stop_wait_s=0.1)
    assert stuck.stop.is_set()


def _stream_children() -> list:
    return [p for p in multiprocessing.active_children()
            if p.name.startswith(workers.CHILD_PREFIX + "stream")]


@pytest.mark.slow  # starts twelve child processes
def test_twelve_rapid_runs_leave_at_most_one_live_child_for_the_session(wait_until):
    slots = training.TrainingSlots(4)
    refused, most, seen = [], [0], set()
    stop_sampling = threading.Event()

    def run() -> None:
        reports = training.live_training(itertools.starmap, time.sleep, [(0.05,)] * 100_000,
                                         seconds=30.0, slots=slots, session="student",
                                         abandoned=lambda: False)
        try:
            for _ in reports:
                pass
        except training.SlotsFull:
            refused.append(1)

    def sample() -> None:
        while not stop_sampling.is_set():
            children = _stream_children()
            seen.update(child.pid for child in children)
            most[0] = max(most[0], len(children))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    runs = []
    for _ in range(12):
        runs.append(threading.Thread(target=run))
        runs[-1].start()
        time.sleep(0.3)
    # the last run may still wait for the one before it to stop (slow on a loaded machine)
    assert wait_until(lambda: sum(t.is_alive() for t in runs) == 1 and slots.live() == 1
                      and len(_stream_children()) == 1)
    alive_at_end = len(_stream_children())
    slots._leases["student"].stop.set()  # end the last run
    for thread in runs:
        thread.join(timeout=30)
    stop_sampling.set()
    sampler.join()
    assert most[0] == 1 and alive_at_end == 1, (most[0], alive_at_end)
    assert len(seen) >= 2, "later runs replaced earlier ones"
    assert slots.live() == 0 and not _stream_children()


def test_an_abandoned_page_ends_its_child_within_a_poll(wait_until):
    gone = threading.Event()
    reports = training.live_training(itertools.starmap, time.sleep, [(10.0,)] * 10,
                                     seconds=30.0, slots=training.TrainingSlots(1),
                                     session="s", abandoned=gone.is_set)
    done = threading.Event()
    threading.Thread(target=lambda: (list(reports), done.set())).start()
    assert wait_until(lambda: len(_stream_children()) == 1)
    gone.set()  # the child is asleep for 10 s and reports nothing meanwhile
    assert done.wait(5.0) and not _stream_children()  # stopped, not waited out


def test_run_abandoned_reads_streamlits_pending_request():
    """run_abandoned relies on ScriptRequests._state (not public): this fails if it moves."""
    requests = ScriptRequests()
    assert requests._state.name == "CONTINUE"
    requests.request_rerun(RerunData())
    assert requests._state.name == "RERUN"
    requests.request_stop()
    assert requests._state.name == "STOP"
    assert training.run_abandoned() is False  # outside a script run


def test_the_page_says_when_every_slot_is_taken(monkeypatch, open_page, clean, tmp_path):
    monkeypatch.setattr(live, "DEFAULT_RECIPE", TINY)
    slots = training.TrainingSlots(1)
    slots.acquire("another student", 20.0)
    monkeypatch.setattr(training, "training_slots", lambda: slots)
    at = open_page("dino_collapse")
    at.slider(key="dino_steps").set_value(10)
    at.button(key="dino_run").click().run()
    clean(at)
    assert len(at.warning) == 1 and re.fullmatch(
        r"The class is using the one training slot — try again in about (\d+) s\.",
        at.warning[0].value), [w.value for w in at.warning]
    assert 1 <= int(re.findall(r"\d+", at.warning[0].value)[0]) <= 20
    assert "dino_live" not in at.session_state


def test_of_two_waiting_requests_of_a_session_the_newest_wins():
    slots = training.TrainingSlots(2)
    first = slots.acquire("s", 30.0)
    results = {}

    def request(name: str) -> None:
        try:
            results[name] = slots.acquire("s", 30.0)
        except training.SlotsFull as full:
            results[name] = full
    older = threading.Thread(target=request, args=("older",))
    older.start()
    time.sleep(0.1)
    newer = threading.Thread(target=request, args=("newer",))
    newer.start()
    time.sleep(0.1)
    slots.release(first)
    older.join(5)
    newer.join(5)
    assert isinstance(results["older"], training.SlotsFull)
    assert isinstance(results["newer"], training.Lease) and slots.live() == 1
