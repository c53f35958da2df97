"""How fast a slider answers in a real browser: keypress -> a figure or metric has changed.

    python3 benchmarks/bench_browser.py [--presses 16] [--warm-up 2] [--pages infonce mae]
                                        [--write docs/PERFORMANCE.md] [--json out.json]

Starts ``streamlit run app/main.py`` and, as the floor, ``streamlit run benchmarks/bare_page.py``
(five sliders and one ``st.metric``), then drives the system's Chromium through Playwright. For
every slider of every page (found in the page itself, expanders opened), it focuses the slider's
thumb and presses the arrow keys (right and left in turn, so the value stays in range): first
``--warm-up`` presses untimed (they fill caches a class fills for everyone), then ``--presses``
timed ones. A press is timed in the page, from the keydown event to the first change of any
figure or metric of the page (Plotly charts, images, Vega charts, metrics, tables: a hash of their
HTML, checked on every DOM mutation); the next press waits until the script run has ended and the
page is quiet. A slider that changes no figure is timed to the end of its script run instead, and
marked so.

Prints one row per slider (p50, p95, max in ms, and p95 over the bare page's p95) and, with
``--write``, puts the table into the given Markdown file between
``<!-- bench_browser:start -->`` and ``<!-- bench_browser:end -->``. Timings depend on the
machine's load: the table records the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import served_app  # benchmarks/served_app.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
BARE = Path(__file__).resolve().parent / "bare_page.py"
THUMB = '[data-testid="stSlider"] input[type="range"]'  # react-aria's hidden range input
START, END = "<!-- bench_browser:start -->", "<!-- bench_browser:end -->"

OUTPUTS = ", ".join(f'[data-testid="{name}"]' for name in (
    "stMetric", "stPlotlyChart", "stImage", "stVegaLiteChart", "stTable", "stDataFrame",
    "stArrowVegaLiteChart", "stDeckGlJsonChart", "stGraphVizChart"))

# Injected before the app's code: the time of the last keydown, the script-state transitions,
# and a fingerprint of every figure / metric, re-read on each DOM mutation after a press.
PAGE_JS = """
(() => {
  const outputs = OUTPUTS_SELECTOR;
  const hash = (s) => {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return h;
  };
  const fingerprint = () => Array.from(document.querySelectorAll(outputs))
    .map((el) => hash(el.innerHTML)).join(",");
  window.__bench = {keydown: null, changed: null, before: null, states: [], urls: []};
  document.addEventListener("keydown", () => {
    const b = window.__bench;
    b.keydown = performance.now(); b.changed = null; b.before = fingerprint();
  }, true);
  // Every page writes its settings into the URL at the end of a run, fragments included (a
  // fragment's rerun does not flip the app's script state): the time the URL changes.
  for (const name of ["replaceState", "pushState"]) {
    const original = history[name].bind(history);
    history[name] = (...args) => {
      const before = location.href;
      const out = original(...args);
      if (location.href !== before) window.__bench.urls.push(performance.now());
      return out;
    };
  }
  new MutationObserver(() => {
    const b = window.__bench;
    if (b.keydown === null || b.changed !== null) return;
    if (fingerprint() !== b.before) b.changed = performance.now();
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  new MutationObserver((records) => {
    for (const r of records) {
      window.__bench.states.push([performance.now(),
                                  r.target.getAttribute("data-test-script-state")]);
    }
  }).observe(document, {subtree: true, attributes: true,
                        attributeFilter: ["data-test-script-state"]});
})();
""".replace("OUTPUTS_SELECTOR", json.dumps(OUTPUTS))

# After a press: {changed: ms after keydown or null, ended: ms of the run's end or null}.
RESULT_JS = """
() => {
  const b = window.__bench;
  let ran = false, ended = null;
  for (const [t, state] of b.states) {
    if (t < b.keydown) continue;
    if (state === "running") ran = true;
    else if (ran && state === "notRunning" && ended === null) ended = t - b.keydown;
  }
  const url = b.urls.find((t) => t >= b.keydown);
  return {changed: b.changed === null ? null : b.changed - b.keydown, ended, ran,
          url: url === undefined ? null : url - b.keydown};
}
"""


@dataclass
class Row:
    page: str
    slider: str
    key: str
    times_ms: list[float] = field(default_factory=list)
    figure_changed: bool = True
    note: str = ""

    def pct(self, q: float) -> float | None:
        if not self.times_ms:
            return None
        values = sorted(self.times_ms)
        return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]

    @property
    def p50(self) -> float | None:
        return statistics.median(self.times_ms) if self.times_ms else None


@contextmanager
def streamlit_server(script: Path, log: Path) -> Iterator[str]:
    """``streamlit run script`` on a free local port; yields its URL once healthy."""
    try:
        with served_app.streamlit_server(script, log, cwd=ROOT,
                                         args=("--browser.gatherUsageStats", "false")) as (url, _):
            yield url
    except served_app.ServerDidNotStart as error:
        raise SystemExit(f"{error}; see {log}") from None


def settle(page: Any, *, timeout_s: float = 120.0, quiet_s: float = 0.25) -> None:
    """Wait until the script is not running and nothing loads, for ``quiet_s`` in a row."""
    deadline, calm_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        idle = page.evaluate("""() => {
          const app = document.querySelector('[data-testid="stApp"]');
          const busy = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]';
          return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
            && !document.querySelector(busy);
        }""")
        now = time.monotonic()
        if idle:
            calm_since = calm_since or now
            if now - calm_since >= quiet_s:
                return
        else:
            calm_since = None
        time.sleep(0.05)
    raise TimeoutError("the page did not settle")


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"]', timeout=120_000)
    settle(page)
    # Controls folded into expanders are sliders too: open each. The selector matches only closed
    # ones, so the list shrinks as they open: always click the first (a bounded number of times).
    closed = page.locator('[data-testid="stExpander"] details:not([open]) > summary')
    for _ in range(50):
        if closed.count() == 0:
            break
        closed.first.click()
        settle(page)
    settle(page)


def routes(page: Any, url: str) -> list[tuple[str, str]]:
    """(name, path) of every page in the sidebar's navigation."""
    open_page(page, url)
    links = page.locator('[data-testid="stSidebarNavLink"]')
    found = []
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href") or "/"
        path = "/" + href.split("://", 1)[-1].split("/", 1)[-1] if "://" in href else href
        found.append((path.strip("/") or "home", path))
    return found or [("home", "/")]


def sliders(page: Any) -> list[tuple[str, str]]:
    """(label, key) of every slider on the page, in page order."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stSlider"]'))
      .map((s) => {
        const thumb = s.querySelector('input[type="range"]');
        const holder = s.closest('[class*="st-key-"]');
        const keyClass = holder
          ? Array.from(holder.classList).find((c) => c.startsWith('st-key-')) || '' : '';
        return [thumb ? thumb.getAttribute('aria-label') || '' : '', keyClass.slice(7)];
      })""")


