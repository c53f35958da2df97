"""Who holds the server's GIL under the classroom load: py-spy on the load test's server.

    python3 benchmarks/gil_profile.py [--seconds 35] [--rate 50] [load_test.py options ...]
    e.g. python3 benchmarks/gil_profile.py --sessions 30 --trainers 3 --seconds 40 \\
             --baseline-seconds 15

Runs ``benchmarks/load_test.py`` with the options given, waits for its load phase (more than a
dozen websockets open on the server), then samples the server with ``py-spy record --gil``
(only threads holding the GIL are sampled) for ``--spy-seconds``. Prints how often the GIL
was held at all (samples / (rate x seconds)), and the share of GIL samples per page script
(the ``<module>`` frame of pages/*.py), per other thread, and the functions the largest pages
spend it in, then the load test's own report. Needs py-spy (``pip install py-spy``; a
development tool, not a dependency of the app) and Linux.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE_FRAME = re.compile(r"<module> \((\w+)\.py:\d+\)")


def server_pid(timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", "load_test.py serve"], capture_output=True,
                               text=True).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.5)
    raise RuntimeError("the load test's server did not start")


def open_websockets(pid: int) -> int:
    """Established TCP connections of the server process (its sessions' websockets)."""
    out = subprocess.run(["ss", "-tnp", "state", "established"], capture_output=True,
                         text=True).stdout
    return sum(f"pid={pid}," in line for line in out.splitlines())


def summarise(raw: Path, possible: int) -> None:
    """Shares of GIL samples from py-spy's raw (collapsed stacks) output."""
    total = 0
    where: collections.Counter[str] = collections.Counter()
    inside: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        pages = [(i, m.group(1)) for i, f in enumerate(frames)
                 if (m := PAGE_FRAME.match(f)) and m.group(1) not in ("main", "load_test")]
        if pages:
            index, page = pages[-1]
            key = f"page {page}"
            called = frames[index + 1:]
            detail = (f"{called[0][:60]} ... {called[-1][:70]}" if len(called) > 1
                      else (called or frames)[-1][:90])
        elif any("script_runner.py" in f for f in frames):
            key, detail = "Streamlit's script runner (outside the page)", frames[-1][:90]
        elif any("load_test.py" in f for f in frames):
            key, detail = "the server's main thread (event loop, websockets)", frames[-1][:90]
        else:
            key, detail = f"thread {frames[0].split(':', 1)[-1].strip()[:40]}", frames[-1][:90]
        where[key] += n
        inside[key][detail] += n
    print(f"GIL held in {total} of {possible} samples ({total / max(1, possible):.0%} of the "
          "time)")
    for key, n in where.most_common(15):
        print(f"  {n / max(1, total):6.1%}  {key}")
    for key, _ in where.most_common(4):
        print(f"  in {key}:")
        for detail, n in inside[key].most_common(4):
            print(f"     {n / max(1, total):6.1%}  {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spy-seconds", type=float, default=35.0)
    parser.add_argument("--rate", type=int, default=50)
    args, load_args = parser.parse_known_args(argv)
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        raw, report = Path(tmp) / "gil.txt", Path(tmp) / "load.txt"
        with open(report, "w") as out:
            load = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "load_test.py"),
                                     *load_args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            try:
                pid = server_pid()
                while open_websockets(pid) <= 12:
                    if load.poll() is not None:
                        raise RuntimeError("the load test ended before its load phase")
                    time.sleep(0.5)
                subprocess.run(["py-spy", "record", "-p", str(pid), "-r", str(args.rate),
                                "-d", str(int(args.spy_seconds)), "--gil", "--threads",
                                "--nonblocking", "--format", "raw", "-o", str(raw)],
                               check=True, capture_output=True)
            finally:
                load.wait()
        summarise(raw, int(args.rate * args.spy_seconds))
        print()
        print(report.read_text())
    return load.returncode


if __name__ == "__main__":
    sys.exit(main())
