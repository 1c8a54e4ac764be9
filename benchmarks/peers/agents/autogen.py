"""autogen-core as an agent runtime: a ``RoutedAgent`` on a ``SingleThreadedAgentRuntime``,
each step one ``send_message`` request/response to it (how an autogen-core agent calls a tool
agent). autogen-core keeps no durable record of a run: it has no checkpointer, so neither the
durable loop nor crash-resume apply (``save_state``/``load_state`` snapshot agents' state on
request, to storage the application provides)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from autogen_core import (
    AgentId,
    CancellationToken,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    message_handler,
)

from . import _tools
from ._probe import Baseline, kill_leftovers

LABEL = "autogen-core"
PACKAGES = ("autogen-core",)
NO_STORE = "no durable store: autogen-core keeps a run in memory only"
NO_RESUME = "no resume: nothing of a run survives its process (no checkpointer)"


@dataclass
class StepMessage:
    i: int


class Worker(RoutedAgent):
    """Runs ``work`` for each step, inside a task linked to the message's cancellation token:
    autogen-core's documented way for a handler to be cancellable (the token cancels the
    caller's future; a handler that does not link it runs on to its end)."""

    def __init__(self, work: Callable[[int], Awaitable[None]]) -> None:
        super().__init__("bench worker")
        self.work = work

    @message_handler
    async def on_step(self, message: StepMessage, ctx: MessageContext) -> StepMessage:
        task = asyncio.ensure_future(self.work(message.i))
        ctx.cancellation_token.link_future(task)
        await task
        return StepMessage(message.i + 1)


async def _noop(i: int) -> None:
    return None


async def _runtime(work: Callable[[int], Awaitable[None]]) -> tuple[SingleThreadedAgentRuntime, AgentId]:
    runtime = SingleThreadedAgentRuntime()
    await Worker.register(runtime, "worker", lambda: Worker(work))
    runtime.start()
    return runtime, AgentId("worker", "default")


def loop(steps: int, db: str | None, mode: str = "") -> float:
    if db is not None:
        raise NotImplementedError(NO_STORE)

    async def main() -> float:
        runtime, worker = await _runtime(_noop)
        start = time.perf_counter()
        for i in range(steps):
            reply = await runtime.send_message(StepMessage(i), worker)
            assert reply.i == i + 1
        elapsed = time.perf_counter() - start
        await runtime.stop_when_idle()
        await runtime.close()
        return elapsed

    return asyncio.run(main())


async def _cancelled(runtime: SingleThreadedAgentRuntime, worker: AgentId, entered: asyncio.Event) -> float:
    token = CancellationToken()
    call = asyncio.ensure_future(runtime.send_message(StepMessage(0), worker, cancellation_token=token))
    await entered.wait()
    start = time.perf_counter()
    token.cancel()
    with suppress(asyncio.CancelledError):
        await call
    return start


def cancel_await(n: int, db: str | None, mode: str = "") -> tuple[list[float], str]:
    """``CancellationToken.cancel()`` of a ``send_message`` whose handler's work is blocked in
    an await: latency until the work's ``finally`` ran."""

    async def main() -> tuple[list[float], str]:
        state: dict[str, Any] = {}

        runtime, worker = await _runtime(lambda i: _tools.blocked(state))
        out = []
        for k in range(n + 1):
            baseline = Baseline()
            state["entered"] = asyncio.Event()
            start = await _cancelled(runtime, worker, state["entered"])
            out.append(state.pop("cleaned") - start)
            if k == n:
                left = await baseline.leftovers()
                await runtime.stop()
                await runtime.close()
                return out[:n], left
        raise AssertionError("unreachable")

    return asyncio.run(main())


def cancel_command(db: str | None, mode: str = "") -> tuple[float, str]:
    """The work runs ``sleep 60`` (``_tools.program``); the token is cancelled."""

    async def main() -> tuple[float, str]:
        state: dict[str, Any] = {"entered": asyncio.Event()}

        runtime, worker = await _runtime(lambda i: _tools.program(state))
        baseline = Baseline()
        start = await _cancelled(runtime, worker, state["entered"])
        latency = state["cleaned"] - start
        left = await baseline.leftovers([state["pid"]])
        kill_leftovers([state["pid"]])
        await runtime.stop()
        await runtime.close()
        return latency, left

    return asyncio.run(main())
