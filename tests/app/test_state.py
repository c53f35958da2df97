from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from app.state import Param, changed_values, seed_state


@pytest.mark.parametrize(
    ("param", "raw", "expected"),
    [
        (Param("n", 16, lo=2, hi=1024), "64", 64),
        (Param("n", 16, lo=2, hi=1024), "5000", 1024),  # clamped
        (Param("n", 16, lo=2, hi=1024), "-3", 2),
        (Param("n", 16, lo=2, hi=1024), "32.0", 32),  # an integral float is fine
        (Param("n", 16, lo=2, hi=1024), "3.5", None),  # not an int
        (Param("n", 16, lo=2, hi=1024), "abc", None),
        (Param("n", 16, lo=2, hi=1024), "nan", None),
        (Param("tau", 0.1, lo=0.0, hi=2.0), " 0.05 ", 0.05),
        (Param("tau", 0.1, lo=0.0, hi=2.0), "9", 2.0),
        (Param("tau", 0.1, lo=0.0, hi=2.0), "inf", None),
        (Param("tau", 0.1, lo=0.0, hi=2.0), "", None),
        (Param("flag", False), "true", True),
        (Param("flag", False), "0", False),
        (Param("flag", False), "maybe", None),
        (Param("mode", "a", options=("a", "b")), "b", "b"),
        (Param("mode", "a", options=("a", "b")), "c", None),
        (Param("scale", (0.2, 1.0), lo=0.01, hi=1.0), "0.9,0.3", (0.3, 0.9)),  # sorted
        (Param("scale", (0.2, 1.0), lo=0.01, hi=1.0), "0,7", (0.01, 1.0)),  # clamped
        (Param("scale", (0.2, 1.0), lo=0.01, hi=1.0), "0.5", None),  # one number
        (Param("scale", (0.2, 1.0), lo=0.01, hi=1.0), "a,b", None),
        (Param("k", 15, choices=(2, 5, 15, 50)), "50", 50),
        (Param("k", 15, choices=(2, 5, 15, 50)), "17", 15),  # the nearest choice
        (Param("k", 15, choices=(2, 5, 15, 50)), "1000", 50),
        (Param("k", 15, choices=(2, 5, 15, 50)), "10", 5),  # a tie goes to the smaller
        (Param("d", 0.1, choices=(0.0, 0.1, 0.25, 0.99)), "0.3", 0.25),
        (Param("d", 0.1, choices=(0.0, 0.1, 0.25, 0.99)), "x", None),
    ],
)
def test_parse_converts_clamps_and_rejects(param, raw, expected):
    value = param.parse(raw)
    assert value == expected
    if expected is not None:
        assert type(value) is type(param.default)


@pytest.mark.parametrize(
    ("param", "value"),
    [(Param("n", 16), 300), (Param("t", 0.1), 0.125), (Param("f", False), True),
     (Param("s", (0.2, 1.0)), (0.05, 0.4)), (Param("m", "a", options=("a", "b")), "b")],
)
def test_encode_then_parse_round_trips(param, value):
    assert param.parse(param.encode(value)) == value


def test_param_refuses_an_inconsistent_domain():
    with pytest.raises(ValueError, match="default 'c' is not in"):
        Param("m", "c", options=("a", "b"))
    with pytest.raises(ValueError, match="lo 3 > hi 1"):
        Param("n", 2, lo=3, hi=1)
    with pytest.raises(ValueError, match="default 7 is not in"):
        Param("k", 7, choices=(2, 5))


def test_seed_state_fills_only_missing_keys_and_changed_values_skips_defaults():
    params = (Param("n", 16, lo=2, hi=64), Param("tau", 0.1, lo=0.0, hi=2.0),
              Param("mode", "a", options=("a", "b")))
    state = {"tau": 0.7}  # the user already moved this one: the URL must not override it
    seed_state(params, {"n": "999", "tau": "0.2", "mode": "zzz"}, state)
    assert state == {"tau": 0.7, "n": 64, "mode": "a"}
    assert changed_values(params, state) == {"tau": "0.7", "n": "64"}
    assert changed_values(params, {"n": 16, "tau": 0.1, "mode": "a"}) == {}
    assert math.isclose(params[1].parse(changed_values(params, state)["tau"]), 0.7)


def test_seed_state_prefers_the_url_then_the_saved_value_then_the_default():
    params = (Param("n", 16, lo=2, hi=64), Param("tau", 0.1, lo=0.0, hi=2.0),
              Param("d", 32, lo=1, hi=512))
    state: dict = {}
    seed_state(params, {"n": "8", "tau": "junk"}, state, saved={"n": 4, "tau": 0.3})
    assert state == {"n": 8, "tau": 0.3, "d": 32}


def _app() -> None:
    import streamlit as st

    from app.state import Param, restore, share

    params = (Param("x", 5, lo=0, hi=10), Param("r", (0.2, 0.8), lo=0.0, hi=1.0))
    restore(params)
    st.slider("x", 0, 10, key="x")
    st.slider("r", 0.0, 1.0, key="r")
    share(params)


def test_query_params_restore_widgets_and_follow_them():
    at = AppTest.from_function(_app)
    at.query_params.update({"x": "7", "r": "0.9,0.1"})
    at.run()
    assert not at.exception
    assert at.slider(key="x").value == 7
    assert at.slider(key="r").value == (0.1, 0.9)
    assert at.query_params == {"x": "7", "r": "0.1,0.9"}

    at.slider(key="x").set_value(3).run()
    assert at.query_params["x"] == "3"
    at.slider(key="x").set_value(5)
    at.slider(key="r").set_value((0.2, 0.8)).run()
    assert at.query_params == {}  # back at the defaults: a clean URL


def test_bad_query_params_fall_back_to_defaults():
    at = AppTest.from_function(_app)
    at.query_params.update({"x": "eleven", "r": "0.5"})
    at.run()
    assert not at.exception
    assert at.slider(key="x").value == 5
    assert at.slider(key="r").value == (0.2, 0.8)
    assert at.query_params == {}


def test_reset_values_restores_defaults_and_forgets_the_saved_values():
    from app.state import _SAVED, reset_values

    params = (Param("n", 16, lo=2, hi=64), Param("mode", "a", options=("a", "b")))
    state = {"n": 40, "mode": "b", "other": 3, _SAVED: {"n": 40, "mode": "b", "elsewhere": 1}}
    reset_values(params, state)
    assert state == {"n": 16, "mode": "a", "other": 3, _SAVED: {"elsewhere": 1}}
    assert changed_values(params, state) == {}
