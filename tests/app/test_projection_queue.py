"""The projection worker's queue: bounded, one request per session, abandoned ones cancelled,
t-SNE size limited (issue 16, item 2)."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor

import numpy as np
import pytest

from app import encoders
from app.encoders.projection import ProjectionQueue, QueueFull


@pytest.fixture
def worker():
    """One worker thread, blocked until ``release`` is set (a busy projection worker)."""
    release = threading.Event()
    pool = ThreadPoolExecutor(1)
    pool.submit(release.wait)
    yield pool, release
    release.set()
    pool.shutdown(wait=True, cancel_futures=True)


def _in_thread(fn):
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as error:  # handed to the test
            out["error"] = error
    thread = threading.Thread(target=target)
    thread.start()
    return thread, out


def test_the_queue_is_bounded_across_sessions(worker, wait_until):
    pool, release = worker
    queue = ProjectionQueue(limit=3)
    waiting = [_in_thread(lambda i=i: queue.run(f"s{i}", lambda i=i: pool.submit(lambda: i)))
               for i in range(3)]
    assert wait_until(lambda: len(queue) == 3)
    with pytest.raises(QueueFull, match="busy with 3 other requests"):
        queue.run("s9", lambda: pool.submit(lambda: 9))
    release.set()
    for thread, _out in waiting:
        thread.join(timeout=10)
    assert sorted(out["value"] for _, out in waiting) == [0, 1, 2] and len(queue) == 0


def test_a_sessions_new_request_cancels_its_queued_one(worker, wait_until):
    pool, release = worker
    queue = ProjectionQueue(limit=5)
    first, first_out = _in_thread(lambda: queue.run("s", lambda: pool.submit(lambda: "old")))
    assert wait_until(lambda: len(queue) == 1)
    second, second_out = _in_thread(lambda: queue.run("s", lambda: pool.submit(lambda: "new")))
    first.join(timeout=10)
    assert isinstance(first_out.get("error"), CancelledError)
    release.set()
    second.join(timeout=10)
    assert second_out["value"] == "new"


def test_an_abandoned_request_is_cancelled_while_it_waits(worker, wait_until):
    pool, _ = worker
    gone = threading.Event()
    queue = ProjectionQueue()
    thread, out = _in_thread(lambda: queue.run("s", lambda: pool.submit(lambda: 1), gone.is_set))
    assert wait_until(lambda: len(queue) == 1)
    gone.set()
    thread.join(timeout=10)
    assert isinstance(out.get("error"), CancelledError) and len(queue) == 0


def test_tsne_is_limited_to_a_size_that_answers_within_a_minute():
    feats = np.zeros((encoders.TSNE_MAX_POINTS + 1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=f"t-SNE is limited to {encoders.TSNE_MAX_POINTS:,}"):
        encoders.project_features(feats, "tsne", perplexity=30.0)


def test_probe_jobs_refuse_past_their_pending_limit_and_queue_nothing():
    from app import shell

    release = threading.Event()
    jobs = shell.BackgroundJobs(workers=1, max_pending=2)
    first = jobs.submit("a", lambda report: release.wait(10))
    second = jobs.submit("b", lambda report: "b")
    busy = jobs.submit("c", lambda report: "c")
    assert busy.done and isinstance(busy.error, shell.JobsBusy) and len(jobs) == 2
    assert "2 other results" in str(busy.error)
    assert jobs.submit("a", lambda report: "again") is first  # a shared job is not refused
    release.set()
    assert first.finished.wait(10) and second.finished.wait(10)
    retried = jobs.submit("c", lambda report: "c")
    assert retried.finished.wait(10) and retried.result == "c"
