"""Classroom load: many browser sessions moving sliders on every page while some train DINO live.

    python3 benchmarks/load_test.py [--sessions 30] [--trainers 3] [--seconds 60]
        [--baseline-seconds 48] [--port 8599] [--json out.json]

It starts the real server (``streamlit run app/main.py`` on 127.0.0.1, with the repo's
``.streamlit/config.toml``) and drives it with headless clients that speak Streamlit's own
websocket protocol, as the browser does: ``BackMsg.rerun_script`` with the widget states over
``ws://127.0.0.1:PORT/_stcore/stream``, and ``ForwardMsg`` deltas back until ``script_finished``.
No browser draws anything, so the figures are the server's side of a rerun (script, serialisation,
websocket), which is what many sessions compete for.

Phases:

1. **cold start**: process start -> ``/_stcore/health`` answers -> the first page finished.
2. **baseline**: one session alone does the slider workload for ``--baseline-seconds``, on
   every page in turn (an equal share of the time each, so its mix of pages is the load's); then
   the same session again while ``--trainers`` sessions train DINO live (does one session's
   training stall another's sliders when the server is not overloaded?).
3. **load**: ``--sessions`` sessions do the same workload at once for ``--seconds``, while
   ``--trainers`` more sessions open ``/dino_collapse`` and press its Run button again and again
   (honouring the page's ``run_every`` auto-reruns, as the browser does).

The slider workload: each session starts on its own page (round-robin over the router's pages),
moves a random slider of that page to a random value on its step grid, waits for the rerun to
finish, thinks 0.2-0.8 s, and moves to the next page every ``--dwell`` seconds, so every page is
exercised. A page without a slider is just rerun.

Reported: errors (an ``exception`` element, a compile error, a page not found, a dropped websocket
or a rerun over ``--timeout`` s) with their messages; the ``st.error`` messages pages showed (a
clear message, not an error); p50/p95/max rerun latency of the baseline and under load (goal: load
p95 within 3x the baseline); the latency of slider reruns while a training run was in progress
and the longest gap between two finished slider reruns (a stall would show there); training
progress (reruns and deltas the trainers received); the server's CPU time per slider rerun and
the reruns per second the cores could serve at that cost (what bounds the latency under load);
the server's RSS (start, peak, end); and the weights of every model in the server's
``st.cache_resource`` before and after, plus the sha256 of the bundled checkpoint files.

How the weights are checked: the server is started through this file (``serve`` mode), which
runs Streamlit's own CLI in-process after installing a SIGUSR1 handler; on the signal it walks
``st.cache_resource``'s caches and writes ``ssl_core.eval.weights_fingerprint`` of every
``torch.nn.Module`` it finds to the JSON file named by ``SSL_EXPLORER_FINGERPRINT_FILE``. The app
itself is unchanged.

Exit status 0 when there were no errors, the weights are unchanged and p95 is within 3x; 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "app" / "main.py"
FINGERPRINT_ENV = "SSL_EXPLORER_FINGERPRINT_FILE"
TRAIN_PAGE = "dino_collapse"
TRAIN_BUTTON = r"^(Run|Train|Start)"
# Extra URLs per page that make it load a model or take its other main path (the default URL of
# every page is always visited too). Query keys are the pages' widget keys (app.state.Param).
PAGE_VARIANTS: dict[str, tuple[str, ...]] = {
    "mae": ("mae_source=fashion",),
    "infonce": ("nce_mode=real",),
    "embeddings": ("emb_enc=ckpt%3Adino",),
    "retrieval": ("ret_enc=ckpt%3Adino",),
    "linear_probe": ("lp_enc=ckpt%3Adino",),
}


def page_variants(pages: list[str], only: list[str] | None = None) -> list[tuple[str, str]]:
    """(url path, query string) for every page in ``pages`` (or ``only``) and its variants."""
    if only is None:
        chosen = list(pages)
    else:  # in the order asked for
        chosen = [p for p in only if p in pages] + ([""] if "home" in only else [])
    return [(page, query) for page in chosen for query in ("", *PAGE_VARIANTS.get(page, ()))]


# ----------------------------------------------------------------------------------------------
# the server, with a weights-fingerprint hook
# ----------------------------------------------------------------------------------------------


def _write_fingerprints(*_: object) -> None:
    """SIGUSR1 handler inside the server: fingerprint every nn.Module in st.cache_resource."""
    import torch
    from streamlit.runtime.caching import cache_resource_api

    from ssl_core.eval import weights_fingerprint

    out: dict[str, str] = {}
    caches = cache_resource_api._resource_caches  # noqa: SLF001 (reading only)
    for session_caches in list(caches._function_caches.values()):  # noqa: SLF001
        for cache in list(session_caches.values()):
            with cache._mem_cache_lock:  # noqa: SLF001
                items = list(cache._mem_cache.items())  # noqa: SLF001
            for key, result in items:
                value = getattr(result, "value", None)
                if isinstance(value, torch.nn.Module):
                    out[f"{cache.display_name}[{key[:12]}]"] = weights_fingerprint(value)
    path = Path(os.environ[FINGERPRINT_ENV])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1, sort_keys=True))
    tmp.replace(path)


def serve(port: int) -> None:
    """Run the app's server in this process (``streamlit run app/main.py``) with the hook."""
    if os.environ.get(FINGERPRINT_ENV):
        signal.signal(signal.SIGUSR1, _write_fingerprints)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(MAIN), "--server.port", str(port),
                "--server.address", "127.0.0.1", "--server.headless", "true",
                "--browser.gatherUsageStats", "false"]
    cli.main()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 4, the parent, is [1])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _rss_mb(pid: int) -> float:
    """Resident memory of process ``pid``, MB (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no VmRSS for process {pid} (a zombie?)")


class Server:
    """The app's server in a child process; ``rss_mb()``, ``fingerprints()``, ``stop()``."""

    def __init__(self, port: int | None = None, *, fingerprint_file: Path | None = None,
                 log: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/_stcore/stream"
        self.fingerprint_file = fingerprint_file
        child_env = dict(os.environ) | (env or {})
        child_env.setdefault("OMP_NUM_THREADS", "1")
        if fingerprint_file is not None:
            child_env[FINGERPRINT_ENV] = str(fingerprint_file)
        self.log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"ssl_server_{self.port}.log"
        self.started = time.perf_counter()
        self._log_handle = open(self.log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(self.port)],
            cwd=ROOT, env=child_env, stdout=self._log_handle, stderr=subprocess.STDOUT,
        )
        self.ready_s = self._wait_healthy()

    def _wait_healthy(self, timeout: float = 180.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer /_stcore/health in {timeout:.0f} s")

    def rss_mb(self) -> float:
        """Resident memory of the server process, MB (from /proc)."""
        return _rss_mb(self.proc.pid)

    def children(self) -> list[int]:
        """Process ids of the server's descendants (its fork server, workers and training
        processes; ``app/workers.py``)."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):  # the process ended meanwhile
                parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
        tree, frontier = [], [self.proc.pid]
        while frontier:
            kids = [pid for pid, parent in parents.items() if parent in frontier]
            tree += kids
            frontier = kids
        return tree

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) used so far by the server and its child
        processes, those running and those ended (counted in their parent's children time)."""
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """(the server process's own CPU seconds, its child processes' CPU seconds)."""
        ticks = []
        for pid in [self.proc.pid, *self.children()]:
            try:
                fields = _stat_fields(pid)
            except OSError:  # the process ended meanwhile
                continue
            own, of_children = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
            ticks.append((own, of_children) if pid == self.proc.pid else (0, own + of_children))
        tick = os.sysconf("SC_CLK_TCK")
        return (sum(t[0] for t in ticks) / tick,
                sum(t[1] for t in ticks) / tick)

    def children_rss_mb(self) -> float:
        """Resident memory of the server's child processes together, MB (pages they share with
        each other, such as the fork server's imports, are counted in each)."""
        total = 0.0
        for pid in self.children():
            with contextlib.suppress(OSError):  # the process ended meanwhile
                total += _rss_mb(pid)
        return total

    def wait_idle(self, *, timeout: float = 180.0, busy_below: float = 0.1) -> float:
        """Wait until the server uses less than ``busy_below`` of a core for two seconds running
        (its projection worker compiles UMAP for ~10-30 s after the first page); returns the
        seconds waited."""
        start = time.perf_counter()
        quiet, last = 0, self.cpu_s()
        while quiet < 2 and time.perf_counter() - start < timeout:
            time.sleep(1.0)
            now = self.cpu_s()
            quiet = quiet + 1 if now - last < busy_below else 0
            last = now
        return time.perf_counter() - start

    def fingerprints(self, timeout: float = 60.0) -> dict[str, str]:
        """Ask the server for the weights fingerprint of each cached model (SIGUSR1)."""
        if self.fingerprint_file is None:
            raise RuntimeError("start the Server with fingerprint_file= to read fingerprints")
        self.fingerprint_file.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.perf_counter() + timeout
        while not self.fingerprint_file.exists():
            if time.perf_counter() > deadline:
                raise RuntimeError("the server wrote no fingerprints")
            time.sleep(0.05)
        return json.loads(self.fingerprint_file.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_handle.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def fresh_fingerprints() -> dict[str, str]:
    """weights_fingerprint of each bundled checkpoint loaded afresh from its files, as the app's
    ``load_bundled_method`` and ``load_bundled_encoder`` load it: fingerprint -> what it is."""
    from ssl_core.checkpoints import load_encoder, load_method
    from ssl_core.eval import weights_fingerprint

    folder = ROOT / "assets" / "checkpoints"
    out = {}
    for path in sorted(p.parent for p in folder.glob("*/model.safetensors")):
        out[weights_fingerprint(load_method(path))] = f"{path.name} (method)"
        out[weights_fingerprint(load_encoder(path))] = f"{path.name} (encoder)"
    return out


def weights_verdict(before: dict[str, str], after: dict[str, str], fresh: dict[str, str]
                    ) -> tuple[bool, list[str]]:
    """Unchanged when every model cached before the load has the same fingerprint after it, and
    every bundled model (``_load_encoder`` / ``_load_method``) cached by the end equals a fresh
    load of its checkpoint files. Returns (ok, one line per problem)."""
    problems = [f"{key}: changed during the load" for key in before
                if key in after and after[key] != before[key]]
    problems += [f"{key}: not in the cache after the load" for key in before if key not in after]
    problems += [f"{key}: differs from every bundled checkpoint loaded afresh"
                 for key, value in after.items()
                 if ("_load_encoder" in key or "_load_method" in key) and value not in fresh]
    return not problems, problems


def checkpoint_hashes() -> dict[str, str]:
    """sha256 of every bundled checkpoint's weights file."""
    from ssl_core.checkpoints import file_sha256

    folder = ROOT / "assets" / "checkpoints"
    return {str(p.relative_to(folder)): file_sha256(p)
            for p in sorted(folder.glob("*/model.safetensors"))}


# ----------------------------------------------------------------------------------------------
# a headless session speaking Streamlit's websocket protocol
# ----------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One rerun as the client saw it."""

    latency_s: float
    page: str
    status: str  # "ok", "error" or "timeout"
    deltas: int = 0
    errors: list[str] = field(default_factory=list)  # exceptions, compile errors, ...
    messages: list[str] = field(default_factory=list)  # st.error texts the page showed
    started: float = 0.0
    finished: float = 0.0


@dataclass
class Widget:
    kind: str
    proto: Any
    fragment_id: str = ""  # the st.fragment that drew it: moving it reruns only that fragment


class Session:
    """A browser tab, as far as the server can tell: one websocket, one session."""

    def __init__(self, ws_url: str, *, timeout: float = 120.0) -> None:
        self.ws_url = ws_url
        self.timeout = timeout
        self.ws: Any = None
        self.pages: dict[str, str] = {}  # url path ("" for home) -> page_script_hash
        self.page = ""
        self.page_hash = ""
        self.query_string = ""
        self.widgets: dict[str, Widget] = {}  # id -> widget seen in the last run
        self.values: dict[str, Any] = {}  # id -> WidgetState we set on this page
        self.auto_rerun: dict[str, float] = {}  # fragment id -> interval s (run_every)

    async def connect(self) -> None:
        import websockets

        # No client-side keepalive pings: the browser sends none either, and a busy server's
        # event loop may take longer than websockets' default 20 s to answer one.
        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"],
                                           max_size=None, open_timeout=self.timeout,
                                           ping_interval=None)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def _back_msg(self, *, fragment_id: str = "", auto: bool = True) -> bytes:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query_string
        state.page_script_hash = self.page_hash
        state.page_name = "" if self.page_hash else self.page
        for value in self.values.values():
            state.widget_states.widgets.append(value)
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = auto
        return msg.SerializeToString()

    async def rerun(self, *, fragment_id: str = "", auto: bool = True) -> Run:
        """Send the current widget states and read until the script finishes (``fragment_id``:
        rerun only that fragment, as a run_every tick when ``auto``, else as a widget in it)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        start = time.perf_counter()
        run = Run(latency_s=0.0, page=self.page, status="ok", started=start)
        if not fragment_id:
            self.widgets = {}
        await self.ws.send(self._back_msg(fragment_id=fragment_id, auto=auto))
        finished = ForwardMsg.ScriptFinishedStatus
        while True:
            left = self.timeout - (time.perf_counter() - start)
            try:
                data = await asyncio.wait_for(self.ws.recv(), timeout=max(left, 0.001))
            except TimeoutError:
                run.status = "timeout"
                run.errors.append(f"{self.page or 'home'}: no script_finished in "
                                  f"{self.timeout:.0f} s")
                break
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "delta":
                run.deltas += 1
                self._read_delta(msg.delta, run)
            elif kind in ("new_session", "navigation"):
                pages = (msg.new_session.app_pages if kind == "new_session"
                         else msg.navigation.app_pages)
                if pages:
                    self.pages = {p.url_pathname: p.page_script_hash for p in pages}
                current = (msg.new_session.page_script_hash if kind == "new_session"
                           else msg.navigation.page_script_hash)
                if current:
                    self.page_hash = current
            elif kind == "page_info_changed":
                self.query_string = msg.page_info_changed.query_string
            elif kind == "page_not_found":
                run.errors.append(f"page not found: {msg.page_not_found.page_name!r}")
            elif kind == "session_event":
                event = msg.session_event.WhichOneof("type")
                if event == "script_compilation_exception":
                    exc = msg.session_event.script_compilation_exception
                    run.errors.append(f"{self.page}: compile error {exc.type}: {exc.message}")
            elif kind == "auto_rerun":
                self.auto_rerun[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                self.auto_rerun.clear()
            elif kind == "script_finished":
                status = msg.script_finished
                if status == finished.FINISHED_WITH_COMPILE_ERROR:
                    run.errors.append(f"{self.page}: compile error")
                if status in (finished.FINISHED_SUCCESSFULLY, finished.FINISHED_WITH_COMPILE_ERROR,
                              finished.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                    break
        run.finished = time.perf_counter()
        run.latency_s = run.finished - start
        if run.errors and run.status == "ok":
            run.status = "error"
        # widgets that vanished (another page, a widget drawn conditionally) are forgotten
        if not fragment_id:
            self.values = {k: v for k, v in self.values.items() if k in self.widgets}
        return run

    def _read_delta(self, delta: Any, run: Run) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "exception":
            exc = element.exception
            run.errors.append(f"{self.page or 'home'}: {exc.type}: {exc.message}")
        elif kind == "alert" and element.alert.format == element.alert.ERROR:
            run.messages.append(f"{self.page or 'home'}: {element.alert.body[:200]}")
        elif kind in ("slider", "button", "number_input", "radio", "selectbox", "checkbox"):
            proto = getattr(element, kind)
            if proto.id and not getattr(proto, "disabled", False):
                self.widgets[proto.id] = Widget(kind, proto, delta.fragment_id)

    async def open(self, page: str = "", query: str = "") -> Run:
        """Go to ``page`` (a url path such as "mae"; "" for home) with the URL's ``query``
        (e.g. "mae_source=fashion") and wait for the page to finish."""
        self.page = page
        self.page_hash = self.pages.get(page, "")
        self.values, self.query_string = {}, query
        return await self.rerun()

    # --- widget moves --------------------------------------------------------------------------

    def sliders(self) -> list[Any]:
        return [w.proto for w in self.widgets.values()
                if w.kind == "slider" and not w.proto.form_id]

    def set_slider(self, slider: Any, rng: random.Random) -> None:
        """Move ``slider`` to a random value on its step grid (a range slider moves both ends)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=slider.id)
        ends = max(1, len(slider.default))
        if slider.options:  # st.select_slider: the browser sends the chosen options' labels
            picks = sorted(rng.randrange(len(slider.options)) for _ in range(ends))
            state.string_array_value.data.extend(slider.options[i] for i in picks)
        else:
            steps = max(0, round((slider.max - slider.min) / slider.step)) if slider.step else 0
            values = sorted(slider.min + slider.step * rng.randint(0, steps) for _ in range(ends))
            state.double_array_value.data.extend(min(v, slider.max) for v in values)
        self.values[slider.id] = state

    def button(self, pattern: str) -> Any | None:
        regex = re.compile(pattern, re.IGNORECASE)
        return next((w.proto for w in self.widgets.values()
                     if w.kind == "button" and regex.search(w.proto.label)), None)

    def press(self, button: Any) -> None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        self.values[button.id] = WidgetState(id=button.id, trigger_value=True)

    def release_triggers(self) -> None:
        """Trigger values last one run (as in the browser)."""
        self.values = {k: v for k, v in self.values.items()
                       if v.WhichOneof("value") != "trigger_value"}


