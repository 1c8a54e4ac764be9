"""The one clock every kernel timer reads.

Call timeouts, gen_statem timeouts, supervisor intensity windows, shutdown deadlines and
restart backoff all ask the node's clock, never ``time`` or the loop directly. Production
uses :class:`MonotonicClock` (the event loop's monotonic time); tests use
:class:`VirtualClock`, whose time moves only when the test says ``await clock.advance(dt)``,
so a 30-second timeout is proved in microseconds and without flakiness.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the kernel needs from time: a reading, a timer, and a sleep."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...

    async def sleep(self, delay: float) -> None: ...


class MonotonicClock:
    """Real time: the running event loop's monotonic clock and its timer heap."""

    __slots__ = ("_loop", "call_at", "now")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Bound straight to the loop's clock and timer heap: ``now`` is read on every call
        # with a timeout, and a run step with a timeout arms a timer.
        self.now: Callable[[], float] = self._loop.time
        self.call_at: Callable[[float, Callable[[], None]], TimerHandle] = self._loop.call_at

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)


class _VirtualTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Test time. Nothing fires until :meth:`advance` moves time past a timer's deadline.

    Between two timers, ``advance`` lets every task run until all are blocked again, so the
    effects of one timer (a restart, a reply, a new timer) are visible before the next fires —
    the same order real time would give.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _VirtualTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _VirtualTimer(when, callback)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        return timer

    async def sleep(self, delay: float) -> None:
        done = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        handle = self.call_at(self._now + max(delay, 0.0), wake)
        try:
            await done
        finally:
            handle.cancel()

    def pending(self) -> int:
        """How many live timers are scheduled (cancelled ones are not counted)."""
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def next_deadline(self) -> float | None:
        for when, _, timer in sorted(self._heap):
            if not timer.cancelled:
                return when
        return None

    async def advance(self, delay: float) -> None:
        """Move time forward by ``delay``, firing due timers in deadline order."""
        if delay < 0:
            raise ValueError(f"cannot move time backwards (delay={delay})")
        target = self._now + delay
        await settle()
        while self._heap and self._heap[0][0] <= target:
            when, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
            await settle()
        self._now = target
        await settle()


async def settle(max_rounds: int = 10_000) -> None:
    """Yield to the event loop until every other task is blocked on something.

    A task is blocked when it waits on a future that is not done. This is how a test waits
    "until the system has reacted" without sleeping for a guessed duration.
    """
    this = asyncio.current_task()
    for _ in range(max_rounds):
        await asyncio.sleep(0)
        for task in asyncio.all_tasks():
            if task is this or task.done():
                continue
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is None or waiter.done():
                break
        else:
            return
    raise RuntimeError("settle(): tasks kept running after 10,000 scheduler rounds")
