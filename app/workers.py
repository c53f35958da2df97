"""Work that would hold the server's GIL for long, done in child processes at a lower priority.

Streamlit runs every session's script as a thread of one server process, so pure-Python and
numba work of one session holds the interpreter lock (GIL) that every other session's rerun
needs; thread priorities do not reach the GIL. Profiled under the classroom load (30 sessions,
``benchmarks/gil_profile.py``), UMAP's layout optimisation (numba, which keeps the GIL) held the
server's GIL 55% of the time; in a profile of all its threads, the three live DINO trainings
took a fifth of the samples. Here they run in processes of their own, started from a fork
server that has imported torch and the library once (a child starts in ~0.1 s, not the ~3 s of
a fresh interpreter), at a lower OS priority (the projection worker at +5, live training at
+19), so the kernel gives the cores to the server's reruns first and the server's GIL stays
free for them. (The linear probe's fits stay in threads, ``app.shell.BackgroundJobs``: mostly
torch and BLAS, which release the GIL.)

- :class:`WorkerPool`: persistent workers for short calls (a projection), with an optional
  warm-up in each worker (UMAP's numba compile happens there, not in the server);
- :func:`stream`: a generator run in a child process of its own (the DINO page's live run),
  whose items come back as it yields them; closing the iterator (a rerun, a stop) ends the child.

``SSL_EXPLORER_PROCESSES=0`` runs everything in the calling thread instead (same results; for
platforms without ``fork``-like process start, or debugging). Arguments and results cross the
process boundary by pickle between the app's own processes; nothing a user supplies is unpickled.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import spawn
from typing import Any

PROCESSES_ENV = "SSL_EXPLORER_PROCESSES"
# imported once by the fork server, so that every child starts with them
PRELOAD = ["numpy", "torch", "ssl_core.eval.projection", "lesson.live.dino"]
WORKER_NICENESS = 5
STREAM_NICENESS = 19
_POLL_S = 0.25

_context_lock = threading.Lock()
_context: Any = None


class WorkerError(RuntimeError):
    """A worker process died (killed, out of memory) before it answered."""


def enabled() -> bool:
    """Whether heavy work goes to child processes (``SSL_EXPLORER_PROCESSES`` not "0")."""
    return os.environ.get(PROCESSES_ENV, "1") != "0"


CHILD_PREFIX = "ssl-explorer-"


def _preparation_data(name: str) -> dict[str, Any]:
    """multiprocessing's data for a new child, without the parent's main script for ours.

    multiprocessing re-runs the parent's ``__main__`` in every fork-server or spawned child (so
    that functions defined there can be unpickled). Under Streamlit ``__main__`` is the app's
    router script, which would start a page in each child. The app's children run functions of
    importable modules only, so for processes named :data:`CHILD_PREFIX`... the main script is
    left out; other processes are untouched.

    This replaces ``multiprocessing.spawn.get_preparation_data``, a function the standard
    library does not document (CPython 3.11: ``popen_forkserver`` and ``popen_spawn_posix`` call
    it per child, and ``spawn.prepare`` re-imports ``init_main_from_path`` /
    ``init_main_from_name``). No supported switch exists: a main guard cannot be added to a
    script Streamlit runs as ``__main__``, and swapping ``sys.modules["__main__"]`` while a child
    starts would race with the sessions' threads. :func:`context` installs it once, only when
    the app starts its first child. If a Python release renames the function or its keys,
    ``tests/app/test_workers.py::test_children_never_rerun_the_parents_main_script`` fails (a
    child then re-runs a fake router that leaves a marker file).
    """
    data = _original_preparation_data(name)
    if name.startswith(CHILD_PREFIX):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


_original_preparation_data = spawn.get_preparation_data


class _Named:
    """Names the app's processes :data:`CHILD_PREFIX`... (see :func:`_preparation_data`)."""

    name: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.name.startswith(CHILD_PREFIX):
            self.name = CHILD_PREFIX + self.name


_mp_context = multiprocessing.context
if hasattr(_mp_context, "ForkServerProcess"):  # POSIX

    class AppForkServerProcess(_Named, _mp_context.ForkServerProcess):
        pass

    class _ForkServerContext(_mp_context.ForkServerContext):
        Process = AppForkServerProcess


class AppSpawnProcess(_Named, _mp_context.SpawnProcess):
    pass


class _SpawnContext(_mp_context.SpawnContext):
    Process = AppSpawnProcess


def context() -> Any:
    """The multiprocessing context of the app's children: a fork server where the platform has
    one (Linux, macOS), preloading :data:`PRELOAD`; spawn elsewhere. Its processes are named
    :data:`CHILD_PREFIX`... (see :func:`_preparation_data`)."""
    global _context
    with _context_lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                _context = _ForkServerContext()
                _context.set_forkserver_preload(PRELOAD)
            else:
                _context = _SpawnContext()
            if spawn.get_preparation_data is _original_preparation_data:
                spawn.get_preparation_data = _preparation_data
        return _context