async def new_session(ws_url: str, *, timeout: float = 120.0) -> tuple[Session, Run]:
    """Connect and load the home page (which also tells the client the router's pages)."""
    session = Session(ws_url, timeout=timeout)
    await session.connect()
    first = await session.open("")
    return session, first


# ----------------------------------------------------------------------------------------------
# workloads
# ----------------------------------------------------------------------------------------------


async def slider_worker(ws_url: str, *, index: int, seconds: float, dwell: float,
                        seed: int, pages: list[tuple[str, str]] | None = None,
                        think: tuple[float, float] = (0.2, 0.8), timeout: float = 120.0
                        ) -> list[Run]:
    """One student: moves sliders on a page, then the next page every ``dwell`` seconds."""
    rng = random.Random(seed * 1000 + index)
    runs: list[Run] = []
    try:
        session, first = await new_session(ws_url, timeout=timeout)
    except Exception as error:  # a refused or dropped connection is an error we report
        return [Run(0.0, "connect", "error", errors=[f"connect: {error!r}"])]
    order = pages or page_variants(sorted(session.pages))
    end = time.perf_counter() + seconds
    where = index % len(order)
    try:
        while time.perf_counter() < end:
            page, query = order[where]
            runs.append(await session.open(page, query))
            page_end = min(end, time.perf_counter() + dwell)
            while time.perf_counter() < page_end:
                sliders = session.sliders()
                fragment = ""
                if sliders:
                    slider = rng.choice(sliders)
                    session.set_slider(slider, rng)
                    # as the browser: a widget drawn by a fragment reruns only its fragment
                    fragment = session.widgets[slider.id].fragment_id
                runs.append(await session.rerun(fragment_id=fragment, auto=False))
                await asyncio.sleep(rng.uniform(*think))
            where = (where + 1) % len(order)
    except Exception as error:
        runs.append(Run(0.0, session.page, "error", errors=[f"{session.page}: {error!r}"]))
    finally:
        await session.close()
    return runs


