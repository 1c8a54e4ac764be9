"""The floor: every workload written directly on asyncio / anyio, no actor library.

The call, one-way and cancel workloads are the kernel benchmark's own baselines
(``benchmarks.kernel``); spawn + stop starts all tasks first, like the peers' 10k actors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from .. import kernel
from ._peer import on_asyncio, seconds

LABEL = "raw asyncio"
PACKAGES = ("anyio",)
UNSUPPORTED: dict[str, str] = {}


def call(n: int) -> float:
    """An asyncio.Queue of (request, future) pairs served by one task."""
    return on_asyncio(seconds, kernel.raw_call, n)


def oneway(n: int) -> float:
    """A bounded asyncio.Queue(1000) drained by one task."""
    return on_asyncio(seconds, kernel.raw_oneway, n)


def live(n: int, before: Callable[[], None], after: Callable[[], None]) -> None:
    """Bare tasks waiting on an asyncio.Event; stopped by cancelling them all."""

    async def main() -> None:
        before()
        tasks = await kernel.idle_tasks(n)
        after()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    on_asyncio(main)


def restarts(n: int) -> float:
    """A task that raises, awaited and started again: the least a restart can cost."""

    async def crash() -> None:
        raise RuntimeError("crash")

    async def respawn(count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            with contextlib.suppress(RuntimeError):
                await loop.create_task(crash())

    return on_asyncio(seconds, respawn, n)


def cancel(n: int) -> list[float]:
    """An anyio CancelScope around a task blocked in ``sleep_forever``."""
    return on_asyncio(kernel.raw_cancel_latencies, n)
