"""Predict first: the student picks what they expect, then reveals the measured answer.

:func:`predict_first` draws one :class:`lesson.exercises.Exercise`: a radio of its choices with
nothing picked (``{key}_choice``), a "Reveal" button (``{key}_reveal``, disabled until a choice
is made) and, once revealed, whether the pick matches the measurement and the reason with its
numbers. Revealed stays revealed for the session (``{key}_revealed`` in session state), so a
rerun of the page does not hide the answer again. :func:`exercise` builds the page's exercise
from its result file and draws it, or says why it cannot.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app.measured import measured
from app.text import public
from lesson.exercises import (
    Exercise,
    centring_exercise,
    hard_exercise,
    temperature_exercise,
)
from lesson.experiments.dino_collapse import DinoCollapseResult
from lesson.experiments.hard_exercise import HardExerciseResult
from lesson.experiments.infonce_tau import InfonceTauResult
from lesson.results import Result

__all__ = ["EXERCISES", "exercise", "predict_first"]

# exercise name -> (the result that answers it, the builder)
EXERCISES: dict[str, tuple[type[Result], Callable[..., Exercise]]] = {
    "temperature": (InfonceTauResult, temperature_exercise),
    "centring": (DinoCollapseResult, centring_exercise),
    "hard": (HardExerciseResult, hard_exercise),
}


def _reveal(key: str) -> None:
    st.session_state[f"{key}_revealed"] = True


def predict_first(item: Exercise, *, key: str) -> int | None:
    """Draw ``item`` as a predict-first question; returns the index picked (None before)."""
    st.markdown(f"**{item.title}.** {item.question}")
    choice = st.radio("Your prediction", range(len(item.choices)), index=None,
                      format_func=lambda i: item.choices[i], key=f"{key}_choice")
    revealed = bool(st.session_state.get(f"{key}_revealed"))
    if not revealed:
        st.button("Reveal the measured answer", key=f"{key}_reveal", on_click=_reveal,
                  args=(key,), disabled=choice is None, icon=":material/visibility:",
                  help="Pick a prediction first.")
        return choice
    answer = item.choices[item.answer]
    if choice == item.answer:
        st.success(f"Right. Measured: {answer}.", icon=":material/check_circle:")
    elif choice is None:
        st.info(f"Measured: {answer}.", icon=":material/info:")
    else:
        st.warning(f"Not what was measured. Measured: {answer}.", icon=":material/lightbulb:")
    st.markdown(f"**Why.** {item.reason}")
    st.caption(f"Measured by `{item.command}`.")
    return choice


def exercise(name: str, *, key: str | None = None, result: Result | None = None) -> bool:
    """The exercise ``name`` (a key of :data:`EXERCISES`), built from its result (``result``, or
    its file read here) and drawn with :func:`predict_first`; a missing or unusable result is
    said, not raised. Returns whether the measured answer may be shown: it was revealed, or
    the result cannot make the exercise (then there is nothing to predict)."""
    kind, build = EXERCISES[name]
    key = key or f"predict_{name}"
    if result is None:
        result = measured(kind, missing="This exercise's answer is not measured yet: {error}",
                          unreadable="This exercise's answer could not be read: {error}",
                          problems_as_info=True)
    if result is None:
        return False
    try:
        item = build(result)
    except (ValueError, KeyError, IndexError, TypeError) as error:
        st.info(f"This exercise's answer could not be read: {public(error)}",
                icon=":material/info:")
        return True
    with st.container(border=True):
        predict_first(item, key=key)
    return bool(st.session_state.get(f"{key}_revealed"))