@dataclass
class TrainerLog:
    presses: int = 0
    runs: list[Run] = field(default_factory=list)
    busy: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each press
    errors: list[str] = field(default_factory=list)
    note: str = ""


async def trainer_worker(ws_url: str, *, seconds: float, button_pattern: str = TRAIN_BUTTON,
                         timeout: float = 300.0) -> TrainerLog:
    """A student who presses the DINO page's Run button again and again for ``seconds``.

    After a press the page may keep training through ``st.fragment(run_every=...)``; the client
    then sends the auto-reruns the browser would send until the page stops asking.
    """
    log = TrainerLog()
    try:
        session, _ = await new_session(ws_url, timeout=timeout)
        log.runs.append(await session.open(TRAIN_PAGE))
    except Exception as error:
        log.errors.append(f"connect/open {TRAIN_PAGE}: {error!r}")
        return log
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end:
            button = session.button(button_pattern)
            if button is None:
                log.note = (f"no button matching {button_pattern!r} on /{TRAIN_PAGE}; buttons: "
                            f"{[w.proto.label for w in session.widgets.values()]}")
                break
            session.press(button)
            start = time.perf_counter()
            run = await session.rerun()
            session.release_triggers()
            log.presses += 1
            log.runs.append(run)
            while session.auto_rerun and time.perf_counter() < end:  # run_every fragments
                fragment, interval = next(iter(session.auto_rerun.items()))
                await asyncio.sleep(interval)
                log.runs.append(await session.rerun(fragment_id=fragment))
            log.busy.append((start, time.perf_counter()))
    except Exception as error:
        log.errors.append(f"{TRAIN_PAGE}: {error!r}")
    finally:
        await session.close()
    return log


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    if len(data) == 1:
        return data[0]
    return statistics.quantiles(data, n=100, method="inclusive")[round(q) - 1]


