"""A page's measured result, or a message saying why it is not shown.

Every page that shows a measured result (``assets/results/<name>.json``) reads it through the
experiment's typed result (:mod:`lesson.results`) and says the same things when it cannot:
``st.info`` when it was never measured (the message names the command that measures it),
``st.error`` when the file is unreadable or not that result's shape.
"""

from __future__ import annotations

from typing import TypeVar

import streamlit as st

from lesson.results import Result, ResultMissingError

__all__ = ["measured"]

R = TypeVar("R", bound=Result)


def measured(kind: type[R], *, missing: str = "Not measured yet: {error}.",
             unreadable: str = "The measured result could not be read: {error}") -> R | None:
    """``kind.load()``, or None after an ``st.info`` (missing) or ``st.error`` (unreadable).

    Not cached: a result file is a few ms to read, and a re-run experiment shows at once.
    """
    try:
        return kind.load()
    except ResultMissingError as error:
        st.info(missing.format(error=error), icon=":material/info:")
    except ValueError as error:
        st.error(unreadable.format(error=error), icon=":material/error:")
    return None
