"""What every peer module provides, the workloads, and how one figure is measured.

A peer module defines (each function runs its library's own event loop or threads, and
returns once everything it started is gone):

* ``LABEL`` — the name in tables and charts;
* ``PACKAGES`` — distributions whose versions the report lists;
* ``call(n)`` / ``oneway(n)`` / ``restarts(n)`` — seconds taken by ``n`` of them;
* ``live(n, before, after)`` — start ``n`` idle actors, call ``after()`` once all of them
  run, then stop them all; ``before()`` is called just before the first one starts. The
  spawn + stop rate and the memory per actor are both measured through it;
* ``cancel(n)`` — ``n`` latencies (seconds) from a cancel request to the cleanup of a
  handler blocked in an await;
* ``UNSUPPORTED`` — workload key -> why the peer cannot run it (printed in the report).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    unit: str
    n: int
    higher_is_better: bool


CALL = Workload("call", "call round-trip", "calls/s", 20_000, True)
ONEWAY = Workload("oneway", "one-way messages", "msgs/s", 100_000, True)
SPAWN = Workload("spawn_stop", "spawn + stop of 10k actors", "actors/s", 10_000, True)
RESTARTS = Workload("restarts", "supervisor restarts", "restarts/s", 5_000, True)
CANCEL = Workload("cancel", "cancel latency, blocked handler", "µs", 1_000, False)
HEAP = Workload("heap", "memory per live actor (10k), Python heap", "B", 10_000, False)
RSS = Workload("rss", "memory per live actor (10k), RSS growth", "B", 10_000, False)

TIMED = (CALL, ONEWAY, SPAWN, RESTARTS, CANCEL)  # measured in this process
MEMORY = (HEAP, RSS)  # measured in a fresh interpreter per peer (see memory.py)
ALL = (*TIMED, *MEMORY)


def scaled(workload: Workload, scale: float) -> int:
    """The workload's size for a shorter (smoke) run; never below 10."""
    return max(10, int(workload.n * scale))


def measure(peer: ModuleType, workload: Workload, n: int) -> float:
    """One figure of ``peer`` for ``workload`` in the workload's unit."""
    gc.collect()  # start every figure from the same collector state, outside the timing
    if workload is CANCEL:
        return statistics.median(peer.cancel(n)) * 1e6
    if workload is SPAWN:
        marks: list[float] = []
        peer.live(n, lambda: marks.append(time.perf_counter()), lambda: None)
        return n / (time.perf_counter() - marks[0])
    seconds: float = getattr(peer, workload.key)(n)
    return n / seconds


def on_asyncio(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``fn(*args)`` in a fresh asyncio event loop (through anyio, as Soma runs)."""
    return anyio.run(fn, *args, backend="asyncio")


async def seconds(fn: Callable[[int], Awaitable[None]], n: int) -> float:
    start = time.perf_counter()
    await fn(n)
    return time.perf_counter() - start


def json_from_child(module: str, *args: str) -> Any:
    """Run ``python -m module args...`` in a fresh interpreter (the benchmarks' own, same
    environment and directory) and return the JSON its last line of output holds."""
    argv = [sys.executable, "-m", module, *args]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=os.getcwd())
    if out.returncode != 0:  # say why: the child's own error, not only its exit status
        raise RuntimeError(f"{' '.join(argv[1:])}: exit {out.returncode}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.splitlines()[-1])
