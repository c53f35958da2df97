"""Real-browser tests: the app served by ``streamlit run``, driven by headless Chromium.

One Streamlit server and one browser serve the whole session (starting them costs seconds); each
test gets a fresh browser page. :class:`AppPage` wraps a Playwright page with what the tests need:
open a route, wait until Streamlit has finished running the script, read errors and exceptions,
fingerprint the figures, move a slider, upload a file, save a screenshot.

Needs the ``playwright`` package (requirements-dev.txt) and a Chromium binary: ``$CHROMIUM``,
else ``chromium`` / ``chromium-browser`` on the PATH (Debian's ``chromium`` package; CI installs
it in .ci/run). ``playwright install`` is never needed. When either is missing the tests fail with
that message in CI (``CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))  # served_app: how the browser benchmark serves too

from served_app import ServerDidNotStart, find_chromium, streamlit_server  # noqa: E402

MAIN = ROOT / "app" / "main.py"
SCREENSHOTS = ROOT / "outputs" / "screenshots"
SERVER_START_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 90.0  # the longest a script run may take after an action (cold model loads)

# Streamlit's DOM contract (stable data-testid attributes, as its own e2e tests use).
APP = '[data-testid="stApp"]'
STATUS_WIDGET = '[data-testid="stStatusWidget"]'
SKELETON = '[data-testid="stSkeleton"]'  # an element still loading (Plotly's code, say)
EXCEPTION = '[data-testid="stException"]'
ERROR = '[data-testid="stAlertContentError"]'
MAIN_BLOCK = '[data-testid="stMainBlockContainer"]'
NAV_LINK = '[data-testid="stSidebarNavLink"]'
SLIDER_INPUT = '[data-testid="stSlider"] input[type="range"]'
RADIO = '[data-testid="stRadio"]'
RADIO_OPTION = '[data-testid="stRadioOption"]'
FILE_INPUT = 'input[type="file"]'
UPLOADER = '[data-testid="stFileUploader"]'
# What counts as a figure: images (st.image, st.pyplot), Plotly and Vega-Lite charts.
FIGURE_IMAGES = '[data-testid="stImage"] img'
PLOTLY = '[data-testid="stPlotlyChart"]'
VEGA = '[data-testid="stVegaLiteChart"]'
# Output text (not widget labels or values): markdown, captions, headings, metrics, alerts, tables.
TEXT_OUTPUTS = ", ".join(
    f'[data-testid="{name}"]'
    for name in ("stMarkdown", "stCaptionContainer", "stHeading", "stMetric", "stAlert",
                 "stTable")
)
WIDGETS = ", ".join(
    f'[data-testid="{name}"]'
    for name in ("stSlider", "stRadio", "stSelectbox", "stMultiSelect", "stNumberInput",
                 "stCheckbox", "stToggle", "stTextInput", "stSelectSlider", "stFileUploader")
)


# --- what is routed --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A page of the router: ``pages/<stem>.py``, served at ``path`` ("/" for the default)."""

    stem: str
    title: str
    path: str

    @property
    def has_upload(self) -> bool:
        """Whether ``pages/<stem>.py`` draws an upload widget (its own or the image picker's)."""
        source = (ROOT / "pages" / f"{self.stem}.py").read_text(encoding="utf-8")
        return bool(re.search(r"\bimage_picker\(|\bfile_uploader\(", source))