def time_slider(page: Any, index: int, *, presses: int, warm_up: int, row: Row,
                timeout_s: float) -> None:
    thumb = page.locator(THUMB).nth(index)
    value, top = (float(thumb.get_attribute(a) or 0) for a in ("value", "max"))
    keys = ["ArrowLeft", "ArrowRight"] if value >= top else ["ArrowRight", "ArrowLeft"]
    for n in range(warm_up + presses):
        thumb = page.locator(THUMB).nth(index)
        thumb.focus()
        page.keyboard.press(keys[n % 2])
        deadline = time.monotonic() + timeout_s
        result: dict[str, Any] = {}
        while time.monotonic() < deadline:
            result = page.evaluate(RESULT_JS)
            if result["ended"] is not None or (not result["ran"] and (
                    result["changed"] is not None or result["url"] is not None)):
                break
            time.sleep(0.02)
        else:
            row.note = f"a press got no answer within {timeout_s:.0f} s"
            return
        settle(page)
        result = page.evaluate(RESULT_JS)  # a figure may change after the run's end
        if n < warm_up:
            continue
        if result["changed"] is not None:
            row.times_ms.append(result["changed"])
        else:
            row.figure_changed = False
            row.times_ms.append(result["ended"] if result["ended"] is not None
                                else result["url"])


