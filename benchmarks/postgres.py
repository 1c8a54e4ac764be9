"""The PostgreSQL store beside SQLite (issue 20): the same workloads, one after the other in
the same process, on a throwaway local server (a Unix socket; ``fsync=off``, as the cluster is
a test one — so the figures are the store's and the protocol's, not a disk's).

* append throughput with durable acks: 16 producers × ``append_many(250)``;
* per-step overhead of a 2,000-step no-op run, vitals off (each step writes its events);
* failover: two runtimes in two processes share the log; one is SIGKILLed while its run is
  blocked in a tool, and the time until the other has resumed that run is measured.

The ratio is PostgreSQL over SQLite (a SQLite file with its production pragmas). Run alone:
``python -m benchmarks postgres``.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import anyio
import anyio.to_thread

from soma_runtime import Runtime, Step, tool
from soma_runtime.store.events import EventDraft
from soma_runtime.store.log import open_event_log
from soma_runtime.testing.postgres import ClusterUnavailable, ThrowawayCluster

from ._table import Row

PART = "postgres"
PRODUCERS = 16
BATCH = 250
EVENTS = 48_000
STEPS = 2_000
ROUNDS = 3
FAILOVER_LEASE = 2.0


@tool
async def noop() -> None:
    return None


def _payload(i: int) -> dict[str, Any]:
    return {"tool": "echo", "args": {"value": i, "text": "some tool argument"}}


async def _append_rate(db: str) -> float:
    calls = EVENTS // PRODUCERS // BATCH
    async with open_event_log(db) as log:

        async def producer(k: int) -> None:
            for c in range(calls):
                await log.append_many(
                    [
                        EventDraft("step.started", _payload(c * BATCH + i), run_id=f"r{k}")
                        for i in range(BATCH)
                    ]
                )

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for k in range(PRODUCERS):
                tg.start_soon(producer, k)
        return calls * PRODUCERS * BATCH / (time.perf_counter() - start)


async def _per_step(db: str) -> float:
    async with Runtime.open(db=db, tools=[noop], vitals=False) as rt:
        session = await rt.start_session("bench")
        times = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            run = await session.start_run([Step(f"s{i}", "noop") for i in range(STEPS)])
            await run.result()
            times.append((time.perf_counter() - start) / STEPS)
        return statistics.median(times)


def _start_nodes(url: str) -> tuple[list[subprocess.Popen[str]], str]:
    """The victim and the survivor started, each with its run begun; the victim's run id."""
    argv = [sys.executable, "-m", "benchmarks._pg_node", url]
    nodes = [
        subprocess.Popen([*argv, label], stdout=subprocess.PIPE, text=True)
        for label in ("victim", "survivor")
    ]
    runs = []
    for node in nodes:
        assert node.stdout is not None
        runs.append(node.stdout.readline().split()[1])
    return nodes, runs[0]


async def _failover(url: str) -> float:
    """Seconds from SIGKILL of a node to its run's ``run.resumed`` on another node."""
    url = f"{url}&soma_lease={FAILOVER_LEASE}"
    nodes, victim_run = await anyio.to_thread.run_sync(_start_nodes, url)
    try:
        async with open_event_log(url, readonly=True, poll_interval=0.01) as log:
            await _first(log, victim_run, "step.started", "s2")  # the victim is blocked in s2
            killed = time.perf_counter()
            nodes[0].send_signal(signal.SIGKILL)
            await _first(log, victim_run, "run.resumed", None)
            return time.perf_counter() - killed
    finally:
        for node in nodes:
            node.kill()
            node.wait()


async def _first(log: Any, run_id: str, type_: str, step_id: str | None) -> None:
    async for event in log.subscribe(from_seq=1, run_id=run_id, type=type_):
        if step_id is None or event.step_id == step_id:
            return


async def run() -> list[Row]:
    try:
        with ThrowawayCluster.started() as cluster, tempfile.TemporaryDirectory() as tmp:
            sqlite_rate = statistics.median(
                [await _append_rate(os.path.join(tmp, f"a{i}.db")) for i in range(ROUNDS)]
            )
            pg_rate = statistics.median([await _append_rate(cluster.new_database()) for _ in range(ROUNDS)])
            sqlite_step = await _per_step(os.path.join(tmp, "steps.db"))
            pg_step = await _per_step(cluster.new_database())
            failover = statistics.median([await _failover(cluster.new_database()) for _ in range(ROUNDS)])
    except ClusterUnavailable as exc:  # raised before anything ran: no server binaries here
        return [Row(PART, "PostgreSQL store", 0, "-", note=f"not measured: {exc}")]
    return [
        Row(
            PART,
            f"append_many({BATCH}) x{PRODUCERS}, durable acks",
            pg_rate,
            "ev/s",
            sqlite_rate,
            "report",
            note="baseline: the same on a SQLite file; PostgreSQL on a local Unix socket",
        ),
        Row(
            PART,
            "per-step overhead, no-op task tool, core",
            pg_step * 1e6,
            "us",
            sqlite_step * 1e6,
            "report",
            note=f"a {STEPS}-step run, vitals off, median of {ROUNDS}; baseline: the same on SQLite",
        ),
        Row(
            PART,
            f"failover, node killed -> its run resumed (lease {FAILOVER_LEASE:g} s)",
            failover,
            "s",
            FAILOVER_LEASE,
            "report",
            note="two runtimes, two processes, one database; baseline: the lease. A lease is renewed every"
            " third of it and claims are made as often: failover takes 2/3 to 4/3 of the lease",
        ),
    ]