def _lower_priority(niceness: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not permitted, or not a POSIX system
        os.nice(niceness)


def _init_worker(niceness: int, threads: int, warm_up: Callable[[], Any] | None) -> None:
    import torch

    from app.allocator import tune_allocator

    # the server's allocator settings: without them the projection worker's RSS grew by 58 MB
    # over 200 embeddings reruns (glibc keeping freed multi-MB distance blocks; app/allocator.py)
    tune_allocator()
    _lower_priority(niceness)
    torch.set_num_threads(threads)
    if warm_up is not None:
        warm_up()


def _noop() -> bool:
    return True


class WorkerPool:
    """``workers`` persistent child processes at ``niceness`` for short calls.

    ``warm_up`` (a module-level function) runs once in each worker as it starts;
    :meth:`warm_up_future` tells when the first worker has done it. A worker that dies (killed,
    out of memory) raises :class:`WorkerError` for the calls it had, and the next call starts
    fresh workers.
    """

    def __init__(self, workers: int = 1, *, niceness: int = WORKER_NICENESS,
                 warm_up: Callable[[], Any] | None = None, threads: int = 1) -> None:
        self.workers, self.niceness, self.threads = workers, niceness, threads
        self._warm_up = warm_up
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._ready: Future | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context(), initializer=_init_worker,
                    initargs=(self.niceness, self.threads, self._warm_up))
                self._ready = self._executor.submit(_noop)  # done once a worker is warm
            return self._executor

    def warm_up_future(self) -> Future:
        """A future done when a worker has started and run its warm-up (starts the pool)."""
        self._pool()
        assert self._ready is not None
        return self._ready

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if not enabled():
            done: Future = Future()
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as error:  # handed to the caller by result()
                done.set_exception(error)
            return done
        try:
            return self._pool().submit(fn, *args, **kwargs)
        except BrokenProcessPool:  # an earlier worker died: start over once
            self._reset()
            return self._pool().submit(fn, *args, **kwargs)

    def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker; its exceptions are raised here."""
        future = self.submit(fn, *args, **kwargs)
        try:
            return future.result()
        except BrokenProcessPool as error:
            self._reset()
            raise WorkerError("the worker process stopped before it answered (killed or out of "
                              "memory); try again") from error

    def _reset(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor, self._ready = None, None

    def shutdown(self) -> None:
        self._reset()


def _pump(out: Any, fn: Callable[..., Iterator[Any]], args: tuple, kwargs: dict,
          niceness: int, threads: int) -> None:
    """In the child: put ("item", x) for each item of ``fn(*args, **kwargs)``, then ("done", None)
    or ("error", exception)."""
    try:
        _init_worker(niceness, threads, None)
        for item in fn(*args, **kwargs):
            out.put(("item", item))
    except BaseException as error:  # sent to the parent, which raises it
        try:
            out.put(("error", error))
        except Exception:  # the exception itself does not pickle
            out.put(("error", RuntimeError(f"{type(error).__name__}: {error}")))
    else:
        out.put(("done", None))
    out.close()
    out.join_thread()


def stream(fn: Callable[..., Iterator[Any]], /, *args: Any, niceness: int = STREAM_NICENESS,
           threads: int = 1, should_stop: Callable[[], bool] | None = None,
           **kwargs: Any) -> Iterator[Any]:
    """Iterate ``fn(*args, **kwargs)`` (a module-level generator function) in a child process.

    Items arrive as the child yields them; an exception in the child is raised here; closing
    this iterator (or leaving the loop by an exception, such as Streamlit's rerun) stops the
    child. ``should_stop`` is asked every poll (a quarter second) even while the child is
    silent: once it says True the iteration ends and the child with it (a page gone, a newer
    run). The child runs at ``niceness`` below the server.
    """
    if not enabled():
        for item in fn(*args, **kwargs):
            if should_stop is not None and should_stop():
                return
            yield item
        return
    ctx = context()
    channel = ctx.Queue()
    child = ctx.Process(target=_pump, args=(channel, fn, args, kwargs, niceness, threads),
                        name=CHILD_PREFIX + "stream", daemon=True)
    child.start()
    try:
        while True:
            if should_stop is not None and should_stop():
                return
            try:
                kind, value = channel.get(timeout=_POLL_S)
            except queue.Empty:
                if not child.is_alive() and channel.empty():
                    raise WorkerError(
                        f"the worker process stopped (exit code {child.exitcode}) before it "
                        "finished; try again") from None
                continue
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=5)
        channel.close()
        channel.cancel_join_thread()
