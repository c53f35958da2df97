"""app/shell.py: the heap freeze that keeps full garbage collections off the slider path."""

from __future__ import annotations

import gc
import sys
import time
import types

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


def test_frozen_heap_makes_full_collections_short(unfrozen) -> None:
    """The point of the freeze: a full collection no longer walks the imported modules."""
    gc.collect()
    start = time.perf_counter()
    gc.collect()
    before = time.perf_counter() - start
    shell._modules_at_freeze = 0
    shell.freeze_imported_heap()
    start = time.perf_counter()
    gc.collect()
    after = time.perf_counter() - start
    assert after < before / 3, (before, after)


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