def summarise(runs: list[Run]) -> dict[str, float]:
    ok = [r for r in runs if r.status == "ok"]
    times = [r.latency_s * 1e3 for r in ok]
    slowest = max(ok, key=lambda r: r.latency_s, default=None)
    return {"reruns": len(runs), "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95), "max_ms": max(times, default=float("nan")),
            "slowest_page": slowest.page if slowest else ""}


def longest_gap(runs: list[Run], start: float, end: float) -> float:
    """Longest time (s) in [start, end] during which no session finished a rerun."""
    ends = sorted([start, *(r.finished for r in runs if start <= r.finished <= end), end])
    return max(b - a for a, b in zip(ends, ends[1:], strict=False))


def overlaps(run: Run, spans: list[tuple[float, float]]) -> bool:
    return any(run.started < b and run.finished > a for a, b in spans)


class RssSampler:
    def __init__(self, server: Server) -> None:
        self.server, self.samples, self.children, self._task = server, [], [], None

    def sample(self) -> None:
        self.samples.append(self.server.rss_mb())
        self.children.append(self.server.children_rss_mb())

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        self.sample()
        if self._task is not None:
            self._task.cancel()


async def measure(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    report: dict[str, Any] = {"server_ready_s": server.ready_s}
    session, first = await new_session(server.ws_url, timeout=args.timeout)
    report["cold_first_page_s"] = time.perf_counter() - server.started
    report["first_page_errors"] = first.errors
    pages = page_variants(sorted(session.pages))
    report["pages"] = pages
    # warm every page once (model loads, first-run caches) and take the models' fingerprints
    warm = {}
    for page, query in pages:
        run = await session.open(page, query)
        warm[f"{page}?{query}"] = {"ms": run.latency_s * 1e3, "errors": run.errors}
    await session.close()
    report["warm_up_ms"] = warm
    # the projection worker's UMAP compile must not share the baseline's CPU
    report["idle_wait_s"] = await asyncio.to_thread(server.wait_idle)
    report["fingerprints_before"] = server.fingerprints()
    report["checkpoints_before"] = checkpoint_hashes()

    cpu0 = server.cpu_s()
    # the baseline visits every page (as the load's sessions together do), for an equal share
    base_dwell = args.baseline_seconds / len(pages)
    baseline = await slider_worker(server.ws_url, index=0, seconds=args.baseline_seconds,
                                   dwell=base_dwell, seed=args.seed, pages=pages,
                                   timeout=args.timeout)
    report["baseline"] = summarise(baseline)
    report["baseline"]["cpu_s"] = server.cpu_s() - cpu0

    if args.trainers:
        # the same single session again, now while the trainers train: does a live training
        # stall one student's sliders when the server is not overloaded by 30 others?
        results = await asyncio.gather(
            slider_worker(server.ws_url, index=0, seconds=args.baseline_seconds,
                          dwell=base_dwell, seed=args.seed + 1, pages=pages,
                          timeout=args.timeout),
            *(trainer_worker(server.ws_url, seconds=args.baseline_seconds,
                             timeout=args.timeout) for _ in range(args.trainers)))
        report["baseline_training"] = summarise(results[0])
        report["baseline_training_gap_s"] = longest_gap(
            results[0], results[0][0].started if results[0] else 0.0,
            max((r.finished for r in results[0]), default=0.0))
        report["baseline_training_errors"] = [
            e for r in results[0] for e in r.errors] + [
            e for log in results[1:] for r in log.runs for e in r.errors] + [
            e for log in results[1:] for e in log.errors]

    rss = RssSampler(server)
    rss.start()
    t0, split0, client0 = time.perf_counter(), server.cpu_split(), _own_cpu_s()
    students = [slider_worker(server.ws_url, index=i, seconds=args.seconds, dwell=args.dwell,
                              seed=args.seed, pages=pages, timeout=args.timeout)
                for i in range(args.sessions)]
    trainers = [trainer_worker(server.ws_url, seconds=args.seconds, timeout=args.timeout)
                for _ in range(args.trainers)]
    results = await asyncio.gather(*students, *trainers)
    t1 = time.perf_counter()
    split1, client1 = server.cpu_split(), _own_cpu_s()
    load_cpu_s = sum(split1) - sum(split0)
    await rss.stop()
    student_runs = [run for runs in results[:args.sessions] for run in runs]
    logs: list[TrainerLog] = list(results[args.sessions:])
    busy = [span for log in logs for span in log.busy]

    report["load"] = summarise(student_runs)
    report["per_page"] = {
        page: {"baseline": summarise([r for r in baseline if r.page == page]),
               "load": summarise([r for r in student_runs if r.page == page])}
        for page in sorted({r.page for r in baseline} | {r.page for r in student_runs})}
    report["load"]["cpu_s"] = load_cpu_s
    report["load"]["server_cpu_s"] = split1[0] - split0[0]
    report["load"]["workers_cpu_s"] = split1[1] - split0[1]
    report["load"]["client_cpu_s"] = client1 - client0
    report["load"]["seconds"] = t1 - t0
    during = [r for r in student_runs if overlaps(r, busy)]
    report["load_while_training"] = summarise(during)
    sliders_end = max((r.finished for r in student_runs), default=t1)
    report["longest_gap_s"] = longest_gap(student_runs, t0 + 2.0, sliders_end)
    report["pages_exercised"] = sorted({r.page for r in student_runs})
    errors = [e for w in warm.values() for e in w["errors"]]
    errors += [e for r in student_runs for e in r.errors]
    errors += [e for log in logs for r in log.runs for e in r.errors]
    errors += [e for log in logs for e in log.errors]
    errors += report.get("baseline_training_errors", [])
    report["errors"] = errors
    report["page_messages"] = sorted({m for r in student_runs for m in r.messages})
    report["trainers"] = [{"presses": log.presses, "reruns": len(log.runs),
                           "deltas": sum(r.deltas for r in log.runs),
                           "busy_s": sum(b - a for a, b in log.busy), "note": log.note,
                           "messages": sorted({m for r in log.runs for m in r.messages})}
                          for log in logs]
    report["rss_mb"] = {"start": rss.samples[0], "peak": max(rss.samples),
                        "end": rss.samples[-1], "children_peak": max(rss.children),
                        "children_end": rss.children[-1]}
    report["fingerprints_after"] = server.fingerprints()
    report["checkpoints_after"] = checkpoint_hashes()
    fresh = fresh_fingerprints()
    ok, problems = weights_verdict(report["fingerprints_before"], report["fingerprints_after"],
                                   fresh)
    report["weights_unchanged"] = ok and report["checkpoints_before"] == report[
        "checkpoints_after"]
    report["weights_problems"] = problems
    report["matches_fresh_load"] = {key: fresh.get(value, "-")
                                    for key, value in report["fingerprints_after"].items()}
    return report


def _own_cpu_s() -> float:
    """CPU seconds this process (the clients) has used so far."""
    usage = os.times()
    return usage.user + usage.system


def capacity_line(report: dict[str, Any], args: argparse.Namespace) -> str:
    """What the CPU allows: server CPU per slider rerun (baseline), the reruns per second the
    machine's cores could serve at that cost, and what the sessions ask for at the goal."""
    base, load = report["baseline"], report["load"]
    cores = os.cpu_count() or 1
    per_rerun = base["cpu_s"] / max(1, base["reruns"])
    think = 0.5  # mean of the workload's 0.2-0.8 s
    asked = args.sessions / (think + 3 * base["p95_ms"] / 1e3)
    return (f"server CPU (with its worker processes): {per_rerun * 1e3:.0f} ms per slider "
            "rerun alone (baseline); "
            f"{cores} cores serve at most {cores / per_rerun:.1f} such reruns/s; {args.sessions} "
            f"sessions at p95 <= 3x baseline would ask for >= {asked:.1f}/s; under load the "
            f"server used {load['cpu_s']:.0f} CPU-s in {load['seconds']:.0f} s "
            f"({load['cpu_s'] / load['seconds']:.2f} cores: the server process "
            f"{load['server_cpu_s']:.0f}, its workers and trainings "
            f"{load['workers_cpu_s']:.0f}; this script's clients took "
            f"{load['client_cpu_s']:.0f} CPU-s of the same cores) and finished "
            f"{load['reruns'] / load['seconds']:.1f} slider reruns/s")


def print_report(report: dict[str, Any], args: argparse.Namespace) -> bool:
    """Print the figures; True when the run passed (no errors, weights unchanged, p95 <= 3x)."""
    import torch

    base, load, during = report["baseline"], report["load"], report["load_while_training"]
    ratio = load["p95_ms"] / base["p95_ms"] if base["p95_ms"] else float("inf")
    same_weights = report["weights_unchanged"]
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"server ready {report['server_ready_s']:.1f} s after start; first page "
          f"{report['cold_first_page_s']:.1f} s")
    print(f"{args.sessions} slider sessions + {args.trainers} DINO training sessions for "
          f"{args.seconds:.0f} s; baseline: 1 session for {args.baseline_seconds:.0f} s")
    print(f"{'':<28} {'reruns':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  slowest on")
    rows = [("baseline (1 session)", base)]
    if "baseline_training" in report:
        rows.append((f"1 session, {args.trainers} training", report["baseline_training"]))
    rows += [("under load", load), ("under load, while training", during)]
    for label, row in rows:
        print(f"{label:<28} {row['reruns']:>7} {row['p50_ms']:>8.0f} {row['p95_ms']:>8.0f} "
              f"{row['max_ms']:>8.0f}  /{row['slowest_page']}")
    print(f"p95 under load / baseline: {ratio:.2f}x (goal <= 3x)")
    print(f"per page (url path): {'baseline p50/p95 ms':>22} {'under load p50/p95 ms':>24}")
    for page, row in report["per_page"].items():
        cells = [f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} ({r['reruns']})" if r["reruns"] else "-"
                 for r in (row["baseline"], row["load"])]
        print(f"  {page or 'home':<18} {cells[0]:>22} {cells[1]:>24}")
    if "baseline_training" in report:
        alone = report["baseline_training"]
        print(f"p95 of one session while {args.trainers} sessions train / alone: "
              f"{alone['p95_ms'] / base['p95_ms']:.2f}x; longest wait between its reruns "
              f"finishing: {report['baseline_training_gap_s']:.2f} s")
    print(capacity_line(report, args))
    print(f"longest time with no slider rerun finishing: {report['longest_gap_s']:.2f} s")
    for i, t in enumerate(report["trainers"]):
        print(f"trainer {i}: {t['presses']} presses, {t['reruns']} reruns, {t['deltas']} deltas, "
              f"training {t['busy_s']:.1f} s {t['note']}")
    rss = report["rss_mb"]
    print(f"server RSS: {rss['start']:.0f} MB at the start of the load, peak {rss['peak']:.0f} "
          f"MB, {rss['end']:.0f} MB at the end; its worker processes together (shared pages "
          f"counted in each): peak {rss['children_peak']:.0f} MB, {rss['children_end']:.0f} MB "
          "at the end")
    print(f"cached models after the load: {len(report['fingerprints_after'])}; weights "
          f"{'unchanged' if same_weights else 'CHANGED'} ({len(report['fingerprints_before'])} "
          f"cached before the load compared before/after; {len(report['checkpoints_after'])} "
          "checkpoint files by sha256)")
    for key, what in sorted(report["matches_fresh_load"].items()):
        print(f"  {key}: {'= a fresh load of ' + what if what != '-' else 'not a checkpoint'}")
    for problem in report["weights_problems"]:
        print(f"  PROBLEM {problem}")
    print(f"pages exercised: {', '.join(p or 'home' for p in report['pages_exercised'])}")
    if report["page_messages"]:
        print(f"messages pages showed (st.error): {len(report['page_messages'])}")
        for message in report["page_messages"][:10]:
            print(f"  {message}")
    print(f"errors: {len(report['errors'])}")
    for error in sorted(set(report["errors"]))[:20]:
        print(f"  {error}")
    return not report["errors"] and same_weights and ratio <= 3.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve_parser = sub.add_parser("serve", help="(internal) run the server with the hook")
    serve_parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--trainers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=48.0,
                        help="the single session's time, shared equally by every page")
    parser.add_argument("--dwell", type=float, default=10.0,
                        help="seconds a session stays on a page before the next")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="a rerun slower than this counts as an error")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.command == "serve":
        serve(args.port)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    with Server(args.port, fingerprint_file=tmp / f"ssl_fingerprints_{os.getpid()}.json"
                ) as server:
        report = asyncio.run(measure(args, server))
    passed = print_report(report, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
