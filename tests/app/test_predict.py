"""The predict-first widget: nothing is revealed before a prediction and a click; then the
measured answer, right or not, and its reason; revealed stays revealed."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page() -> None:
    from app.predict import predict_first
    from lesson.exercises import Exercise

    predict_first(Exercise(key="k", title="Exercise", question="Up or down?",
                           choices=("Up", "Down"), answer=1, reason="Measured: 0.2 -> 0.1.",
                           command="python3 -m lesson.experiments.x"), key="q")


def _run() -> AppTest:
    return AppTest.from_function(_page, default_timeout=60).run()


def test_the_answer_needs_a_prediction_then_a_click():
    at = _run()
    assert not at.exception
    assert at.radio(key="q_choice").value is None
    assert at.button(key="q_reveal").disabled
    assert not at.success and not at.warning
    assert not any("Measured: 0.2" in m.value for m in at.markdown)
    at.radio(key="q_choice").set_value(1).run()
    assert not at.button(key="q_reveal").disabled and not at.success
    at.button(key="q_reveal").click().run()
    assert at.success[0].value == "Right. Measured: Down."
    assert any("Measured: 0.2 -> 0.1." in m.value for m in at.markdown)
    at.radio(key="q_choice").set_value(0).run()  # a change of mind after the answer
    assert at.warning[0].value == "Not what was measured. Measured: Down."
    assert any("Measured: 0.2 -> 0.1." in m.value for m in at.markdown)


def test_a_wrong_prediction_is_told_so():
    at = _run()
    at.radio(key="q_choice").set_value(0).run()
    at.button(key="q_reveal").click().run()
    assert not at.success and at.warning[0].value == "Not what was measured. Measured: Down."
    assert any("lesson.experiments.x" in c.value for c in at.caption)
