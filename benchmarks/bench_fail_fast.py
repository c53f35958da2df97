"""How fast the failure paths answer, and what freezing the imported heap saves a full collection.

    python3 benchmarks/bench_fail_fast.py [--repeats 5]

The tests check that these paths give up without waiting on the network or decoding pixels
(``tests/data/test_data.py``, ``tests/models/test_hf.py``, ``tests/test_missing_pieces.py``); this
script prints how long they take on this machine (best and worst of ``--repeats``):

- Fashion-MNIST download asked for with no network (the connection is refused at once);
- the same with a connection attempt that hangs (the probe's own timeout decides);
- a decompression-bomb PNG header refused by ``decode_image``;
- a transformers model absent from an empty Hugging Face cache, offline;
- one full ``gc.collect()`` after importing torch, streamlit and plotly, before and after
  ``app.shell.freeze_imported_heap()``.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(best, worst) wall seconds of ``fn()`` over ``repeats`` calls; exceptions are expected."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            fn()
        except Exception:  # the failure is the point: only its latency is measured
            pass
        times.append(time.perf_counter() - start)
    return min(times), max(times)


@contextmanager
def connections(behaviour: Callable[..., Any]):
    """``socket.create_connection`` replaced by ``behaviour`` for the block."""
    original = socket.create_connection
    socket.create_connection = behaviour
    try:
        yield
    finally:
        socket.create_connection = original


def refuse(*args: Any, **kwargs: Any) -> None:
    raise OSError("Network is unreachable")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk claiming ``width`` x ``height`` RGB pixels, no data."""
    body = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + body
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(body)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from ssl_core.data import decode_image, load_fashion_mnist
    from ssl_core.models.hf import load_hf_encoder

    rows: list[tuple[str, tuple[float, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        with connections(refuse):
            rows.append(("Fashion-MNIST download, no network", timed(
                lambda: load_fashion_mnist("test", source="full", root=tmp, download=True),
                args.repeats)))
        release = threading.Event()

        def hang(*a: Any, **k: Any) -> None:
            release.wait(30)
            raise OSError("released")

        with connections(hang):
            rows.append(("Fashion-MNIST download, hanging connection", timed(
                lambda: load_fashion_mnist("test", source="full", root=tmp, download=True), 1)))
        release.set()
        bomb = png_header_only(20_000, 3_000)
        rows.append(("decompression-bomb header refused", timed(lambda: decode_image(bomb),
                                                                args.repeats)))
        os.environ["HF_HUB_OFFLINE"] = "1"
        empty = Path(tmp) / "hub"
        empty.mkdir()
        rows.append(("transformers model not in the cache", timed(
            lambda: load_hf_encoder("facebook/dinov2-small", cache_dir=empty), args.repeats)))

    import plotly.graph_objects  # noqa: F401  (the heap a page run has)
    import streamlit  # noqa: F401
    import torch  # noqa: F401

    from app import shell

    gc.collect()
    rows.append(("full gc.collect(), heap not frozen", timed(gc.collect, args.repeats)))
    shell.freeze_imported_heap()
    rows.append(("full gc.collect(), imported heap frozen", timed(gc.collect, args.repeats)))
    gc.unfreeze()

    width = max(len(name) for name, _ in rows)
    print(f"{'path':<{width}}  {'best ms':>9}  {'worst ms':>9}")
    for name, (best, worst) in rows:
        print(f"{name:<{width}}  {best * 1e3:>9.1f}  {worst * 1e3:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
