"""app/shell.py: the heap freeze that keeps full garbage collections off the slider path."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from app import shell


@pytest.fixture
def unfrozen():
    """Leave the test process's collector as it found it."""
    saved = shell._modules_at_freeze
    yield
    gc.unfreeze()
    shell._modules_at_freeze = saved


def test_freezes_after_imports_and_only_then(unfrozen) -> None:
    shell._modules_at_freeze = 0
    assert shell.freeze_imported_heap() is True
    assert gc.get_freeze_count() > 10_000  # pytest, torch, streamlit... are in the heap
    assert shell.freeze_imported_heap() is False  # nothing imported since: no second collection

    sys.modules["_ssl_explorer_test_module"] = types.ModuleType("_ssl_explorer_test_module")
    try:
        assert shell.freeze_imported_heap() is True  # a page imported something new
    finally:
        del sys.modules["_ssl_explorer_test_module"]


@pytest.mark.slow
def test_frozen_heap_makes_full_collections_short(unfrozen) -> None:
    """The point of the freeze: a full collection no longer walks the imported modules' objects
    (they move to the permanent generation, which ``gc`` skips). How much shorter the collection
    gets is ``benchmarks/bench_fail_fast.py``'s to measure."""
    gc.collect()
    walked_before = len(gc.get_objects())  # what a full collection visits
    shell._modules_at_freeze = 0
    shell.freeze_imported_heap()
    assert gc.get_freeze_count() > 0
    assert len(gc.get_objects()) < walked_before / 3, (walked_before, len(gc.get_objects()))


def test_frozen_objects_are_still_freed_by_reference_counting(unfrozen) -> None:
    class Probe:
        freed = False

        def __del__(self) -> None:
            Probe.freed = True

    holder = [Probe()]
    shell._modules_at_freeze = 0
    shell.freeze_imported_heap()
    del holder[:]
    assert Probe.freed


ALLOCATION_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

applied = {}
if sys.argv[2] == "tuned":
    from app.allocator import tune_allocator
    applied = tune_allocator()
big = np.ones(4 << 20, dtype=np.uint8); del big  # a freed 4 MB block raises glibc's threshold
before = rss_mb()
blocks = [np.ones(2 << 20, dtype=np.uint8) for _ in range(50)]  # 100 MB of 2 MB arrays
pin = np.ones(1 << 16, dtype=np.uint8)  # allocated after them and kept
del blocks
print(json.dumps({"applied": applied, "kept_mb": rss_mb() - before}))
"""


def _probe(mode: str, env: dict[str, str] | None = None) -> dict:
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", ALLOCATION_PROBE, root, mode], check=True,
                         capture_output=True, text=True, env={**os.environ, **(env or {})},
                         timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_allocator_gives_freed_arrays_back_to_the_system() -> None:
    plain, tuned = _probe("plain"), _probe("tuned")
    assert plain["kept_mb"] > 50  # glibc's defaults keep the freed 100 MB resident...
    assert tuned["applied"] == {"mmap_threshold": True, "arena_max": True}
    assert tuned["kept_mb"] < 5  # ...the app's settings give it back


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_allocator_settings_from_the_environment_win() -> None:
    tuned = _probe("tuned", {"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "4194304"})
    assert tuned["applied"] == {"mmap_threshold": False, "arena_max": False}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_lower_thread_priority_nices_this_thread_only() -> None:
    seen = {}
    main_before = os.getpriority(os.PRIO_PROCESS, threading.main_thread().native_id)

    def work() -> None:
        tid = threading.get_native_id()
        seen["before"] = os.getpriority(os.PRIO_PROCESS, tid)
        with shell.lower_thread_priority(5) as lowered:
            seen["lowered"] = lowered
            seen["inside"] = os.getpriority(os.PRIO_PROCESS, tid)
            seen["main"] = os.getpriority(os.PRIO_PROCESS, threading.main_thread().native_id)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    assert seen["lowered"] is True
    assert seen["inside"] == min(19, seen["before"] + 5)
    assert seen["main"] == main_before  # the rest of the server is unchanged


# --- BackgroundJobs: long computations off the script thread ------------------------------------


def _wait(job: shell.Job, timeout: float = 10.0) -> shell.Job:
    assert job.finished.wait(timeout), "the job did not finish"
    return job


def test_jobs_run_off_the_caller_once_per_key_with_progress(wait_until) -> None:
    jobs = shell.BackgroundJobs(workers=2)
    release, calls, threads = threading.Event(), [], []

    def fit(report):
        calls.append(1)
        threads.append(threading.current_thread().name)
        report(0.5, "halfway")
        assert release.wait(10)
        return {"accuracy": 0.8}

    job = jobs.submit("probe", fit)
    again = jobs.submit("probe", fit)  # a second session asking for the same probe
    assert again is job
    assert wait_until(lambda: job.text == "halfway")
    assert not job.done and job.fraction == 0.5  # the submitting script was not blocked
    release.set()
    assert _wait(job).result == {"accuracy": 0.8} and job.error is None
    assert calls == [1] and threads[0].startswith(shell.BackgroundJobs.THREAD_PREFIX)
    assert jobs.submit("probe", fit) is job  # a finished job is kept


def test_a_failed_job_keeps_its_error_and_is_retried_on_the_next_submit() -> None:
    jobs = shell.BackgroundJobs(workers=1)

    def fails(report):
        raise ValueError("labels per class must be >= 1")

    failed = _wait(jobs.submit("k", fails))
    assert isinstance(failed.error, ValueError) and failed.result is None
    retried = _wait(jobs.submit("k", lambda report: "ok"))
    assert retried is not failed and retried.result == "ok"


def test_finished_jobs_are_bounded() -> None:
    jobs = shell.BackgroundJobs(workers=1, max_entries=3)
    for i in range(6):
        _wait(jobs.submit(i, lambda report, i=i: i))
    assert len(jobs) <= 4  # the newest (just submitted) plus at most max_entries finished
    assert _wait(jobs.submit(5, lambda report: "recomputed")).result == 5  # the newest is kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_job_threads_run_at_a_lower_priority() -> None:
    jobs = shell.BackgroundJobs(workers=1)
    job = _wait(jobs.submit("nice", lambda report: os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id())))
    assert job.result == min(19, os.getpriority(os.PRIO_PROCESS, 0)
                             + shell.BACKGROUND_NICENESS)
