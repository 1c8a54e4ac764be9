"""Call timeouts (``kernel._timeouts``): a bucket per step of deadline, the step a power of
two milliseconds, at most a thousandth of the timeout.

* A timeout never fires early, and at most a step (1 ms, or a thousandth of it) late.
* However long the timeout, a busy node keeps a bounded number of buckets and timers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soma_runtime.kernel._timeouts import TIMED_OUT, TimeoutWheel, grain_mask
from soma_runtime.kernel.clock import VirtualClock

pytestmark = pytest.mark.anyio


@given(
    now_ms=st.integers(min_value=0, max_value=10**12),
    timeout=st.floats(min_value=0.001, max_value=7200.0),
)
def test_a_bucket_fires_after_its_deadline_and_at_most_a_step_late(now_ms: int, timeout: float) -> None:
    deadline_ms = int((now_ms / 1000 + timeout) * 1000.0)
    tick = (deadline_ms | grain_mask(timeout)) + 1
    step = grain_mask(timeout) + 1
    assert tick > deadline_ms, "early"
    assert tick - deadline_ms <= step
    assert step == 1 or step <= timeout  # ms: a thousandth of the timeout at most
    assert step & (step - 1) == 0  # a power of two: steps of one timeout line up


async def test_a_long_timeout_under_load_keeps_few_buckets_and_still_fires() -> None:
    clock = VirtualClock()
    wheel = TimeoutWheel(clock)
    loop = asyncio.get_running_loop()
    waiting: list[asyncio.Future[Any]] = []
    for _ in range(10_000):  # a call every millisecond for 10 s, each with a 30 s timeout
        future = loop.create_future()
        wheel.add(30.0, future)
        waiting.append(future)
        await clock.advance(0.001)
    assert clock.pending() <= 10_000 // 16 + 1  # a step of 16 ms: not one timer a millisecond
    await clock.advance(30.0 - 0.02)
    assert not any(f.done() for f in waiting[-10:]), "a timeout fired early"
    await clock.advance(0.04)
    assert all(f.done() and f.result() is TIMED_OUT for f in waiting)