def measure(browser: Any, url: str, *, pages: list[str] | None, presses: int, warm_up: int,
            timeout_s: float, viewport: tuple[int, int]) -> list[Row]:
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    context.add_init_script(PAGE_JS)
    page = context.new_page()
    rows = []
    found = routes(page, url)
    for name, path in found:
        if pages and name not in pages:
            continue
        open_page(page, url + path)
        for i, (label, key) in enumerate(sliders(page)):
            row = Row(page=name, slider=label, key=key)
            print(f"  {name}: {label or key} ...", end="", flush=True, file=sys.stderr)
            try:
                time_slider(page, i, presses=presses, warm_up=warm_up, row=row,
                            timeout_s=timeout_s)
            except Exception as err:  # noqa: BLE001 - a broken slider is a row, not the end
                row.note = f"{type(err).__name__}: {err}"[:120]
            print(f" p50 {row.p50} p95 {row.pct(0.95)}", file=sys.stderr)
            rows.append(row)
            open_page(page, url + path)  # back to the page's defaults for the next slider
    context.close()
    return rows


def find_chromium() -> str:
    found = served_app.find_chromium()
    if not found:
        raise SystemExit("no Chromium: apt-get install chromium, or set CHROMIUM=/path")
    return found


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def render(rows: list[Row], floor: Row, *, command: str, started: str, loads: tuple[str, str]
           ) -> str:
    floor_p95 = floor.pct(0.95) or float("nan")
    lines = [
        f"`{command}` — {started}, load average {loads[0]} before, {loads[1]} after. "
        "Keypress to the first change of a figure or metric, in the browser; "
        f"floor: {BARE.relative_to(ROOT)} in the same run.",
        "",
        "| page | slider | p50 ms | p95 ms | max ms | p95 / floor p95 |",
        "|---|---|---:|---:|---:|---:|",
        f"| bare Streamlit page (floor) | {floor.slider} | {fmt(floor.p50)} | {fmt(floor_p95)} | "
        f"{fmt(max(floor.times_ms, default=None))} | 1.00 |",
    ]
    for r in rows:
        p95 = r.pct(0.95)
        ratio = "—" if p95 is None else f"{p95 / floor_p95:.2f}"
        what = f"{r.slider} (`{r.key}`)" if r.key else r.slider
        if not r.figure_changed:
            what += " †"
        if r.note:
            what += f" — {r.note}"
        lines.append(f"| {r.page} | {what} | {fmt(r.p50)} | {fmt(p95)} | "
                     f"{fmt(max(r.times_ms, default=None))} | {ratio} |")
    if any(not r.figure_changed for r in rows):
        lines += ["", "† no figure or metric changed: timed to the end of the script run (a "
                  "fragment's rerun: to the URL taking the new value, its last step)."]
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{START}\n{body}\n{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Sliders in the browser\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=16, help="timed presses per slider [16]")
    parser.add_argument("--warm-up", type=int, default=2, help="untimed presses first [2]")
    parser.add_argument("--pages", nargs="+", help="only these pages (names as in the URL)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per press, seconds [60]")
    parser.add_argument("--viewport", type=int, nargs=2, default=(1280, 900), metavar=("W", "H"))
    parser.add_argument("--write", type=Path, help="Markdown file to put the table in")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    logs = Path(tempfile.mkdtemp(prefix="bench_browser-"))  # the servers' logs
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    options = dict(presses=args.presses, warm_up=args.warm_up, timeout_s=args.timeout,
                   viewport=tuple(args.viewport))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), headless=True)
        with streamlit_server(BARE, logs / "bare.log") as url:
            print("bare page:", file=sys.stderr)
            floor_rows = measure(browser, url, pages=None, **options)
        with streamlit_server(ROOT / "app" / "main.py", logs / "app.log") as url:
            print("app:", file=sys.stderr)
            rows = measure(browser, url, pages=args.pages, **options)
        browser.close()
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # The floor: the bare page's slowest slider (they are alike; the worst is the fair bound).
    floor = max(floor_rows, key=lambda r: r.pct(0.95) or 0.0)
    floor.slider = "5 sliders + 1 metric (slowest slider)"
    command = "python3 benchmarks/bench_browser.py " + " ".join(argv or sys.argv[1:])
    table = render(rows, floor, command=command.strip(), started=started,
                   loads=(load_before, load_after))
    print(table)
    if args.write:
        write_section(args.write, table)
    if args.json:
        args.json.write_text(json.dumps({"floor": asdict(floor), "rows": [asdict(r) for r in rows],
                                         "started": started}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
