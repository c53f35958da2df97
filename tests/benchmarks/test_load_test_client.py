"""benchmarks/load_test.py's client: a widget drawn by a fragment reruns only that fragment."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import load_test  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.Delta_pb2 import Delta  # noqa: E402


def slider_delta(widget_id: str, fragment_id: str = "") -> Delta:
    delta = Delta(fragment_id=fragment_id)
    slider = delta.new_element.slider
    slider.id, slider.min, slider.max, slider.step = widget_id, 0.0, 1.0, 0.1
    slider.default.append(0.5)
    return delta


def test_the_client_remembers_which_fragment_drew_each_widget() -> None:
    session = load_test.Session("ws://unused")
    run = load_test.Run(latency_s=0.0, page="infonce", status="ok")
    session._read_delta(slider_delta("in_fragment", "frag-1"), run)
    session._read_delta(slider_delta("in_page"), run)
    assert session.widgets["in_fragment"].fragment_id == "frag-1"
    assert session.widgets["in_page"].fragment_id == ""


def test_a_move_inside_a_fragment_asks_for_that_fragment_only() -> None:
    session = load_test.Session("ws://unused")
    moved = BackMsg.FromString(session._back_msg(fragment_id="frag-1", auto=False))
    assert moved.rerun_script.fragment_id == "frag-1"
    assert not moved.rerun_script.is_auto_rerun  # a user's move, not a run_every tick
    tick = BackMsg.FromString(session._back_msg(fragment_id="frag-1"))
    assert tick.rerun_script.is_auto_rerun
    full = BackMsg.FromString(session._back_msg())
    assert full.rerun_script.fragment_id == ""
