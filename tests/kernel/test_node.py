"""The Node's close: graceful for cooperative processes, bounded for stubborn ones — also on
a virtual clock, whose time does not move while the node closes."""

from __future__ import annotations

import asyncio

import pytest

from soma_runtime.kernel import KILLED, SHUTDOWN, Node, Process, VirtualClock

pytestmark = pytest.mark.anyio


async def stubborn(proc: Process, entered: asyncio.Event) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        entered.set()
        await asyncio.Event().wait()  # ignores the graceful stop: must be killed


async def cooperative(proc: Process) -> None:
    await asyncio.Event().wait()


async def test_close_on_a_virtual_clock_kills_a_stubborn_process_after_a_real_time_bound() -> None:
    entered = asyncio.Event()
    async with Node.open(VirtualClock(), shutdown_timeout=0.2) as node:
        pid = node.spawn(stubborn, entered)
        polite = node.spawn(cooperative)
        task = pid.process.task
    assert entered.is_set()
    assert pid.exit_reason is KILLED
    assert polite.exit_reason == SHUTDOWN
    assert task is not None and task.done()
    assert not node.tasks()
