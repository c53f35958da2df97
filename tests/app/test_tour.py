"""The lesson tour (app/tour.py): its steps, in the lesson's order, each a routed page whose
params read every value of the step's preset; the bar a page opened from the tour shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.state import SHELL_KEYS
from app.tour import STEPS, TOUR_KEY, current_step, step_query

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
LESSON_ORDER = ["augmentations", "infonce", "infonce", "dino_collapse", "mae", "linear_probe",
                "picker"]  # views, InfoNCE, temperature, DINO, MAE, probes, picker (issue 14)


def test_the_steps_follow_the_lesson_and_open_routed_pages():
    assert [step.page for step in STEPS] == LESSON_ORDER
    routed = set(re.findall(r'"pages" / "(\w+)\.py"', MAIN.read_text()))
    assert {step.page for step in STEPS} <= routed
    assert all(step.query and step.notice.endswith((".", "?")) for step in STEPS)
    assert TOUR_KEY in SHELL_KEYS  # every page's share keeps the step in the URL


@pytest.mark.parametrize(("query", "page", "expected"), [
    ({"tour": "1"}, "augmentations", 0),
    ({"tour": "3"}, "infonce", 2),
    ({"tour": "3"}, "mae", None),  # the step of another page: no bar here
    ({"tour": "0"}, "augmentations", None),
    ({"tour": str(len(STEPS) + 1)}, "picker", None),
    ({"tour": "two"}, "infonce", None),
    ({}, "infonce", None),
])
def test_current_step_reads_only_a_step_of_this_page(query, page, expected):
    assert current_step(query, page) == expected


def test_step_query_carries_the_preset_the_step_and_presenter_mode():
    assert step_query(2) == {**STEPS[2].query, "tour": "3"}
    assert step_query(0, presenting=True)["presenter"] == "true"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(STEPS)), ids=[s.title for s in STEPS])
def test_each_steps_page_keeps_its_preset_and_shows_the_bar(index, open_page, clean):
    """The page reads every value of the preset (a key it does not know, or a value it cannot
    read or must clamp, would be dropped or changed when it writes its URL back)."""
    step = STEPS[index]
    at = open_page(step.page, step_query(index))
    clean(at)
    assert at.query_params == step_query(index)
    assert any(step.notice in m.value for m in at.markdown)
    assert at.button(key="tour_previous").disabled == (index == 0)
    assert [b.key for b in at.button if b.key in ("tour_next", "tour_home")] == [
        "tour_home" if index == len(STEPS) - 1 else "tour_next"]
