"""triotp: OTP-style gen_servers and supervisors on trio.

Every measurement runs in its own ``trio.run`` — a separate event loop in this same process,
one at a time, so it never meets the asyncio loops of the other peers. Logging goes to a
logbook NullHandler, as ``triotp.node.run`` sets up by default.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import logbook
import trio
from triotp import gen_server, mailbox, supervisor

from . import triotp_echo as echo
from .triotp_echo import Hooks

LABEL = "triotp"
PACKAGES = ("triotp", "trio")
UNSUPPORTED: dict[str, str] = {}

T = TypeVar("T")


def _run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    async def main() -> T:
        mailbox._init()  # what triotp.node.run does before starting applications
        return await fn(*args)

    with logbook.NullHandler().applicationbound():
        return trio.run(main)


async def _with_echo(body: Callable[[], Awaitable[float]]) -> float:
    """Run ``body`` against one gen_server registered as "echo", then stop it."""
    async with trio.open_nursery() as nursery:
        ready = trio.Event()
        nursery.start_soon(gen_server.start, echo, Hooks(started=ready.set), "echo")
        await ready.wait()
        elapsed = await body()
        await gen_server.cast("echo", "stop")
    return elapsed


def call(n: int) -> float:
    """``await gen_server.call("echo", i)`` (each call opens a reply channel)."""

    async def body() -> float:
        start = time.perf_counter()
        for i in range(n):
            await gen_server.call("echo", i)
        return time.perf_counter() - start

    return _run(_with_echo, body)


def oneway(n: int) -> float:
    """``await gen_server.cast("echo", i)``; the mailbox is an unbuffered trio channel, so
    each cast waits for the server to take it."""

    async def body() -> float:
        start = time.perf_counter()
        for i in range(n):
            await gen_server.cast("echo", i)
        await gen_server.call("echo", None)
        return time.perf_counter() - start

    return _run(_with_echo, body)


def live(n: int, before: Callable[[], None], after: Callable[[], None]) -> None:
    """Unnamed gen_servers started in one nursery; stopped by cancelling it (how trio, and
    triotp's supervisors, stop tasks). Unnamed because tearing down a *named* mailbox scans
    the whole name registry, which would make stopping 10k of them quadratic."""

    async def main() -> None:
        up = 0
        all_up = trio.Event()

        def started() -> None:
            nonlocal up
            up += 1
            if up == n:
                all_up.set()

        before()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(gen_server.start, echo, Hooks(started=started))
            await all_up.wait()
            after()
            nursery.cancel_scope.cancel()

    _run(main)


def restarts(n: int) -> float:
    """``supervisor.start`` with one permanent child that raises at once, allowed ``n``
    restarts: it restarts the child back to back until the (n+1)-th crash, then gives up."""

    async def main() -> float:
        runs = 0

        async def crasher() -> None:
            nonlocal runs
            runs += 1
            raise RuntimeError("crash")

        spec = supervisor.child_spec(
            id="crasher", task=crasher, args=[], restart=supervisor.restart_strategy.PERMANENT
        )
        start = time.perf_counter()
        with contextlib.suppress(RuntimeError, trio.MultiError):  # it gives up: the end
            await supervisor.start([spec], supervisor.options(max_restarts=n, max_seconds=3600))
        elapsed = time.perf_counter() - start
        assert runs == n + 1, (runs, n)
        return elapsed

    return _run(main)


def cancel(n: int) -> list[float]:
    """A gen_server whose cast handler is blocked, stopped by cancelling its nursery's
    scope: triotp has no stop of its own that reaches a blocked handler (a stop is a
    message, read only after the handler returns), so this is trio's cancellation."""

    async def main() -> list[float]:
        out: list[float] = []
        for _ in range(n):
            ready, entered = trio.Event(), trio.Event()
            cleaned = [0.0]

            def stamp(cleaned: list[float] = cleaned) -> None:
                cleaned[0] = time.perf_counter()

            async with trio.open_nursery() as nursery:
                hooks = Hooks(started=ready.set, entered=entered.set, cleaned=stamp)
                nursery.start_soon(gen_server.start, echo, hooks, "blocked")
                await ready.wait()
                await gen_server.cast("blocked", "block")
                await entered.wait()
                start = time.perf_counter()
                nursery.cancel_scope.cancel()
            out.append(cleaned[0] - start)
        return out

    return _run(main)
