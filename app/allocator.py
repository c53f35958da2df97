"""The process allocator's settings that keep a long-running server's memory near what it holds.

Streamlit-free, so that the app's worker processes (``app/workers.py``) apply the same settings
as the server (``app.shell.tune_allocator_once``).
"""

from __future__ import annotations

import ctypes
import os
import sys

# glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024
ARENA_MAX = 2


def tune_allocator() -> dict[str, bool]:
    """Keep the server's RSS near what it holds (glibc only; elsewhere nothing is changed).

    Two glibc defaults make a long-running Streamlit server's RSS climb by hundreds of MB while
    it holds far less: (1) the mmap threshold is dynamic: once a large block (an image batch,
    features) is freed, blocks up to that size come from the heap instead of mmap, and a freed
    heap block is rarely returned to the system; (2) every new thread (Streamlit runs each
    rerun in a new thread) may get its own arena, up to 8 per core, each keeping its free
    memory. A fixed 128 KiB threshold sends large arrays to mmap (munmap on free gives them
    back) and two arenas bound the rest. Measured with ``benchmarks/memory.py`` on the
    retrieval page (the same settings through the environment): RSS after warm-up 983 MB
    instead of 1,618 MB, growth over 200 reruns -12 MB instead of -52 to +179 MB.

    A setting the environment already gives (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_ARENA_MAX``)
    is left alone. Returns which settings were applied.
    """
    applied = {"mmap_threshold": False, "arena_max": False}
    if not sys.platform.startswith("linux"):
        return applied
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return applied
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        applied["mmap_threshold"] = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    if "MALLOC_ARENA_MAX" not in os.environ:
        applied["arena_max"] = mallopt(M_ARENA_MAX, ARENA_MAX) == 1
    return applied
