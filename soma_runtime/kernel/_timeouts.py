"""Call timeouts without a timer per call.

A ``loop.call_later`` + ``cancel`` pair costs ~1.4 us here, a quarter of a whole call
round-trip. Calls instead drop their reply future into a bucket per millisecond of deadline;
one clock timer per bucket fires it and resolves every still-waiting future with
``TIMED_OUT``. A call that gets its reply just discards its future from the bucket. Timeouts
therefore fire at most one resolution step late, which no caller can tell apart from
scheduling jitter.

The step grows with the timeout: a power of two milliseconds, at most a thousandth of it
(``grain_mask``). A bucket lives until its deadline, with its clock timer and callback, so at
one step a millisecond a busy node kept up to 30,000 of them for the store's 30 s call
timeout: a heap of timers for the loop, and objects that lived long enough for the cyclic
collector to promote them all into its full collections. With the step scaled, no timeout
keeps more than ~2,000 buckets, and none fires later than a thousandth of itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .clock import Clock


class _TimedOut:
    """Result a timed-out call's future is resolved with (cheaper than an exception)."""


TIMED_OUT = _TimedOut()

RESOLUTION = 0.001  # seconds per tick; add() computes ticks as milliseconds


def grain_mask(timeout: float) -> int:
    """The step of a timeout's bucket, in milliseconds, minus one: the largest power of two
    no more than a thousandth of it (1 ms under 2 s). ``ms | mask`` rounds ``ms`` up to the
    step's last millisecond, so ``+ 1`` is the next step's first."""
    if timeout < 2.0:
        return 0
    return (1 << (int(timeout).bit_length() - 1)) - 1


class TimeoutWheel:
    __slots__ = ("_buckets", "_clock", "_now")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._now = clock.now
        self._buckets: dict[int, set[asyncio.Future[Any]]] = {}

    def add(self, timeout: float, future: asyncio.Future[Any]) -> set[asyncio.Future[Any]]:
        """Register ``future``; returns its bucket, from which the caller discards it on reply.

        ``Pid.call`` inlines this fast path (bucket exists); keep the two in step.
        """
        # The next step strictly after the deadline: never early, at most one step late.
        tick = (int((self._now() + timeout) * 1000.0) | grain_mask(timeout)) + 1
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self.new_bucket(tick)
        bucket.add(future)
        return bucket

    def new_bucket(self, tick: int) -> set[asyncio.Future[Any]]:
        bucket: set[asyncio.Future[Any]] = set()
        self._buckets[tick] = bucket
        self._clock.call_at(tick * RESOLUTION, lambda: self._fire(tick))
        return bucket

    def _fire(self, tick: int) -> None:
        for future in self._buckets.pop(tick, ()):
            if not future.done():
                future.set_result(TIMED_OUT)
