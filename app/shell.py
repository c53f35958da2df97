"""Pieces of the shell every page shares, and how the one server process serves a class.

The sidebar (device, loaded models) and torch's thread count; then what keeps one process
quick and its memory flat with many sessions (each rerun a thread of it), each measured in
docs/PERFORMANCE.md: a frozen heap for short garbage collections (:func:`freeze_imported_heap`),
a tuned allocator (:func:`tune_allocator`), long computations as shared background jobs
(:class:`BackgroundJobs`) and a lower priority for long work (:func:`lower_thread_priority`).
Work that would hold the GIL for long (UMAP, live training) runs in child processes instead:
``app/workers.py``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
import torch

from app import presenter, resources
from app.allocator import tune_allocator


@st.cache_resource
def device_description() -> str:
    """CPU or the CUDA device's name, computed once per process."""
    if resources.device().type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(resources.device())}"
    return f"CPU ({os.cpu_count()} cores; torch uses {torch.get_num_threads()} thread(s))"


def render_sidebar() -> None:
    """Presenter mode's toggle, the device, and the models this process has loaded (none until a
    page needs one)."""
    presenter.sidebar_toggle()
    with st.sidebar:
        st.caption(f"Device: {device_description()}")
        models = resources.loaded_models()
        if models:
            st.caption("Models loaded: " + "; ".join(f"**{n}** ({d})" for n, d in models))
        else:
            st.caption("Models loaded: none yet (pages load them when needed)")


TORCH_THREADS_ENV = "SSL_EXPLORER_TORCH_THREADS"


@st.cache_resource
def configure_torch() -> int:
    """Once per process: torch's intra-op thread count for the app (default 1).

    The server runs every session in its own thread, and the app's computations are small;
    with several intra-op threads, a busy core makes torch's thread pool wait on it (on a
    2-core machine with one core busy, InfoNCE diagnostics at N = 512 took 250 ms with 2
    threads and 10 ms with 1). Set SSL_EXPLORER_TORCH_THREADS to change it. Returns the count.
    """
    raw = os.environ.get(TORCH_THREADS_ENV, "1")
    threads = int(raw) if raw.isdigit() and int(raw) > 0 else 1
    torch.set_num_threads(threads)
    return threads


_heap_lock = threading.Lock()
_modules_at_freeze = 0


def freeze_imported_heap() -> bool:
    """After a script run that imported modules: a full collection, then ``gc.freeze()``.

    Python's full (generation-2) collection walks every tracked object; after torch, plotly and
    streamlit are imported that is over 400,000 objects, and one pass took ~250 ms on 2 cores,
    landing on every ~20th slider rerun (the InfoNCE page's p95 went from ~60 ms to ~250 ms).
    Module-level objects live as long as the process, so moving them to the permanent
    generation once they exist costs nothing and cuts a full collection to ~10 ms. It runs only
    when ``sys.modules`` grew since the last freeze (the first pages a process shows), so the
    objects frozen are almost all imports; reference counting still frees frozen objects, and
    only cyclic garbage that was alive at a freeze is kept. Returns whether it froze.
    """
    global _modules_at_freeze
    if len(sys.modules) == _modules_at_freeze:
        return False
    with _heap_lock:
        count = len(sys.modules)
        if count == _modules_at_freeze:
            return False
        gc.collect()
        gc.freeze()
        _modules_at_freeze = count
    return True


@st.cache_resource
def tune_allocator_once() -> dict[str, bool]:
    """:func:`tune_allocator`, once per process."""
    return tune_allocator()


BACKGROUND_NICENESS = 10


