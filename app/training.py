"""Live trainings bounded: one per session, a few per server, and none outliving its page.

A live training (the Run of the DINO and Watch it learn pages) is a child process of 400-500 MB
and a core. :class:`TrainingSlots` keeps the server's count bounded:

- **one per session**: a session that starts a run while its previous one still trains stops
  the previous one first (its stream loop sees the stop within a poll and ends its child);
- **a server-wide cap** (:func:`slot_count`: ``SSL_EXPLORER_TRAINING_SLOTS``, else half the
  cores, at least one): past it, :class:`SlotsFull` says when the first slot frees up;
- **nothing outlives its page**: :func:`live_training`'s loop polls :func:`run_abandoned`
  (Streamlit asked this script run to stop or rerun, or the session's tab is gone), so a
  rerun or a closed tab ends the child within a poll, where the child's own channel would
  have kept the thread waiting until the child's next report.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app import workers

__all__ = ["SLOTS_ENV", "Lease", "SlotsFull", "TrainingSlots", "live_training", "run_abandoned",
           "session_id", "slot_count", "training_slots"]

SLOTS_ENV = "SSL_EXPLORER_TRAINING_SLOTS"
STOP_WAIT_S = 10.0  # how long a new run waits for the session's previous one to stop


def slot_count(environ: dict[str, str] | None = None, cpus: int | None = None) -> int:
    """Live trainings the server runs at once: ``SSL_EXPLORER_TRAINING_SLOTS`` when it is a
    positive integer, else half the cores (at least 1)."""
    raw = (os.environ if environ is None else environ).get(SLOTS_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, (cpus if cpus is not None else os.cpu_count() or 1) // 2)


class SlotsFull(RuntimeError):
    """Every slot is taken; ``wait_s``: when the first one should free up."""

    def __init__(self, capacity: int, wait_s: float, *, yours: bool = False) -> None:
        self.capacity, self.wait_s = capacity, wait_s
        seconds = max(1, math.ceil(wait_s))
        if yours:
            text = f"Your previous run is still stopping — try again in about {seconds} s."
        else:
            slots = "the one training slot" if capacity == 1 else (
                f"all {capacity} training slots")
            text = f"The class is using {slots} — try again in about {seconds} s."
        super().__init__(text)


@dataclass
class Lease:
    """One running training: its session, when its time limit ends (monotonic seconds), and
    ``stop``, set when the session starts another run (the holder's loop must then end)."""

    session: str
    ends_at: float
    stop: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


class TrainingSlots:
    """``capacity`` slots shared by every session; at most one lease per session."""

    def __init__(self, capacity: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1; got {capacity}")
        self.capacity, self._clock = capacity, clock
        self._lock = threading.Lock()
        self._leases: dict[str, Lease] = {}
        self._generations: dict[str, int] = {}  # requests per session: the newest one wins

    def live(self) -> int:
        """Leases held now."""
        with self._lock:
            return len(self._leases)

    def acquire(self, session: str, seconds: float, *, stop_wait_s: float = STOP_WAIT_S) -> Lease:
        """A lease for ``session``'s new run of at most ``seconds``: its previous run is stopped
        first (waiting up to ``stop_wait_s`` for it to let go); of several requests of one
        session waiting for that, the newest gets the lease. Raises :class:`SlotsFull`."""
        with self._lock:
            generation = self._generations[session] = self._generations.get(session, 0) + 1
            previous = self._leases.get(session)
            if previous is not None:
                previous.stop.set()
        if previous is not None and not previous.released.wait(stop_wait_s):
            raise SlotsFull(self.capacity, stop_wait_s, yours=True)
        with self._lock:
            if self._generations[session] != generation:  # a newer run of the session won
                raise SlotsFull(self.capacity, 1.0, yours=True)
            if session in self._leases:  # cannot happen: only the newest request gets here
                raise SlotsFull(self.capacity, 1.0, yours=True)
            if len(self._leases) >= self.capacity:
                now = self._clock()
                raise SlotsFull(self.capacity,
                                min(lease.ends_at for lease in self._leases.values()) - now)
            lease = self._leases[session] = Lease(session, self._clock() + seconds)
            return lease

    def release(self, lease: Lease) -> None:
        """Give ``lease``'s slot back (its child has ended)."""
        with self._lock:
            if self._leases.get(lease.session) is lease:
                del self._leases[lease.session]
        lease.released.set()


@st.cache_resource(show_spinner=False)
def training_slots() -> TrainingSlots:
    """The server's slots (one set per process; :func:`slot_count` of them)."""
    return TrainingSlots(slot_count())


def session_id() -> str:
    """The current session's id (a thread's own id outside a session)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else f"thread-{threading.get_ident()}"


def run_abandoned() -> bool:
    """Whether the current script run has been asked to stop or rerun, or its session has
    ended (the tab closed). Streamlit ends a run only at its next call into Streamlit, and a
    loop waiting on a child makes none; this looks without making one.

    It reads ``ScriptRequests._state`` (Streamlit 1.4x-1.6x: CONTINUE, RERUN or STOP), which is
    not a public attribute; when it is missing this falls back to the session check alone, and
    ``tests/app/test_training.py`` fails so the change is seen.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    state = getattr(getattr(ctx, "script_requests", None), "_state", None)
    if state is not None and getattr(state, "name", "CONTINUE") != "CONTINUE":
        return True
    return Runtime.exists() and not Runtime.instance().is_active_session(ctx.session_id)


def live_training(fn: Callable[..., Iterator[Any]], /, *args: Any, seconds: float,
                  slots: TrainingSlots | None = None, session: str | None = None,
                  abandoned: Callable[[], bool] = run_abandoned, **kwargs: Any
                  ) -> Iterator[Any]:
    """``workers.stream(fn, *args, **kwargs)`` holding one of ``slots`` (default: the server's)
    for ``session`` (default: the current one) for at most ``seconds``: raises
    :class:`SlotsFull` before starting when none is free; ends (closing the child) when the
    session starts another run or :func:`run_abandoned` says the page is gone."""
    slots = slots if slots is not None else training_slots()
    lease = slots.acquire(session if session is not None else session_id(), seconds)
    try:
        stream = workers.stream(fn, *args, should_stop=lambda: lease.stop.is_set()
                                or abandoned(), **kwargs)
        try:
            yield from stream
        finally:
            stream.close()  # ends the child before the slot is given back
    finally:
        slots.release(lease)
