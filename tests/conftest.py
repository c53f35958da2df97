"""Suite-wide fixtures."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable

import pytest


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's script runner (AppTest) replaces ``sys.modules['__main__']`` with the app
    script's module and leaves it there. A later test that starts processes with the ``spawn``
    method would then make each child re-run that script (or a deleted temp file) as its main
    module and die. Put the real ``__main__`` back after every test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny models on one thread, then restore the setting.

    They gain nothing from a second thread, and on a shared 2-core machine OpenMP threads that
    wait for a busy core make small ops 10-40x slower. Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dinov2_cache(tmp_path_factory):
    """A Hugging Face cache holding a tiny random DINOv2 under the id facebook/dinov2-small, so
    code that resolves that hub id offline can be run as a user would run it."""
    import torch
    from transformers import Dinov2Config, Dinov2Model

    cache = tmp_path_factory.mktemp("hf") / "hub"
    commit = "0" * 40
    repo = cache / "models--facebook--dinov2-small"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, mlp_ratio=2, image_size=28,
                                         patch_size=7))
    model.eval().save_pretrained(repo / "snapshots" / commit)
    return cache


class PicklePayload:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears if anything unpickles
    it. Offered to every loader (tests/test_missing_pieces.py) and every page that loads a model
    (tests/app/test_missing_pieces.py)."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def marker(tmp_path):
    """Where a :class:`PicklePayload` would write; checked absent after the test."""
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "something unpickled the malicious payload"


@pytest.fixture
def payload(marker) -> PicklePayload:
    return PicklePayload(marker)


@pytest.fixture
def evil(payload, marker) -> bytes:
    """The pickled payload, checked to work: unpickling it does create the marker (removed)."""
    import pickle

    data = pickle.dumps(payload)
    pickle.loads(data)
    assert marker.exists()
    marker.unlink()
    return data


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: proves a path gives up without trying
    the network (the behaviour behind "fails fast offline"; benchmarks/bench_fail_fast.py times
    it)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"tried to open a network connection: {args[:1]}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _wait_until(condition: Callable[[], bool], *, polls: int = 2000, every_s: float = 0.05
                ) -> bool:
    """Poll ``condition`` until it holds (True) or ``polls`` checks have failed (False)."""
    for _ in range(polls):
        if condition():
            return True
        time.sleep(every_s)
    return condition()


@pytest.fixture
def wait_until() -> Callable[..., bool]:
    """:func:`_wait_until`: wait for something another thread or process does, without reading
    a clock (a test that never sees it fails on the poll count or the suite's timeout)."""
    return _wait_until
