"""Soma: GenServers in a kernel Node on asyncio — the kernel benchmark's workloads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from soma_runtime.kernel import SHUTDOWN, GenServer, Node

from .. import kernel
from ._peer import on_asyncio, seconds

LABEL = "Soma"
PACKAGES = ("soma-runtime", "anyio")
UNSUPPORTED: dict[str, str] = {}


async def _in_node(fn: Callable[[int], Awaitable[None]], n: int) -> float:
    async with Node.open():
        return await seconds(fn, n)


def call(n: int) -> float:
    """``await pid.call(i)`` to an echo GenServer (default 5 s call timeout armed)."""
    return on_asyncio(_in_node, kernel.soma_call, n)


def oneway(n: int) -> float:
    """``await pid.cast(i)`` to a GenServer with a 1000-message mailbox (backpressure)."""
    return on_asyncio(_in_node, kernel.soma_oneway, n)


def live(n: int, before: Callable[[], None], after: Callable[[], None]) -> None:
    """``await Echo.start()`` each (a synchronous start: returns after ``init``), then an
    exit signal (``shutdown``) to every one and a wait for each exit."""

    async def main() -> None:
        async with Node.open():
            before()
            pids = [await kernel.Echo.start() for _ in range(n)]
            after()
            for pid in pids:
                assert pid is not None
                pid.exit(SHUTDOWN)
            for pid in pids:
                assert pid is not None
                await pid.wait()

    on_asyncio(main)


def restarts(n: int) -> float:
    """A one_for_one Supervisor restarting a child that crashes right after each start."""
    return on_asyncio(_in_node, kernel.soma_restarts, n)


class Blocked(GenServer):
    """Its cast handler blocks until cancelled, and stamps the time its cleanup ran."""

    async def init(self, entered: asyncio.Future[None], cleaned: asyncio.Future[float]) -> None:
        self.entered = entered
        self.cleaned = cleaned

    async def handle_cast(self, message: Any) -> None:
        self.entered.set_result(None)
        try:
            await anyio.sleep_forever()
        finally:
            self.cleaned.set_result(time.perf_counter())


def cancel(n: int) -> list[float]:
    """``pid.exit(shutdown)`` (a graceful stop: the task is cancelled, cleanup runs) of a
    GenServer whose handler is blocked."""

    async def main() -> list[float]:
        out: list[float] = []
        loop = asyncio.get_running_loop()
        async with Node.open():
            for _ in range(n):
                entered: asyncio.Future[None] = loop.create_future()
                cleaned: asyncio.Future[float] = loop.create_future()
                pid = await Blocked.start(entered, cleaned)
                assert pid is not None
                await pid.cast("block")
                await entered
                start = time.perf_counter()
                pid.exit(SHUTDOWN)
                out.append(await cleaned - start)
                await pid.wait()
        return out

    return on_asyncio(main)
