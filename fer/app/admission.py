"""Admission control for live streams: at most so many at once per server process.

Each live stream costs a share of the CPU (decode, detect, classify, draw, encode). Past
what the machine carries, every stream slows down together and their pictures fall
behind; so the next tab is told that the camera view is busy (and pointed to Snapshots)
instead. The limit is ``$FER_MAX_STREAMS``, else one stream per two CPU cores this process
may use (at least one).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable

from fer.engine.classify import usable_cores

MAX_STREAMS_ENV = "FER_MAX_STREAMS"
STALE_S = 15.0  # a slot whose stream has shown no frame for this long is taken back


def max_streams_from_env() -> int:
    """``$FER_MAX_STREAMS`` (a positive integer), else one per two CPU cores available (at
    least one). Measured on a 2-core machine running the browser too
    (``benchmarks/live_latency.py``): one stream 200 ms median, 300 ms p95 at 19 processed
    fps; two streams 600 ms median, 1.4 s p95 at 4.5-5.7 fps each, below the 5 fps that
    a moving label needs and past the 1 s that keeps the picture live."""
    raw = os.environ.get(MAX_STREAMS_ENV, "").strip()
    if not raw:
        return max(1, usable_cores() // 2)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_STREAMS_ENV} must be a positive integer, got {raw!r}")
    return value


class StreamSlots:
    """A server-wide count of running live streams, with a limit (thread-safe).

    A stream takes a slot when it starts (:meth:`admit`), marks it alive as frames come
    (:meth:`touch`) and gives it back when it ends (:meth:`release`). A slot whose stream
    vanished without ending (a killed tab whose connection has not timed out yet) is taken
    back after :data:`STALE_S` seconds without a frame, so it cannot lock the booth out.
    """

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic):
        if limit < 1:
            raise ValueError(f"the stream limit must be at least 1, got {limit}")
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[Hashable, float] = {}  # holder -> last sign of life

    def admit(self, holder: Hashable) -> bool:
        """Give ``holder`` a slot if it has one or one is free; False when all are taken."""
        with self._lock:
            self._drop_stale()
            if holder not in self._seen and len(self._seen) >= self.limit:
                return False
            self._seen[holder] = self._clock()
            return True

    def touch(self, holder: Hashable) -> None:
        with self._lock:
            if holder in self._seen:
                self._seen[holder] = self._clock()

    def release(self, holder: Hashable) -> None:
        with self._lock:
            self._seen.pop(holder, None)

    def holds(self, holder: Hashable) -> bool:
        with self._lock:
            self._drop_stale()
            return holder in self._seen

    def running(self) -> int:
        with self._lock:
            self._drop_stale()
            return len(self._seen)

    def full(self) -> bool:
        return self.running() >= self.limit

    def _drop_stale(self) -> None:
        now = self._clock()
        for holder in [h for h, seen in self._seen.items() if now - seen > STALE_S]:
            del self._seen[holder]


_server_slots: StreamSlots | None = None
_server_lock = threading.Lock()


def server_slots() -> StreamSlots:
    """This server process's slots (made on first use from ``$FER_MAX_STREAMS``)."""
    global _server_slots
    with _server_lock:
        if _server_slots is None:
            _server_slots = StreamSlots(max_streams_from_env())
        return _server_slots
