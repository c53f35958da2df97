"""A page's parameters in the URL: a copied link restores the view.

A page declares its shareable widgets once, as :class:`Param` s keyed like the widgets::

    PARAMS = (Param("nce_n", 16, lo=2, hi=1024), Param("nce_mode", "Synthetic", options=MODES))
    restore(PARAMS)   # before the widgets: seed st.session_state from st.query_params
    ... widgets created with key= and no value= (the seeded session state is their value) ...
    share(PARAMS)     # after the widgets: write the current values back to st.query_params

:func:`restore` fills only keys a session does not hold yet (its first run on the page, or after
Streamlit dropped the state of widgets that were not drawn, as when the user visited another
page), so it never fights a user who is moving a slider. It takes the URL's value when there is
one (type-converted, validated and clamped to the widget's range; anything unreadable is
ignored), else the value this session last had on the page, else the default. :func:`share`
writes only values that differ from their defaults, so the default view has a clean URL, and
remembers the values for the session's next visit to the page.

Two query parameters belong to the shell, not to a page (:data:`SHELL_KEYS`: presenter mode and
the lesson tour's step); :func:`share` keeps them in the URL. :func:`restore` also draws the
sidebar's "Reset to defaults" button for the page's params, and starts from the URL and the
defaults alone (nothing the session last had) when a tour step asked for a fresh start
(:func:`start_fresh`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, NoReturn

import streamlit as st

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Param:
    """One shareable widget value: its key (widget key = query-parameter name) and its domain.

    The type comes from ``default``: int, float, bool, str, or a (lo, hi) tuple of floats for a
    range slider (written ``lo,hi`` in the URL). ``lo``/``hi`` bound numbers (values outside are
    clamped); ``options`` lists the allowed strings (anything else is ignored); ``choices`` lists
    the allowed numbers of a ``st.select_slider`` (a number in the URL snaps to the nearest).
    """

    key: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    options: tuple[str, ...] | None = None
    choices: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.options is not None and self.default not in self.options:
            raise ValueError(f"{self.key}: default {self.default!r} is not in {self.options}")
        if self.choices is not None and self.default not in self.choices:
            raise ValueError(f"{self.key}: default {self.default!r} is not in {self.choices}")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError(f"{self.key}: lo {self.lo} > hi {self.hi}")

    def parse(self, raw: str | None) -> Any | None:
        """The value a query string spells, converted and clamped; None if it cannot be read."""
        if raw is None:
            return None
        raw = raw.strip()
        default = self.default
        if isinstance(default, bool):  # before int: bool is an int
            lowered = raw.lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else None
        if isinstance(default, int):
            number = _finite(raw)
            if number is None or number != int(number):
                return None
            return int(self._clamp(int(number)))
        if isinstance(default, float):
            number = _finite(raw)
            return None if number is None else float(self._clamp(number))
        if isinstance(default, tuple):
            parts = [_finite(part) for part in raw.split(",")]
            if len(parts) != 2 or any(p is None for p in parts):
                return None
            lo, hi = sorted(float(self._clamp(p)) for p in parts)  # type: ignore[arg-type]
            return (lo, hi)
        if self.options is not None and raw not in self.options:
            return None
        return raw

    def encode(self, value: Any) -> str:
        """The query-string spelling of ``value`` (the inverse of :meth:`parse`)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, tuple | list):
            return ",".join(f"{float(v):g}" for v in value)
        return str(value)

    def _clamp(self, value: float) -> float:
        if self.choices is not None:
            return min(self.choices, key=lambda choice: (abs(choice - value), choice))
        if self.lo is not None:
            value = max(value, self.lo)
        if self.hi is not None:
            value = min(value, self.hi)
        return value


