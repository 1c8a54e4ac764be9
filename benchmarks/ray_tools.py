"""Tool calls on Ray (issue 20): what a ``ray`` tool call costs against a ``process`` one — the
other isolation that runs a tool in another OS process and can kill it — measured in the
same runtime, on a local Ray instance this part starts (its start is not measured)."""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import anyio.to_thread

from soma_runtime import RayConfig, Runtime, Step, tool

from ._table import Row

PART = "ray"


@tool(isolation="ray", effect="pure")
def noop_ray() -> int:
    return os.getpid()


@tool(isolation="process", effect="pure")
def noop_process() -> int:
    return os.getpid()


@tool(isolation="ray")
def blocked_ray(fifo: str) -> None:
    with open(fifo, "w") as out:
        out.write("running")
    threading.Event().wait()


async def call_latency(rt: Runtime, tool_name: str, rounds: int) -> float:
    """Median wall time of a one-step run (start to durable end), after one warm-up call."""
    session = await rt.start_session("bench")
    latencies = []
    for i in range(rounds + 1):
        start = time.perf_counter()
        await (await session.start_run([Step("s1", tool_name)])).result()
        if i:
            latencies.append(time.perf_counter() - start)
    return statistics.median(latencies)


async def cancel_latency(rt: Runtime, tmp: str, rounds: int) -> float:
    """From cancel() to its return: the task force-cancelled and its worker process exited."""

    session = await rt.start_session("cancel")
    latencies = []
    for i in range(rounds):
        fifo = os.path.join(tmp, f"ready-{i}")
        os.mkfifo(fifo)
        run = await session.start_run([Step("s1", "blocked_ray", {"fifo": fifo})])
        await anyio.to_thread.run_sync(Path(fifo).read_text)  # returns once the tool runs
        start = time.perf_counter()
        await run.cancel()
        latencies.append(time.perf_counter() - start)
    return statistics.median(latencies)


async def run() -> list[Row]:
    tools = [noop_ray, noop_process, blocked_ray]
    with tempfile.TemporaryDirectory() as tmp:
        config = RayConfig(num_cpus=2)
        async with Runtime.open(tools=tools, vitals=False, ray=config) as rt:
            process = await call_latency(rt, "noop_process", 20)
            ray = await call_latency(rt, "noop_ray", 20)
            cancel = await cancel_latency(rt, tmp, 5)
    return [
        Row(
            PART,
            "one-step run, no-op ray tool",
            ray * 1e3,
            "ms",
            process * 1e3,
            "report",
            note="baseline: the same run with a process tool (a fresh interpreter per call)",
        ),
        Row(
            PART,
            "cancel latency, blocked ray tool",
            cancel * 1e3,
            "ms",
            None,
            "report",
            note="ray.cancel(force=True) until Ray reports the task ended and the worker has exited",
        ),
    ]
