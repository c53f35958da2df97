"""Presenter mode (app/presenter.py), the sidebar's Reset, and the figure fixes of issue 14."""

from __future__ import annotations

import json

import plotly.graph_objects as go

from app import figures
from app.infonce import sweep_figure

PAGE = "infonce"


def _layouts(at) -> list[dict]:
    return [json.loads(chart.proto.spec)["layout"] for chart in at.get("plotly_chart")]


def test_reset_brings_every_setting_back_and_keeps_presenter_mode(open_page, clean):
    at = open_page(PAGE, {"nce_tau": "0.5", "nce_n": "32", "nce_logy": "true",
                          "presenter": "true"})
    clean(at)
    assert at.slider(key="nce_tau").value == 0.5
    at.sidebar.button(key="state_reset").click().run()
    clean(at)
    assert at.query_params == {"presenter": "true"}
    assert at.slider(key="nce_tau").value == 0.1 and at.slider(key="nce_n").value == 16
    assert at.checkbox(key="nce_logy").value is False


def test_every_run_hands_the_browser_the_toggles_value(open_page, clean):
    # Streamlit sends a widget's value (set_value) only in a run that set it; a browser that
    # re-mounts the toggle without it starts it at its default, off, and would switch
    # presenter mode off on its next rerun. So each run sends it, on or off.
    at = open_page(PAGE, {"presenter": "true"})
    clean(at)
    for _ in range(2):
        toggle = at.sidebar.toggle(key="presenter")
        assert toggle.value is True and toggle.proto.set_value and toggle.proto.value
        at.sidebar.button(key="state_reset").click().run()
    assert at.query_params == {"presenter": "true"}
    at.sidebar.toggle(key="presenter").set_value(False).run()
    at.run()
    toggle = at.sidebar.toggle(key="presenter")
    assert toggle.value is False and toggle.proto.set_value and not toggle.proto.value
    assert at.query_params == {}


def test_presenter_mode_folds_the_settings_and_enlarges_the_charts(open_page, clean):
    at = open_page(PAGE, {"presenter": "true"})
    clean(at)
    assert at.sidebar.toggle(key="presenter").value is True
    assert "Settings" in [e.label for e in at.expander]
    for layout in _layouts(at):
        assert layout["font"]["size"] >= 18 and layout["height"] <= 300
        assert layout["xaxis"]["tickfont"]["size"] >= 16
    at.slider(key="nce_n").set_value(20).run()  # a page's own URL update keeps the mode
    assert at.query_params == {"nce_n": "20", "presenter": "true"}
    at.sidebar.toggle(key="presenter").set_value(False).run()
    assert at.query_params == {"nce_n": "20"}
    assert "Settings" not in [e.label for e in at.expander]
    assert all(layout["font"]["size"] < 18 for layout in _layouts(at))


def test_a_titled_figure_puts_its_legend_under_the_title():
    fig = figures.figure([go.Bar(y=[1]), go.Bar(y=[2])], height=300,
                         title="Teacher output")
    assert fig.layout.margin.t == 80 and fig.layout.title.yref == "container"
    assert fig.layout.legend.y == 1.02 and fig.layout.legend.yanchor == "bottom"
    untitled = figures.figure([go.Bar(y=[1])], height=300)
    assert untitled.layout.margin.t == 10 and untitled.layout.title.text is None


def test_your_tau_sits_inside_the_plot_on_the_side_with_room():
    taus = [0.01, 0.1, 1.0]
    for tau, side in ((0.02, "left"), (0.8, "right")):
        fig = sweep_figure(taus, [("aligned", [1.0, 2.0, 3.0], None, "blue")], reference=2.0,
                           tau=tau)
        (label,) = [a for a in fig.layout.annotations if "your τ" in a.text]
        assert label.y == 1 and label.yanchor == "top" and label.xanchor == side
