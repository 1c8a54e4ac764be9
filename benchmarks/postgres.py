"""The PostgreSQL store beside SQLite (issue 20): the same workloads, one after the other in
the same process, on a throwaway local server (a Unix socket; ``fsync=off``, as the cluster is
a test one — so the figures are the store's and the protocol's, not a disk's).

* append throughput with durable acks: 16 producers × ``append_many(250)``;
* per-step overhead of a 2,000-step no-op run, vitals off (each step writes its events).

The ratio is PostgreSQL over SQLite (a SQLite file with its production pragmas). Run alone:
``python -m benchmarks postgres``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Any

import anyio

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


async def run() -> list[Row]:
    try:
        with ThrowawayCluster.started() as cluster, tempfile.TemporaryDirectory() as tmp:
            sqlite_rate = statistics.median(
                [await _append_rate(os.path.join(tmp, f"a{i}.db")) for i in range(ROUNDS)]
            )
            pg_rate = statistics.median([await _append_rate(cluster.new_database()) for _ in range(ROUNDS)])
            sqlite_step = await _per_step(os.path.join(tmp, "steps.db"))
            pg_step = await _per_step(cluster.new_database())
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
    ]
