"""One row per measurement, printed as a table of ratios against raw baselines; and the
measuring helpers every part shares (rates, percentiles, spreads, heap per object)."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


@dataclass
class Row:
    part: str
    name: str
    value: float
    unit: str
    baseline: float | None = None  # same workload, raw primitives, same process
    target: str = ""  # e.g. ">= 0.8x" or "<= 3072 B"
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def fmt(x: float) -> str:
    if x >= 100_000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.2f}"


def print_table(rows: list[Row]) -> None:
    labels = [f"{r.name} ({r.unit})" for r in rows]
    width = max([44, *map(len, labels)])  # one table, however long a part names its rows
    head = f"{'part':7} {'benchmark':{width}} {'soma':>12} {'baseline':>12} {'ratio':>8}  {'target':>10}  ok"
    print(head)
    print("-" * len(head))
    for r, label in zip(rows, labels, strict=True):
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        base = "" if r.baseline is None else fmt(r.baseline)
        ok = "" if r.ok is None else ("yes" if r.ok else "NO")
        print(f"{r.part:7} {label:{width}} {fmt(r.value):>12} {base:>12} {ratio:>8}  {r.target:>10}  {ok}")
        if r.note:
            print(f"{'':8}{r.note}")


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass(frozen=True)
class Spread:
    """The median of several runs, with their min and max (a noisy machine shows in the range)."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values), len(values))


def trace_heap() -> None:
    """Start counting Python heap allocations (see ``traced_bytes``)."""
    gc.collect()
    tracemalloc.start()


def traced_bytes() -> int:
    """Bytes allocated since ``trace_heap()`` and still alive; stops tracing.

    tracemalloc sees the Python heap only: an OS thread's stack, for one, is not in it.
    """
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size


async def best_rate(fn: Callable[[int], Awaitable[None]], n: int, rounds: int = 3) -> float:
    """Operations per second: the median of ``rounds`` timed runs of ``fn(n)``."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn(n)
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


async def compare_rates(
    raw: Callable[[int], Awaitable[None]],
    soma: Callable[[int], Awaitable[None]],
    n: int,
    rounds: int = 5,
) -> tuple[float, float]:
    """Median ops/s of each, with raw and Soma rounds alternating so that noise from a
    shared machine falls on both alike."""
    raw_rates: list[float] = []
    soma_rates: list[float] = []
    for _ in range(rounds):
        for fn, rates in ((raw, raw_rates), (soma, soma_rates)):
            start = time.perf_counter()
            await fn(n)
            rates.append(n / (time.perf_counter() - start))
    return statistics.median(raw_rates), statistics.median(soma_rates)
