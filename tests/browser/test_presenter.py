"""Presenter mode and the lesson tour in Chromium, on a 1280 x 720 projector.

Every page's main figure (the container ``app.presenter.MAIN_FIGURE_KEY``) lies fully inside the
window without scrolling, text and chart ticks are large, and a screenshot of what the class
sees goes to outputs/screenshots/presenter_<page>.png. "Reset to defaults" brings every setting
back (read back from the URL, which spells every value that differs from its default). The
tour's Next walks the lesson's pages in order, each opened with its preset.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from app.presenter import BODY_PX, MAIN_FIGURE_KEY, TICK_PX
from app.tour import STEPS, step_query

# Fixtures from conftest.py: app (an Any on a fresh tab), route, screenshot_dir.

WIDTH, HEIGHT = 1280, 720
PLOTLY = '[data-testid="stPlotlyChart"]'
MAIN_FIGURE = f".st-key-{MAIN_FIGURE_KEY}"
MAIN = '[data-testid="stMainBlockContainer"]'
MARKDOWN = '[data-testid="stMarkdownContainer"]'
CAPTION = '[data-testid="stCaptionContainer"]'
FIGURES_IN_MAIN = ", ".join(f"{MAIN_FIGURE} {s}" for s in (
    '[data-testid="stImage"] img', PLOTLY, '[data-testid="stGraphVizChart"] svg'))
FIGURE_WAIT_S = 240.0  # the first UMAP of a fresh server compiles its kernels first
# A setting off its default for each page with settings: the tour's preset where there is one.
OFF_DEFAULT = {step.page: dict(step.query) for step in reversed(STEPS)} | {
    "embeddings": {"emb_method": "pca"},
    "retrieval": {"ret_k": "4"},
    "attention": {"att_keep": "0.3"},
    "live_learning": {"live_mode": "MAE strip", "live_steps": "100"},
}


# Pages whose main figure is drawn by a button: the query that keeps the run short, the button.
DRAWN_BY = {"live_learning": ("&live_steps=10&live_time_limit=10", "Run")}


@pytest.fixture
def projector(app: Any) -> Iterator[Any]:
    """The ``app`` tab (a fresh session; a logged traceback fails the test) at 1280 x 720."""
    app.page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    yield app


def _query(app: Any) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(app.page.url).query).items()}


def _main_figure_box(app: Any, what: str) -> dict[str, float]:
    """The main figure's bounding box, once it holds a figure (waiting out slow first runs)."""
    deadline = time.monotonic() + FIGURE_WAIT_S
    while app.page.locator(FIGURES_IN_MAIN).count() == 0:
        assert time.monotonic() < deadline, f"{what}: no figure in the main figure's slot"
        app.settle(since=app.clock(), start_within=0.5)
        time.sleep(0.5)
    app.settle(since=app.clock(), start_within=0.0)
    time.sleep(0.5)  # plotly lays itself out after the script run
    slots = app.page.locator(MAIN_FIGURE)
    assert slots.count() == 1, f"{what}: {slots.count()} main figures"
    box = slots.first.bounding_box()
    assert box is not None, f"{what}: the main figure is not displayed"
    return box


def _assert_fits(app: Any, what: str) -> None:
    scrolled = app.page.evaluate(
        "() => Math.max(window.scrollY, ...[...document.querySelectorAll('*')]"
        ".filter(e => e.scrollTop > 0).map(e => e.scrollTop), 0)")
    assert scrolled == 0, f"{what}: the page is scrolled by {scrolled} px"
    box = _main_figure_box(app, what)
    bottom, right = box["y"] + box["height"], box["x"] + box["width"]
    assert box["y"] >= 0 and box["x"] >= 0 and bottom <= HEIGHT and right <= WIDTH, (
        f"{what}: the main figure spans x {box['x']:.0f}..{right:.0f}, y {box['y']:.0f}.."
        f"{bottom:.0f}: not inside the {WIDTH} x {HEIGHT} window")
    # and nothing in it spills over its edges (images wider than their column did)
    for element in app.page.locator(FIGURES_IN_MAIN).all():
        inner = element.bounding_box()
        assert inner is not None and inner["x"] >= box["x"] - 1 and (
            inner["x"] + inner["width"] <= right + 1
            and inner["y"] + inner["height"] <= bottom + 1), (
            f"{what}: a figure spills out of the main figure: {inner} in {box}")


def _font_px(app: Any, selector: str) -> list[float]:
    return app.page.eval_on_selector_all(
        selector, "els => els.filter(e => e.offsetParent !== null)"
                  ".map(e => parseFloat(getComputedStyle(e).fontSize))")


