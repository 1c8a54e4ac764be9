"""Kernel benchmarks (issue 2): each workload runs through Soma and through raw asyncio /
anyio primitives in the same process, alternating, and reports the ratio."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any

import anyio
import anyio.lowlevel

from soma_runtime.kernel import (
    ONE_FOR_ONE,
    Call,
    ChildRestarted,
    ChildSpec,
    GenServer,
    Node,
    Process,
    Supervisor,
)
from soma_runtime.kernel.reasons import SHUTDOWN

from ._table import Row, best_rate, compare_rates, p99, trace_heap, traced_bytes

PART = "kernel"


class Echo(GenServer):
    async def handle_call(self, request: Any, caller: Call) -> Any:
        return request

    async def handle_cast(self, message: Any) -> None:
        pass


# -- call round-trip ---------------------------------------------------------------------


async def raw_call(n: int) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, asyncio.Future[int]]] = asyncio.Queue()

    async def server() -> None:
        while True:
            request, reply = await queue.get()
            reply.set_result(request)

    task = loop.create_task(server())
    for i in range(n):
        future = loop.create_future()
        queue.put_nowait((i, future))
        await future
    task.cancel()


async def soma_call(n: int) -> None:
    pid = await Echo.start()
    assert pid is not None
    for i in range(n):
        await pid.call(i)
    await pid.process.node.stop(pid)


# -- one-way messages --------------------------------------------------------------------


async def raw_oneway(n: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1000)

    async def consumer() -> None:
        for _ in range(n):
            await queue.get()

    task = asyncio.get_running_loop().create_task(consumer())
    for i in range(n):
        await queue.put(i)
    await task


async def soma_oneway(n: int) -> None:
    pid = await Echo.start(capacity=1000)
    assert pid is not None
    for i in range(n):
        await pid.cast(i)
    await pid.call(None)  # every cast before it has been handled
    await pid.process.node.stop(pid)


# -- spawn + stop ------------------------------------------------------------------------


async def raw_spawn_stop(n: int) -> None:
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    for _ in range(n):
        task = loop.create_task(event.wait())
        await asyncio.sleep(0)  # let it start, as a GenServer's init has
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def soma_spawn_stop(n: int) -> None:
    from soma_runtime.kernel import current_node

    node = current_node()
    for _ in range(n):
        pid = await Echo.start()
        assert pid is not None
        await node.stop(pid)


def bytes_per(make: Any, n: int) -> Any:
    async def measure() -> float:
        trace_heap()
        held = await make(n)
        total = traced_bytes()
        for item in held:  # stop what was measured: servers through the node, tasks by cancel
            if isinstance(item, asyncio.Task):
                item.cancel()
            else:
                await item.process.node.stop(item)
        await asyncio.sleep(0)
        return total / n

    return measure


async def idle_servers(n: int) -> list[Any]:
    return [await Echo.start() for _ in range(n)]


async def idle_tasks(n: int) -> list[Any]:
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    tasks = [loop.create_task(event.wait()) for _ in range(n)]
    await asyncio.sleep(0)
    return tasks


# -- restarts ----------------------------------------------------------------------------


async def soma_restarts(n: int) -> None:
    """A child that crashes right after each start: the supervisor restarts it back to back
    until the (n+1)-th crash exceeds ``intensity=n`` and it gives up. No harness round trips
    in the loop: what is timed is the supervisor's own restart path."""
    from soma_runtime.kernel import current_node

    node = current_node()
    restarts = 0

    def on_report(report: Any) -> None:
        nonlocal restarts
        if isinstance(report, ChildRestarted):
            restarts += 1

    node.report_handlers.append(on_report)
    sup = await Supervisor.start_link(
        [ChildSpec("crasher", SelfCrasher.start_link)], strategy=ONE_FOR_ONE, intensity=n, period=3600.0
    )
    await sup.wait()
    node.report_handlers.remove(on_report)
    assert restarts == n, (restarts, n)


class SelfCrasher(GenServer):
    async def init(self) -> None:
        self.pid.send_nowait("crash")

    async def handle_info(self, message: Any) -> None:
        raise RuntimeError("crash")


# -- cancel latency ----------------------------------------------------------------------


async def raw_cancel_latencies(n: int) -> list[float]:
    out: list[float] = []

    async def blocked(holder: list[anyio.CancelScope], cleaned: asyncio.Future[float]) -> None:
        with anyio.CancelScope() as scope:
            holder.append(scope)
            try:
                await anyio.sleep_forever()
            finally:
                cleaned.set_result(time.perf_counter())

    for _ in range(n):
        cleaned: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        holder: list[anyio.CancelScope] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(blocked, holder, cleaned)
            await anyio.lowlevel.checkpoint()
            start = time.perf_counter()
            holder[0].cancel()
            out.append(await cleaned - start)
    return out


async def soma_cancel_latencies(n: int) -> list[float]:
    from soma_runtime.kernel import current_node

    node = current_node()
    out: list[float] = []

    async def blocked(proc: Process, cleaned: asyncio.Future[float]) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cleaned.set_result(time.perf_counter())

    for _ in range(n):
        cleaned: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        pid = node.spawn(blocked, cleaned)
        await asyncio.sleep(0)
        start = time.perf_counter()
        pid.process.stop(SHUTDOWN)
        out.append(await cleaned - start)
    return out


async def run() -> list[Row]:
    rows: list[Row] = []
    async with Node.open():
        raw, soma = await compare_rates(raw_call, soma_call, 30_000)
        rows.append(Row(PART, "call round-trip", soma, "calls/s", raw, ">= 0.8x", soma / raw >= 0.8))

        raw, soma = await compare_rates(raw_oneway, soma_oneway, 100_000)
        rows.append(Row(PART, "one-way cast", soma, "msgs/s", raw, ">= 1.0x", soma / raw >= 1.0))

        raw, soma = await compare_rates(raw_spawn_stop, soma_spawn_stop, 10_000, rounds=3)
        rows.append(Row(PART, "spawn + stop GenServer", soma, "/s", raw, ">= 0.3x", soma / raw >= 0.3))

        per_server = await bytes_per(idle_servers, 10_000)()
        per_task = await bytes_per(idle_tasks, 10_000)()
        rows.append(
            Row(PART, "memory per idle GenServer", per_server, "B", per_task, "<= 3072 B", per_server <= 3072)
        )

        rate = await best_rate(soma_restarts, 20_000, rounds=1)
        rows.append(Row(PART, "one_for_one restarts", rate, "/s", None, ">= 20k/s", rate >= 20_000))

        raw_lat = await raw_cancel_latencies(2_000)
        soma_lat = await soma_cancel_latencies(2_000)
        med_raw, med_soma = statistics.median(raw_lat) * 1e6, statistics.median(soma_lat) * 1e6
        rows.append(
            Row(PART, "cancel latency median", med_soma, "us", med_raw, "<= 2x", med_soma <= 2 * med_raw)
        )
        p_raw, p_soma = p99(raw_lat) * 1e6, p99(soma_lat) * 1e6
        rows.append(Row(PART, "cancel latency p99", p_soma, "us", p_raw, "<= 2x", p_soma <= 2 * p_raw))
    return rows
