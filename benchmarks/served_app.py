"""The app served by ``streamlit run`` and the Chromium that drives it, as the browser benchmark
(``bench_browser.py``) and the browser tests (``tests/browser/conftest.py``) both need them: one
way to start a server on a free local port and wait for its health endpoint, one way to find the
browser. Each caller turns a failure into its own kind of stop (``SystemExit``, ``pytest.fail``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


class ServerDidNotStart(RuntimeError):
    """The server exited, or its health endpoint did not answer in time (its log says why)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(script: Path, log: Path, *, cwd: Path, args: Sequence[str] = (),
                     env: Mapping[str, str] | None = None, timeout_s: float = 120.0
                     ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``streamlit run script`` on a free local port, stdout and stderr into ``log``; yields its
    URL and process once ``/_stcore/health`` answers ok, and stops it after. ``cwd`` is where
    Streamlit reads ``.streamlit/config.toml``; ``args`` and ``env`` are added to the command and
    the environment. Raises :class:`ServerDidNotStart` when it exits or does not answer."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless",
               "true", "--server.port", str(port), "--server.address", "127.0.0.1", *args]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise ServerDidNotStart(f"{script} exited with {process.returncode} before "
                                        "serving")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerDidNotStart(f"{script} did not answer {url}/_stcore/health within "
                                        f"{timeout_s:.0f} s")
            time.sleep(0.25)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def find_chromium() -> str | None:
    """``$CHROMIUM`` (when that file exists), else ``chromium`` / ``chromium-browser`` on the
    PATH; None when there is none."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None
