"""A page's measured result, or a message saying why it is not shown.

Every page that shows a measured result (``assets/results/<name>.json``) reads it through the
experiment's typed result (:mod:`lesson.results`) and says the same things when it cannot:
``st.info`` when it was never measured (the message names the command that measures it),
``st.error`` when the file is unreadable or not that result's shape (a page may word the two
differently).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from app.text import public
from lesson.results import Result, ResultFormatError, ResultMissingError

__all__ = ["measured", "verdict"]

R = TypeVar("R", bound=Result)


def measured(kind: type[R], *, missing: str = "Not measured yet: {error}.",
             unreadable: str = "The measured result could not be read: {error}",
             malformed: str | None = None, problems_as_info: bool = False) -> R | None:
    """``kind.load()``, or None after an ``st.info`` (missing) or ``st.error`` (unreadable;
    ``malformed``, when given, for a file that reads but lacks the result's fields).
    ``problems_as_info``: unreadable files are said with ``st.info`` too (a page where the
    measured result is a side note to a live one).

    Not cached: a result file is a few ms to read, and a re-run experiment shows at once.
    """
    try:
        return kind.load()
    except ResultMissingError as error:
        st.info(missing.format(error=public(error)), icon=":material/info:")
    except ResultFormatError as error:
        _problem((malformed or unreadable).format(error=public(error)), problems_as_info)
    except ValueError as error:
        _problem(unreadable.format(error=public(error)), problems_as_info)
    return None


def _problem(message: str, as_info: bool) -> None:
    if as_info:
        st.info(message, icon=":material/info:")
    else:
        st.error(message, icon=":material/error:")


def verdict(make: Callable[[], str]) -> None:
    """The verdict line under a measured table: ``make()`` (a ``lesson.verdicts`` sentence) in
    bold-led Markdown, or an ``st.info`` when the result's numbers cannot make one (a
    hand-edited file with lists of different lengths): never a traceback."""
    try:
        text = make()
    except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as error:
        st.info(f"No verdict: the measured numbers do not fit together ({public(error)}).",
                icon=":material/info:")
        return
    st.markdown(f"**Verdict.** {text}")