def _finite(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_SAVED = "_state_saved_params"  # session-state key: {param key: last shared value}
_FRESH = "_state_fresh_start"  # session-state flag: the next restore() ignores what the session had
SHELL_KEYS = ("presenter", "tour")  # query parameters of the shell (app.presenter, app.tour)
RESET_KEY = "state_reset"  # the sidebar button's widget key


def seed_state(
    params: Iterable[Param],
    query: Mapping[str, str],
    state: MutableMapping[str, Any],
    saved: Mapping[str, Any] | None = None,
) -> None:
    """Give every param missing from ``state`` its value from ``query`` (if readable), else
    from ``saved``, else its default.

    The logic of :func:`restore`, on plain mappings so that it can be tested without a server.
    """
    saved = saved or {}
    for param in params:
        if param.key in state:
            continue
        value = param.parse(query.get(param.key))
        if value is None:
            value = saved.get(param.key, param.default)
        state[param.key] = value


def changed_values(params: Iterable[Param], state: Mapping[str, Any]) -> dict[str, str]:
    """The query string of the current view: params whose value differs from the default."""
    out = {}
    for param in params:
        if param.key not in state:
            continue
        value = state[param.key]
        if isinstance(param.default, tuple) and isinstance(value, list):
            value = tuple(value)
        if value != param.default:
            out[param.key] = param.encode(value)
    return out


def reset_values(params: Iterable[Param], state: MutableMapping[str, Any]) -> None:
    """Every param back to its default in ``state``, and forgotten from the saved values (so
    that the next :func:`share` writes a URL without them)."""
    params = tuple(params)
    for param in params:
        state[param.key] = param.default
    saved = state.get(_SAVED)
    if saved:
        state[_SAVED] = {k: v for k, v in saved.items() if k not in {p.key for p in params}}


def _reset(params: tuple[Param, ...]) -> None:
    """The Reset button's callback: it runs before the script, so the widgets are drawn with
    their defaults and the page's :func:`share` then writes a URL without them."""
    reset_values(params, st.session_state)


def start_fresh() -> None:
    """Make the next :func:`restore` take the URL and the defaults only: a tour step opens its
    page with its preset even if the session moved that page's widgets before."""
    st.session_state[_FRESH] = True


def restore(params: Iterable[Param]) -> None:
    """Before a page's widgets: seed ``st.session_state`` from ``st.query_params`` (or from
    what the session last had on this page), and draw the sidebar's "Reset to defaults"."""
    params = tuple(params)
    if st.session_state.pop(_FRESH, False):
        for param in params:
            st.session_state.pop(param.key, None)
        seed_state(params, st.query_params, st.session_state)
    else:
        seed_state(params, st.query_params, st.session_state, st.session_state.get(_SAVED))
    st.sidebar.button("Reset to defaults", key=RESET_KEY, on_click=_reset, args=(params,),
                      icon=":material/restart_alt:",
                      help="Every setting of this page back to its default (the URL follows).")


def share(params: Iterable[Param]) -> None:
    """After a page's widgets: make the URL spell the current view (and nothing else), and
    remember the values for the session's next visit."""
    params = tuple(params)
    wanted = changed_values(params, st.session_state)
    current = st.query_params.to_dict()
    wanted |= {key: current[key] for key in SHELL_KEYS if key in current}
    if current != wanted:
        st.query_params.from_dict(wanted)
    saved = dict(st.session_state.get(_SAVED, {}))
    saved.update({p.key: st.session_state[p.key] for p in params if p.key in st.session_state})
    st.session_state[_SAVED] = saved


def stop_page(params: Iterable[Param], error: str | None = None) -> NoReturn:
    """End the page's run early: show ``error`` (if any), keep the URL in step with the
    widgets drawn so far (:func:`share`), and stop the script."""
    if error is not None:
        from app.text import public

        st.error(public(error), icon=":material/error:")
    share(params)
    st.stop()
    raise AssertionError("st.stop() returned")  # it raises; this line tells the type checker


def clamp_state(key: str, lo: int | float, hi: int | float) -> None:
    """Pull a widget's stored value into [lo, hi] before it is drawn with a new range.

    A slider whose range shrank (the anchor slider when N falls) must not be handed a value
    outside it.
    """
    if key in st.session_state:
        value = st.session_state[key]
        st.session_state[key] = type(value)(min(max(value, lo), hi))


def apply_values(values: Mapping[str, Any]) -> None:
    """Set several widgets at once (a preset's on_click callback)."""
    for key, value in values.items():
        st.session_state[key] = value
