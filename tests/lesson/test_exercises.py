"""The three predict-first exercises take their answers from the measured numbers."""

from __future__ import annotations

import pytest

from lesson.exercises import Exercise, centring_exercise, hard_exercise, temperature_exercise
from lesson.experiments.dino_collapse import DinoCollapseResult
from tests.lesson.test_verdicts import dino, hard, tau


def test_temperature_answer_follows_the_aligned_losses():
    falls = temperature_exercise(tau([0.001, 1.8], [7.8, 3.5]))
    assert falls.choices[falls.answer] == "It falls"
    assert "falls from 1.8 at τ = 0.5 to 0.001 at τ = 0.05" in falls.reason
    rises = temperature_exercise(tau([2.5, 1.8], [7.8, 3.5]))
    assert rises.choices[rises.answer] == "It rises"
    steady = temperature_exercise(tau([1.85, 1.8], [7.8, 3.5]))
    assert steady.choices[steady.answer] == "It stays about the same"


def _centring(last: dict) -> Exercise:
    return centring_exercise(DinoCollapseResult.from_json({"recipe": {}, "steps": 300,
        "variants": {"no_centering": {
            "label": "sharpening only", "centering": False, "sharpening": True,
            "config": {"teacher_temp": 0.04}, "verdict": "collapsed: x",
            "curve": [{"step": 300.0, "max_entropy": 4.16, **last}]}}}))


@pytest.mark.parametrize(("last", "starts"), [
    ({"dominant_dim_share": 1.0, "teacher_entropy": 0.0}, "It collapses to one dimension"),
    ({"dominant_dim_share": 0.02, "teacher_entropy": 4.15}, "It collapses to uniform"),
    ({"dominant_dim_share": 0.05, "teacher_entropy": 3.6}, "It stays healthy"),
])
def test_centring_answer_follows_the_run_without_centring(last, starts):
    item = _centring(last)
    assert item.choices[item.answer].startswith(starts)
    assert f"{last['dominant_dim_share']:.0%} of the teacher's probability mass" in item.reason


def test_centring_needs_the_run_without_centring():
    with pytest.raises(ValueError, match="no 'no_centering' run"):
        centring_exercise(dino({"healthy": "healthy: x"}))


def test_hard_answer_follows_the_shortest_and_longest_budgets():
    rows = [("MAE TinyUNet", 10, 0.72), ("Supervised TinyUNet", 10, 0.36),
            ("MAE TinyUNet", 200, 0.70), ("Supervised TinyUNet", 200, 0.77)]
    item = hard_exercise(hard(rows))
    assert item.choices[item.answer] == "MAE + probe wins short, supervised wins long"
    rows[2] = ("MAE TinyUNet", 200, 0.80)
    item = hard_exercise(hard(rows))
    assert item.choices[item.answer] == "MAE + probe wins at every budget"
    with pytest.raises(ValueError, match="no budget with both"):
        hard_exercise(hard([("MAE TinyUNet", 10, 0.7)]))


def test_an_answer_must_be_one_of_the_choices():
    with pytest.raises(ValueError, match="answer 2 is not one of 2 choices"):
        Exercise(key="k", title="t", question="q", choices=("a", "b"), answer=2, reason="r",
                 command="c")
