"""app.workers: heavy work in child processes at a lower priority, off the server's GIL."""

from __future__ import annotations

import itertools
import os
import sys
import types

import numpy as np
import pytest

from app import workers
from ssl_core.eval.projection import project


@pytest.fixture
def pool():
    pool = workers.WorkerPool(1)
    yield pool
    pool.shutdown()


def test_pool_runs_in_another_process_at_a_lower_priority(pool):
    assert pool.run(os.getpid) != os.getpid()
    assert pool.run(os.nice, 0) == min(19, os.nice(0) + workers.WORKER_NICENESS)


@pytest.mark.slow
def test_pool_gives_the_same_projection_as_this_process(pool):
    x = np.random.default_rng(0).normal(size=(120, 16)).astype(np.float32)
    there = pool.run(project, x, "pca", seed=0)
    np.testing.assert_array_equal(there, project(x, "pca", seed=0))


def test_pool_raises_the_callers_error_here(pool):
    with pytest.raises(ValueError, match="method must be one of"):
        pool.run(project, np.zeros((4, 2), np.float32), "nope")


def test_a_dead_worker_is_a_clear_error_and_the_next_call_works(pool):
    with pytest.raises(workers.WorkerError, match="stopped before it answered"):
        pool.run(os._exit, 3)  # the worker dies mid-call, as an out-of-memory kill would
    assert pool.run(abs, -3) == 3


def test_warm_up_runs_in_the_worker_before_it_is_ready():
    pool = workers.WorkerPool(1, warm_up=os.getpid)
    try:
        assert pool.warm_up_future().result(timeout=120) is True
        assert pool.run(abs, -1) == 1
    finally:
        pool.shutdown()


def test_stream_yields_each_item_from_a_child():
    pids = list(workers.stream(itertools.starmap, os.getpid, [(), ()]))
    assert len(pids) == 2 and pids[0] == pids[1] != os.getpid()
    assert list(workers.stream(itertools.repeat, "x", 3)) == ["x", "x", "x"]


def test_stream_raises_the_childs_error_after_the_items_before_it():
    items = workers.stream(map, int, ["1", "2", "three"])
    assert next(items) == 1 and next(items) == 2
    with pytest.raises(ValueError, match="three"):
        next(items)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_closing_a_stream_ends_its_child(wait_until):
    items = workers.stream(itertools.starmap, os.getpid, [()] * 100_000)
    child = next(items)
    assert _alive(child)  # still running, with items left to give
    items.close()
    assert wait_until(lambda: not _alive(child), polls=200)


def test_children_never_rerun_the_parents_main_script(tmp_path, monkeypatch):
    """Under Streamlit ``__main__`` is the app's router script (no main guard): a child that
    re-ran it would start a page in a worker (found in the load test: every projection failed)."""
    marker = tmp_path / "ran"
    script = tmp_path / "router.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('the child ran the main script')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    assert list(workers.stream(itertools.repeat, 5, 2)) == [5, 5]
    pool = workers.WorkerPool(1)
    try:
        assert pool.run(abs, -3) == 3
    finally:
        pool.shutdown()
    assert not marker.exists()


def test_processes_can_be_switched_off(monkeypatch):
    monkeypatch.setenv(workers.PROCESSES_ENV, "0")
    pool = workers.WorkerPool(1)
    assert pool.run(os.getpid) == os.getpid()
    with pytest.raises(ValueError):
        pool.run(int, "x")
    assert list(workers.stream(itertools.starmap, os.getpid, [()])) == [os.getpid()]


def test_workers_start_with_the_servers_allocator_settings(monkeypatch):
    import torch

    from app import allocator

    calls = []
    monkeypatch.setattr(allocator, "tune_allocator", lambda: calls.append(True) or {})
    workers._init_worker(0, torch.get_num_threads(), None)  # what each child runs first
    assert calls == [True]
