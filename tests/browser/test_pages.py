"""Every routed page in a real browser: it renders without an error, answers a slider (or, with
no slider, a radio button) by changing a figure, and leaves a screenshot in outputs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# Fixtures from conftest.py: app (an AppPage on a fresh tab), route (a routed page: stem, title,
# path), routes (all of them), screenshot_dir (outputs/screenshots/).


def _train_a_few_dino_steps(app: Any) -> str:
    """dino_collapse and live_learning show their charts once "Run" has trained: the fewest
    steps, the shortest limit (both pages name those sliders alike)."""
    labels = app.page.eval_on_selector_all(
        '[data-testid="stSlider"] input[type="range"]', "els => els.map(e => e.ariaLabel)"
    )
    for name in ("Steps", "Time limit (s)"):
        app.move_slider(labels.index(name), key="Home")
    return app.click_button("Run")


def _probe_with_more_labels(app: Any) -> str:
    """linear_probe fits its probe in a background job: its point joins the chart only when the
    fit is done, so move the labels slider and wait for the new fit's metric (on a busy machine
    the fit of the first setting may not be done yet either, and then nothing else changes)."""
    moved = app.move_slider(0)
    since = app.clock()
    metric = app.page.locator('[data-testid="stMetric"]', has_text="Test accuracy").first
    metric.wait_for(state="visible", timeout=300_000)  # a bound on the wait, not a speed check
    app.settle(since=since)  # the rerun that drew the metric also redraws the chart
    return moved


# Pages whose figures do not answer a slider on their own.
PAGE_ACTIONS: dict[str, Callable[[Any], str]] = {"dino_collapse": _train_a_few_dino_steps,
                                                 "live_learning": _train_a_few_dino_steps,
                                                 "linear_probe": _probe_with_more_labels}


def test_sidebar_lists_every_routed_page(app: Any, routes: list[Any]) -> None:
    app.open("/")
    hrefs = app.page.eval_on_selector_all(
        '[data-testid="stSidebarNavLink"]', "els => els.map(e => new URL(e.href).pathname)"
    )
    assert sorted(hrefs) == sorted(r.path for r in routes)
    titles = app.page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
    assert [t.strip().splitlines()[-1] for t in titles] == [r.title for r in routes]  # after icon


def test_page_renders_and_answers_a_widget(
    app: Any, route: Any, screenshot_dir: Path, tmp_path: Path
) -> None:
    app.open(route.path)
    app.assert_clean(f"{route.stem} on load")
    assert not app.shows_upload_choice() or route.has_upload, (
        f"{route.stem} shows an upload widget but its source calls neither image_picker( nor "
        "file_uploader(, so tests/browser/test_uploads.py does not cover it"
    )

    had_figures = app.figure_count() > 0
    figures, text = app.figure_fingerprint(), app.text_fingerprint()

    def answered() -> bool:
        if had_figures:
            return app.figure_fingerprint() != figures
        return app.figure_count() > 0 or app.text_fingerprint() != text

    moved = None
    if route.stem in PAGE_ACTIONS:
        moved = PAGE_ACTIONS[route.stem](app)
    elif app.slider_count():
        moved = app.move_sliders_until(answered)
    else:
        moved = app.click_other_radio_option()

    # The screenshot first, so that a failing page leaves one to look at.
    png = app.screenshot(screenshot_dir / f"{route.stem}.png")
    (tmp_path / f"{route.stem}.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    if moved is None:
        assert app.widget_count() == 0, (
            f"{route.stem} has widgets but no slider or radio: give it a page-specific "
            "interaction in tests/browser/test_pages.py"
        )
        return
    app.assert_clean(f"{route.stem} after {moved}")
    assert app.figure_count() or not had_figures, f"{route.stem}: figures vanished after {moved}"
    # A page of figures must change one; a page of text (the method picker) its text.
    assert answered(), f"{route.stem}: neither a figure nor the output text changed after {moved}"