def routed_pages(main: Path = MAIN) -> list[Route]:
    """The ``st.Page(ROOT / "pages" / "<stem>.py", title=..., default=...)`` calls of the router.

    Read from the source so that new pages are tested as soon as they are routed.
    """
    routes = []
    for node in ast.walk(ast.parse(main.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page"):
            continue
        target = node.args[0] if node.args else None
        script = target.right.value if isinstance(target, ast.BinOp) else getattr(
            target, "value", None
        )
        if not (isinstance(script, str) and script.endswith(".py")):
            raise ValueError(f"{main}: cannot read the page script of st.Page at line "
                             f"{node.lineno}; write it as ROOT / 'pages' / '<stem>.py'")
        keywords = {kw.arg: kw.value for kw in node.keywords}
        stem = Path(script).stem
        default = isinstance(keywords.get("default"), ast.Constant) and keywords[
            "default"
        ].value is True
        title = keywords["title"].value if "title" in keywords else stem
        routes.append(Route(stem=stem, title=title, path="/" if default else f"/{stem}"))
    if not routes:
        raise ValueError(f"{main}: found no st.Page(...) calls")
    return routes


HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a ``browser`` test: ``-m "not browser"`` leaves them out."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``route``: every routed page; ``upload_route``: those whose source has an upload."""
    if "route" in metafunc.fixturenames:
        routes = routed_pages()
        metafunc.parametrize("route", routes, ids=[r.stem for r in routes])
    if "upload_route" in metafunc.fixturenames:
        routes = [r for r in routed_pages() if r.has_upload]
        metafunc.parametrize("upload_route", routes, ids=[r.stem for r in routes])


@pytest.fixture(scope="session")
def routes() -> list[Route]:
    return routed_pages()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """outputs/screenshots/ (a page's screenshot overwrites the last run's)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# --- dependencies ----------------------------------------------------------------------------


def _missing(reason: str) -> None:
    """Fail in CI (a skipped browser test would hide a broken install); skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


# --- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    """A running ``streamlit run app/main.py``; its stdout and stderr go to ``log``."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Start the app on a free local port and wait for its health endpoint; stop it after."""
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    try:  # cwd=ROOT: Streamlit reads .streamlit/config.toml from there
        with streamlit_server(MAIN, log, cwd=ROOT, env={"OMP_NUM_THREADS": "1"},
                              timeout_s=SERVER_START_TIMEOUT_S) as (url, process):
            yield Server(url=url, log=log, process=process)
    except ServerDidNotStart as error:
        pytest.fail(f"{error}:\n{log.read_text(errors='replace')[-3000:]}", pytrace=False)


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (the system's binary) through Playwright's sync API."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: python3 -m pip install -r requirements-dev.txt")
    executable = find_chromium()
    if executable is None:
        _missing("no Chromium found: install Debian's `chromium` package (apt-get install "
                 "chromium) or set CHROMIUM=/path/to/chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        yield chromium
        chromium.close()


# Injected into every document before the app's own code: a log of the script-run state and of
# every message the browser sends to the server, so that a wait can tie a run to the action that
# caused it (a fast run can start and end between two polls).
EVENT_LOG_JS = """
(() => {
  const log = (window.__stEvents = []);  // [performance.now(), "state" | "send", detail]
  new MutationObserver((records) => {
    for (const r of records) {
      log.push([performance.now(), "state", r.target.getAttribute("data-test-script-state")]);
    }
  }).observe(document, {subtree: true, attributes: true,
                        attributeFilter: ["data-test-script-state"]});
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
        : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : null;
      log.push([performance.now(), "send",
                bytes ? new TextDecoder("latin1").decode(bytes) : String(data)]);
    } catch (error) {}
    return send.call(this, data);
  };
})();
"""

# Whether a script run started and finished after time `since` (ms), or after the first message
# sent since then that contains `marker`.
RUN_AFTER_JS = """
([since, marker]) => {
  let ref = marker === null ? since : null, ran = false, finished = false;
  for (const [time, kind, detail] of window.__stEvents) {
    if (time <= since) continue;
    if (ref === null) {
      if (kind === "send" && detail.includes(marker)) ref = time;
      continue;
    }
    if (kind !== "state" || time < ref) continue;
    if (detail === "running") ran = true;
    else if (ran && detail === "notRunning") finished = true;
  }
  return {sent: ref !== null, ran, finished};
}
"""


class AppPage:
    """A browser tab on the app, with Streamlit-aware waits and readers."""

    def __init__(self, page: Any, server: Server) -> None:
        self.page = page
        self.server = server

    # navigation and waiting

    def open(self, path: str) -> None:
        """Load ``path`` ("/" or "/<stem>") and wait until the script has run."""
        self.page.goto(self.server.url + path)
        self.page.wait_for_selector(APP, timeout=RUN_TIMEOUT_S * 1000)
        self.settle(since=0.0, start_within=RUN_TIMEOUT_S)

    def clock(self) -> float:
        """The page's clock (ms), to pass to :meth:`settle` as ``since``."""
        return self.page.evaluate("performance.now()")

    def script_state(self) -> str | None:
        return self.page.get_attribute(APP, "data-test-script-state")

    def busy(self) -> bool:
        """The script runs, or the frontend still loads an element (a skeleton shows)."""
        return (self.script_state() != "notRunning"
                or self.page.locator(f"{STATUS_WIDGET}, {SKELETON}").count() > 0)

    def settle(self, *, since: float, marker: str | None = None, start_within: float = 2.0,
               quiet: float = 0.3, gave_up: Callable[[], bool] | None = None) -> bool:
        """Wait for the script run caused by an action taken at page time ``since`` (ms), then
        until the app stays idle (no run, no element loading) for ``quiet`` s.

        With ``marker``, the run must follow a message to the server that contains it (an
        upload's file name: the rerun that carries the file). Returns False, after
        ``start_within`` s, if no such run started (a file the uploader refused, say), or as
        soon as ``gave_up()`` says none will.
        """
        start = time.monotonic()
        idle_since = None
        while True:
            elapsed = time.monotonic() - start
            if elapsed > RUN_TIMEOUT_S:
                raise AssertionError(f"the app was still running after {RUN_TIMEOUT_S:.0f} s "
                                     f"(script state {self.script_state()!r})")
            run = self.page.evaluate(RUN_AFTER_JS, [since, marker])
            if not run["ran"] and not self.busy() and (
                elapsed > start_within or (gave_up is not None and gave_up())
            ):
                return False
            if run["finished"]:
                if self.busy():
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= quiet:
                    return True
            time.sleep(0.05)

    def eventually(self, problem: Callable[[], str | None], *, timeout: float) -> str | None:
        """Ask ``problem()`` (None: all is well) whenever the app is idle, until it answers None
        or ``timeout`` s have passed; returns its last answer."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.busy():
                answer = problem()
                if answer is None or time.monotonic() > deadline:
                    return answer
            elif time.monotonic() > deadline + RUN_TIMEOUT_S:
                raise AssertionError(f"the app was still running after {RUN_TIMEOUT_S:.0f} s")
            time.sleep(0.2)

    # reading the page

    def exceptions(self) -> list[str]:
        return self.page.locator(EXCEPTION).all_inner_texts()

    def errors(self) -> list[str]:
        return self.page.locator(ERROR).all_inner_texts()

    def assert_clean(self, what: str) -> None:
        """No exception element and no st.error on the page."""
        exceptions = self.exceptions()
        assert not exceptions, f"{what}: the page shows an exception: {exceptions}"
        errors = self.errors()
        assert not errors, f"{what}: the page shows st.error: {errors}"

    def figure_fingerprint(self) -> str:
        """A hash of every figure: image URLs (Streamlit names media by their content's hash),
        Plotly traces and layouts, and Vega-Lite charts' pixels. Equal hashes, same figures."""
        parts = [json.dumps(self.page.eval_on_selector_all(
            FIGURE_IMAGES, "els => els.map(e => e.getAttribute('src'))"))]
        parts.append(self.page.eval_on_selector_all(
            f"{PLOTLY} .js-plotly-plot",
            "els => JSON.stringify(els.map(e => [e.data, e.layout && e.layout.title]))"))
        for chart in self.page.locator(VEGA).all():
            parts.append(hashlib.sha256(chart.screenshot()).hexdigest())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def text_fingerprint(self) -> str:
        """A hash of the output text (markdown, captions, metrics, alerts, tables)."""
        texts = self.page.locator(f"{MAIN_BLOCK} :is({TEXT_OUTPUTS})").all_inner_texts()
        return hashlib.sha256("\n".join(texts).encode()).hexdigest()

    def figure_count(self) -> int:
        return sum(self.page.locator(s).count() for s in (FIGURE_IMAGES, PLOTLY, VEGA))

    def widget_count(self) -> int:
        """The page's widgets (the shell's sidebar toggle is not one of them)."""
        return self.page.locator(f"{MAIN_BLOCK} :is({WIDGETS})").count()

    # acting

    def move_slider(self, index: int = 0, *, key: str | None = None) -> str:
        """Focus the ``index``-th visible slider and press ``key``; wait for the rerun.

        By default ArrowRight (ArrowLeft at its maximum): one step, so that a costly page reruns
        on a nearby value. Returns the slider's label and its old and new values.
        """
        slider = self.page.locator(f"{SLIDER_INPUT} >> visible=true").nth(index)
        label = slider.get_attribute("aria-label")
        before = slider.get_attribute("value")
        if key is None:
            at_max = float(before) >= float(slider.get_attribute("max"))
            key = "ArrowLeft" if at_max else "ArrowRight"
        slider.focus()
        since = self.clock()
        slider.press(key)
        self.settle(since=since)
        after = slider.get_attribute("value")
        return f"slider {label!r}: {before} -> {after}"

    def move_sliders_until(self, changed: Callable[[], bool], *, tries: int = 3) -> str | None:
        """Move the first slider, then the next, ..., until ``changed()`` (at most ``tries``):
        the first slider may pick the data, and a few more images need not change, say, the
        nearest neighbours. Returns what was moved last; None if there is no slider."""
        moved = None
        for index in range(min(tries, self.slider_count())):
            moved = self.move_slider(index)
            if changed():
                break
        return moved

    def click_button(self, name: str) -> str:
        """Click the button called ``name``; wait for the run it starts."""
        since = self.clock()
        self.page.get_by_role("button", name=name, exact=True).click()
        self.settle(since=since, start_within=5.0)
        return f"button {name!r}"

    def slider_count(self) -> int:
        return self.page.locator(f"{SLIDER_INPUT} >> visible=true").count()

    def click_other_radio_option(self) -> str | None:
        """Check an unchecked option of the first radio group that is not an image source
        choice; None if there is no such group. Returns a description."""
        for group in self.page.locator(RADIO).all():
            options = group.locator(RADIO_OPTION)
            names = [text.strip() for text in options.all_inner_texts()]
            if "Upload" in names:
                continue
            for option, name in zip(options.all(), names, strict=True):
                if not option.locator("input").is_checked():
                    since = self.clock()
                    option.click()
                    self.settle(since=since)
                    return f"radio option {name!r}"
        return None

    def reveal_file_input(self) -> bool:
        """Make a file input present: it is, or a radio option "Upload" shows it when checked."""
        if self.page.locator(FILE_INPUT).count():
            return True
        option = self._upload_option()
        if not option.count():
            return False
        since = self.clock()
        option.first.click()
        self.settle(since=since)
        return self.page.locator(FILE_INPUT).count() > 0

    def shows_upload_choice(self) -> bool:
        """A file input, or a radio option "Upload" that would show one."""
        return self.page.locator(FILE_INPUT).count() > 0 or self._upload_option().count() > 0

    def _upload_option(self) -> Any:
        return self.page.locator(RADIO_OPTION).filter(
            has_text=re.compile(r"^\s*Upload\s*$")
        )

    def upload(self, name: str, data: bytes, mime: str) -> bool:
        """Give the first file input ``data`` as a file called ``name``; wait for the rerun that
        carries it. Returns False if there was none (the uploader refused the file)."""
        since = self.clock()
        self.page.locator(FILE_INPUT).first.set_input_files(
            files=[{"name": name, "mimeType": mime, "buffer": data}]
        )
        return self.settle(since=since, marker=name,
                           gave_up=lambda: self.uploader_refusal(name) is not None)

    def uploader_refusal(self, file_name: str) -> str | None:
        """The uploader's message if it refused ``file_name`` in the browser (type or size)."""
        chip = self.page.locator(f'{UPLOADER} [data-testid="stFileChip"][aria-invalid="true"]')
        chip = chip.filter(has=self.page.locator(f'[title="{file_name}"]'))
        if not chip.count():
            return None
        return " ".join(chip.first.locator('[role="alert"]').all_inner_texts()).strip() or "refused"

    def screenshot(self, path: Path) -> bytes:
        """PNG of the whole app at ``path``; returns its bytes.

        The window is made as tall as the page first: Streamlit scrolls inside its main column,
        and what lies below the window is not painted.
        """
        size = self.page.viewport_size
        height = self.page.eval_on_selector(MAIN_BLOCK, "e => e.scrollHeight")
        self.page.set_viewport_size({"width": size["width"],
                                     "height": min(max(size["height"], height + 40), 12_000)})
        try:
            time.sleep(0.3)  # charts re-lay themselves out for the new size
            self.settle(since=self.clock(), start_within=0.0)
            path.parent.mkdir(parents=True, exist_ok=True)
            return self.page.screenshot(path=str(path))
        finally:
            self.page.set_viewport_size(size)


@pytest.fixture
def app(browser: Any, server: Server) -> Iterator[AppPage]:
    """A fresh tab (own session state) on the app; fails the test if the server logged a
    traceback meanwhile (what the user would not see, with showErrorDetails = none)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(EVENT_LOG_JS)
    offset = server.log_size()
    try:
        yield AppPage(context.new_page(), server)
    finally:
        context.close()
    logged = server.log_since(offset)
    assert "Traceback" not in logged, f"the server logged a traceback:\n{logged[-4000:]}"