@contextlib.contextmanager
def lower_thread_priority(niceness: int = BACKGROUND_NICENESS) -> Iterator[bool]:
    """Run the block at a lower CPU priority, this thread only (Linux; elsewhere unchanged).

    For long work in a thread of the server, such as :class:`BackgroundJobs`' probe fits
    (mostly torch and BLAS, which release the GIL): a niced thread leaves the cores to the
    other sessions' slider reruns when they need them and keeps them when they do not. It does
    not reach the GIL: Python-heavy work goes to a process instead (``app/workers.py``).
    Linux applies ``setpriority(PRIO_PROCESS, tid)`` to the one thread. Yields whether the
    priority was lowered; on the way out it is raised back where the system allows (an
    unprivileged process may not; the thread then ends with its script run).
    """
    if not sys.platform.startswith("linux"):
        yield False
        return
    tid = threading.get_native_id()
    try:
        before = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, before + niceness))
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, before)


@dataclass
class Job:
    """A computation running off the script thread: its progress, then its result or error."""

    fraction: float = 0.0
    text: str = "Queued behind other sessions' computations…"
    result: Any = None
    error: BaseException | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    def report(self, fraction: float, text: str) -> None:
        """The job's progress callback: where it is, in [0, 1], and what it is doing."""
        self.fraction, self.text = min(max(float(fraction), 0.0), 1.0), text


class JobsBusy(ValueError):
    """:class:`BackgroundJobs` has ``max_pending`` jobs queued or running already."""


class BackgroundJobs:
    """Long computations (seconds to minutes) run by worker threads, once per key per process.

    A page submits ``fn(report)`` under a key and returns at once, showing the job's progress
    (``st.fragment(run_every=...)``) until it is done: the page stays responsive, the student
    can change a setting meanwhile, and a rerun never blocks for the whole computation (under a
    class's load, a linear probe on 20,000 images inside a rerun took over 2 minutes). Sessions
    asking for the same key share one job. Workers run at a lower thread priority
    (:func:`lower_thread_priority`), so slider reruns go first. Finished jobs are kept (up to
    ``max_entries``, least recently asked dropped); a failed job is replaced by a fresh one on the
    next submit. At most ``max_pending`` jobs wait or run at once: past that a submit returns a
    finished job whose error is :class:`JobsBusy` (a ValueError with a message for the user),
    and nothing is queued.
    """

    THREAD_PREFIX = "ssl-explorer-job"

    def __init__(self, workers: int = 2, max_entries: int = 256, max_pending: int = 8) -> None:
        self.max_entries, self.max_pending = max_entries, max_pending
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix=self.THREAD_PREFIX)
        self._jobs: OrderedDict[Hashable, Job] = OrderedDict()
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._jobs)

    def submit(self, key: Hashable, fn: Callable[[Callable[[float, str], None]], Any]) -> Job:
        with self._guard:
            job = self._jobs.get(key)
            if job is not None and not (job.done and job.error is not None):
                self._jobs.move_to_end(key)
                return job
            pending = sum(not j.done for j in self._jobs.values())
            if pending >= self.max_pending:  # refused, not queued: the next submit tries again
                busy = Job()
                busy.error = JobsBusy(f"the server is computing {pending} other results for "
                                      "the class; this one starts when you come back in a "
                                      "few seconds (or pick a setting already computed)")
                busy.finished.set()
                return busy
            job = self._jobs[key] = Job()
            finished = [k for k, j in self._jobs.items() if j.done]
            for old in finished[: max(0, len(self._jobs) - self.max_entries)]:
                del self._jobs[old]
        self._executor.submit(self._run, job, fn)
        return job

    @staticmethod
    def _run(job: Job, fn: Callable[[Callable[[float, str], None]], Any]) -> None:
        job.report(0.0, "Starting…")
        try:
            with lower_thread_priority():
                job.result = fn(job.report)
        except BaseException as error:  # handed to the page, which shows or re-raises it
            job.error = error
        finally:
            job.finished.set()


class _NoContextWarningFromJobs(logging.Filter):
    """Job threads call ``st.cache_data`` functions outside any session, on purpose; Streamlit
    logs "missing ScriptRunContext" for each. Only those threads' warnings are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(BackgroundJobs.THREAD_PREFIX)


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
    _NoContextWarningFromJobs())