def test_each_main_figure_fits_a_projector_in_presenter_mode(
    projector: Any, route: Any, screenshot_dir: Path
) -> None:
    app = projector
    query, button = DRAWN_BY.get(route.stem, ("", None))
    app.open(f"{route.path}?presenter=true{query}")
    what = f"{route.stem} in presenter mode"
    app.assert_clean(what)
    if button is not None:  # the button sits in the main figure's slot, visible without a click
        app.click_button(button)
    _main_figure_box(app, what)  # its figure drawn
    # What the class sees, first: a page that fails leaves its screenshot to look at.
    app.page.screenshot(path=str(screenshot_dir / f"presenter_{route.stem}.png"))
    _assert_fits(app, what)

    assert _query(app).get("presenter") == "true", f"{what}: the URL lost presenter mode"
    body = _font_px(app, f"{MAIN} {MARKDOWN} p, {MAIN} {CAPTION}")
    assert body and min(body) >= BODY_PX, f"{what}: text at {sorted(set(body))} px"
    ticks = _font_px(app, f"{MAIN_FIGURE} {PLOTLY} .xtick text, {MAIN_FIGURE} {PLOTLY} .ytick text")
    assert min(ticks, default=TICK_PX) >= TICK_PX, f"{what}: chart ticks at {sorted(set(ticks))}"


def test_presenter_mode_leaves_the_normal_layout_alone(projector: Any) -> None:
    """Without presenter mode, text keeps Streamlit's sizes (the toggle is what changes them)."""
    app = projector
    app.open("/infonce")
    body = _font_px(app, f"{MAIN} {CAPTION}")
    assert body and max(body) < BODY_PX
    assert "presenter" not in _query(app)


def test_reset_restores_every_default(projector: Any, route: Any) -> None:
    if route.stem not in OFF_DEFAULT:
        assert route.stem == "home", f"{route.stem}: add a setting to OFF_DEFAULT"
        return
    app = projector
    query = OFF_DEFAULT[route.stem]
    app.open(f"{route.path}?{urlencode({**query, 'presenter': 'true'})}")
    what = f"{route.stem} opened with {query}"
    app.assert_clean(what)
    assert _query(app) == {**query, "presenter": "true"}, f"{what}: the page changed its URL"

    app.click_button("Reset to defaults")
    app.assert_clean(f"{route.stem} after Reset")
    assert app.eventually(
        lambda: None if _query(app) == {"presenter": "true"} else str(_query(app)),
        timeout=10.0) is None, f"{route.stem}: Reset left {_query(app)} in the URL"


def test_the_tour_walks_the_lesson_with_next(projector: Any, screenshot_dir: Path) -> None:
    app = projector
    app.open("/?presenter=true")
    # a teacher scrolls Home down to the lesson path: the browser would keep that offset on the
    # step's page (app/tour.py scrolls it back to the top once on arrival)
    app.page.evaluate("() => document.querySelectorAll('[data-testid=\"stMain\"]')"
                      ".forEach(el => el.scrollTo(0, el.scrollHeight))")
    app.click_button("Start the tour")
    for index, step in enumerate(STEPS):
        what = f"tour step {index + 1} ({step.page})"
        app.eventually(lambda step=step: None if urlparse(app.page.url).path == f"/{step.page}"
                       else app.page.url, timeout=30.0)
        assert urlparse(app.page.url).path == f"/{step.page}", what
        assert _query(app) == step_query(index, presenting=True), what
        app.assert_clean(what)
        bar = app.page.locator(".st-key-tour_bar")
        assert step.notice[:30] in bar.inner_text(), f"{what}: no notice"
        _main_figure_box(app, what)
        app.page.screenshot(path=str(screenshot_dir / f"presenter_tour_{index + 1}.png"))
        _assert_fits(app, what)
        if index + 1 < len(STEPS):
            app.click_button("Next")
    app.click_button("Home")  # the last step leads back to the lesson path
    assert app.eventually(lambda: None if urlparse(app.page.url).path == "/" else app.page.url,
                          timeout=30.0) is None
    app.assert_clean("Home after the tour")


def test_presenter_mode_follows_the_sidebar_to_another_page(projector: Any) -> None:
    app = projector
    app.open("/infonce?presenter=true&nce_tau=0.5")
    since = app.clock()
    app.page.locator('[data-testid="stSidebarNavLink"]', has_text="Augmentations").click()
    app.settle(since=since, start_within=5.0)
    assert app.eventually(lambda: None if urlparse(app.page.url).path == "/augmentations"
                          else app.page.url, timeout=30.0) is None
    assert app.eventually(lambda: None if _query(app) == {"presenter": "true"}
                          else str(_query(app)), timeout=10.0) is None
    _assert_fits(app, "augmentations reached from the sidebar")
