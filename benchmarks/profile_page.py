"""Where a page's rerun spends its time when one slider moves: cProfile of the page script.

    python3 benchmarks/profile_page.py PAGE KEY VALUES [--top N]
    python3 benchmarks/profile_page.py augmentations aug_brightness 0.1,0.15,0.2,0.25,0.3

Runs ``pages/PAGE.py`` under Streamlit's AppTest (no browser, no server), moves the slider
``KEY`` through ``VALUES`` one rerun each, and profiles the page script itself inside the script
thread (AppTest runs it in a thread of its own, which a profiler started here would not see).
Prints each rerun's script time and the functions with the most cumulative time over the timed
reruns (the first, which fills the caches, is left out). AppTest runs the whole page: a fragment
would rerun only its part in the browser, so this is the cost of a full rerun; what a slider's
fragment does is the part under it. Figures for docs/PERFORMANCE.md, not a test.
"""

from __future__ import annotations

import argparse
import os
import pstats
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVER = '''
import cProfile, os, time
import streamlit as st
page = os.environ["PROFILE_PAGE"]
code = compile(open(page, encoding="utf-8").read(), page, "exec")
profile = cProfile.Profile()
started = time.perf_counter()
profile.enable()
try:
    exec(code, {"__name__": "__main__", "__file__": page})
finally:
    profile.disable()
    st.session_state.setdefault("_profiles", []).append((time.perf_counter() - started, profile))
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", help="a page's name, as pages/<name>.py")
    parser.add_argument("key", help="the slider's widget key, e.g. nce_tau")
    parser.add_argument("values", help="comma-separated values to move it to, one rerun each")
    parser.add_argument("--top", type=int, default=25, help="functions listed [25]")
    args = parser.parse_args(argv)
    page = ROOT / "pages" / f"{args.page}.py"
    if not page.is_file():
        parser.error(f"no page {args.page!r} (pages/{args.page}.py)")
    values = [float(v) for v in args.values.split(",")]
    sys.path.insert(0, str(ROOT))
    os.environ["PROFILE_PAGE"] = str(page)
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        driver = Path(tmp) / "driver.py"
        driver.write_text(DRIVER, encoding="utf-8")
        at = AppTest.from_file(str(driver), default_timeout=300)
        at.run()
        for value in values:
            sliders = [s for s in at.slider if s.key == args.key]
            if not sliders:
                parser.error(f"page {args.page!r} has no slider {args.key!r}")
            sliders[0].set_value(value).run()
        profiles = at.session_state["_profiles"][1:]
    times = [round(1000 * t) for t, _ in profiles]
    print(f"pages/{args.page}.py, {args.key} -> {values}: script ms per rerun {times} "
          f"(load average {os.getloadavg()[0]:.2f})")
    stats = pstats.Stats(profiles[-1][1])
    for _, profile in profiles[1:-1]:
        stats.add(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
