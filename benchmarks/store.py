"""Event store benchmarks (issue 3). ``main()`` returns one dict per measurement.

Every figure is measured against a raw baseline run in the same process on the same machine:

* append throughput with durable acks (``EventLog.append_many`` from concurrent producers,
  and single ``append`` calls) vs raw ``aiosqlite`` ``executemany`` (the store's own driver),
  and plain ``sqlite3.executemany`` for reference: 1000 pre-built rows per transaction, into
  the same schema with the same pragmas (WAL, synchronous=NORMAL). The raw baselines do no
  validation, redaction, serialization or envelopes: that work is Soma's, and in its figure;
* p99 acknowledgement latency of those appends;
* subscription fan-out: 10 subscribers following 100k events, how far behind the writer;
* trace query: one run's events in a 1M-event log (median), vs the same indexed SELECT
  through plain sqlite3.

Run alone: ``python -m benchmarks.store``. Takes ~30 s on 2 idle cores (longer on a busy machine).
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from soma_runtime.store._feed import EventFeed
from soma_runtime.store.events import EventDraft, prepare_event
from soma_runtime.store.log import open_event_log
from soma_runtime.store.sqlite import COLUMNS, SqliteLog

from ._floor import floor_appends
from ._table import Row, p99

PART = "store"

APPEND_EVENTS = 100_000
SINGLE_EVENTS = 30_000
ROUNDS = 2
FANOUT_EVENTS = 100_000
FANOUT_SUBSCRIBERS = 10
QUERY_LOG_SIZE = 1_000_000
QUERY_RUN_LENGTH = 20


def _payload(i: int) -> dict[str, Any]:
    return {"tool": "echo", "args": {"value": i, "text": "some tool argument"}}


async def _create_schema(path: Path) -> None:
    log = await SqliteLog.open(path)
    await log.close()


def _fresh(directory: Path, name: str) -> Path:
    path = directory / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------- appends


def _baseline_rows(directory: Path, name: str, n: int) -> tuple[Path, list[tuple[Any, ...]], str]:
    path = _fresh(directory, name)
    anyio.run(_create_schema, path)
    prepared = [prepare_event("tool.started", _payload(i), {"run_id": f"run-{i // 20}"}) for i in range(n)]
    rows = [
        (i + 1, p.event_id, p.ts, p.type, *p.ids, p.source, p.payload_json) for i, p in enumerate(prepared)
    ]
    insert = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    return path, rows, insert


def baseline_executemany(directory: Path, n: int) -> float:
    """Plain sqlite3, the same schema and pragmas, 1000 pre-built rows per transaction."""
    path, rows, insert = _baseline_rows(directory, "baseline", n)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = NORMAL")
    start = time.perf_counter()
    for k in range(0, n, 1000):
        conn.executemany(insert, rows[k : k + 1000])
        conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def baseline_aiosqlite(directory: Path, n: int) -> float:
    """Raw aiosqlite (the store's driver), the same rows and batches as the sqlite3 baseline,
    from one task on an otherwise idle event loop."""
    path, rows, insert = _baseline_rows(directory, "baseline_aio", n)

    async def insert_all() -> float:
        async with aiosqlite.connect(path) as conn:
            await conn.execute("PRAGMA synchronous = NORMAL")
            start = time.perf_counter()
            for k in range(0, n, 1000):
                await conn.executemany(insert, rows[k : k + 1000])
                await conn.commit()
            return n / (time.perf_counter() - start)

    return anyio.run(insert_all)


async def soma_append_many(directory: Path, n: int, producers: int, batch: int) -> tuple[float, list[float]]:
    """Events/s and per-call ack latencies: each producer appends ``batch`` events per call.

    Each producer builds its drafts as it goes, inside the clock — the caller's work, counted
    against Soma. Built up front instead (as the baseline's rows are), they were ~300k objects
    the cyclic collector tracks (the rows are tuples of atoms, which it stops tracking), and
    every full collection walked them: the benchmark's own heap, not the store, took ~20% of
    the figure (measured)."""
    path = _fresh(directory, "many")
    latencies: list[float] = []
    calls = n // producers // batch
    async with open_event_log(path) as log:

        async def produce(k: int) -> None:
            for i in range(calls):
                run_id = f"run-{k}-{i}"
                drafts = [EventDraft("tool.started", _payload(j), run_id=run_id) for j in range(batch)]
                t0 = time.perf_counter()
                await log.append_many(drafts)
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for k in range(producers):
                tg.start_soon(produce, k)
        elapsed = time.perf_counter() - start
    return calls * producers * batch / elapsed, latencies


async def soma_append(directory: Path, n: int, producers: int) -> tuple[float, list[float]]:
    """Events/s and ack latencies of single ``append`` calls from concurrent producers."""
    path = _fresh(directory, "single")
    latencies: list[float] = []
    per = n // producers
    async with open_event_log(path) as log:
        await log.append("session.started", {})

        payloads = [_payload(i) for i in range(per)]  # the caller's work, as above

        async def produce(k: int) -> None:
            for i in range(per):
                t0 = time.perf_counter()
                await log.append("tool.started", payloads[i], run_id=f"run-{k}-{i // 20}")
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for k in range(producers):
                tg.start_soon(produce, k)
        elapsed = time.perf_counter() - start
    return per * producers / elapsed, latencies


# --------------------------------------------------------------------------- fan-out


async def fanout(directory: Path, n: int, subscribers: int) -> dict[str, float]:
    """Producers append ``n`` events while ``subscribers`` follow the log.

    Lag is measured from the commit (the moment the store publishes it to the feed, recorded
    by wrapping ``EventFeed.publish`` for this benchmark only) to the moment each subscriber's
    ``async for`` yields the event; sampled every 100th seq.
    """
    path = _fresh(directory, "fanout")
    committed_at: dict[int, float] = {}
    seen_at: list[dict[int, float]] = [{} for _ in range(subscribers)]
    done_at = [0.0] * subscribers
    publish = EventFeed.publish

    def timed_publish(feed: EventFeed, tail: Any, last_seq: int) -> None:
        now = time.perf_counter()
        for seq in range(feed.last_seq + 1, last_seq + 1):
            if seq % 100 == 0:
                committed_at[seq] = now
        publish(feed, tail, last_seq)

    EventFeed.publish = timed_publish  # type: ignore[method-assign,assignment]
    try:
        async with open_event_log(path) as log:

            async def follow(index: int) -> None:
                marks = seen_at[index]
                async for event in log.subscribe(1):
                    if event.seq % 100 == 0:
                        marks[event.seq] = time.perf_counter()
                    if event.seq == n:
                        done_at[index] = time.perf_counter()
                        return

            async def produce(k: int, calls: int) -> None:
                for i in range(calls):
                    await log.append_many(
                        [EventDraft("tool.started", _payload(j), run_id=f"r{k}-{i}") for j in range(250)]
                    )

            async with anyio.create_task_group() as tg:
                for index in range(subscribers):
                    tg.start_soon(follow, index)
                start = time.perf_counter()
                async with anyio.create_task_group() as writers:
                    for k in range(8):
                        writers.start_soon(produce, k, n // 8 // 250)
                writer_done = time.perf_counter()
    finally:
        EventFeed.publish = publish  # type: ignore[method-assign]
    lags = [marks[s] - committed_at[s] for marks in seen_at for s in marks]
    return {
        "writer_rate": n / (writer_done - start),
        "lag_p50_ms": statistics.median(lags) * 1e3,
        "lag_p99_ms": p99(lags) * 1e3,
        "lag_max_ms": max(lags) * 1e3,
        "drain_ms": max(0.0, max(done_at) - writer_done) * 1e3,
    }


# --------------------------------------------------------------------------- trace query


def build_big_log(directory: Path, size: int, run_length: int) -> tuple[Path, list[str]]:
    """A ``size``-event log whose runs' events are interleaved (as concurrent runs write)."""
    path = _fresh(directory, "big")
    anyio.run(_create_schema, path)
    runs = size // run_length
    order = [r for r in range(runs) for _ in range(run_length)]
    random.Random(3).shuffle(order)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")  # building the fixture, not measuring it
    insert = (
        f"INSERT INTO events ({', '.join(COLUMNS)}) SELECT "
        + ", ".join(f"value ->> {i}" for i in range(len(COLUMNS) - 1))
        + f", value -> '$[{len(COLUMNS) - 1}]' FROM json_each(?)"
    )
    ts = time.time_ns()
    for start in range(0, size, 20_000):
        rows = ",".join(
            f'[{seq},"ev-{seq}",{ts + seq},"tool.started","sess-{r % 97}","run-{r}",'
            f'"s1",null,"agent",null,null,"runtime",{{"tool":"echo","args":{{"value":{seq}}}}}]'
            for seq, r in ((s + 1, order[s]) for s in range(start, min(size, start + 20_000)))
        )
        conn.execute(insert, (f"[{rows}]",))
    conn.close()
    return path, [f"run-{r}" for r in random.Random(4).sample(range(runs), 200)]


async def soma_trace_queries(path: Path, run_ids: list[str]) -> list[float]:
    times = []
    async with open_event_log(path, readonly=True) as log:
        for run_id in run_ids:
            t0 = time.perf_counter()
            events = await log.query(run_id=run_id)
            times.append(time.perf_counter() - t0)
            assert len(events) == QUERY_RUN_LENGTH
    return times


def raw_trace_queries(path: Path, run_ids: list[str]) -> list[float]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    times = []
    for run_id in run_ids:
        t0 = time.perf_counter()
        rows = conn.execute("SELECT * FROM events WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
        times.append(time.perf_counter() - t0)
        assert len(rows) == QUERY_RUN_LENGTH
    conn.close()
    return times


# --------------------------------------------------------------------------- main


def main() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="soma-bench-") as tmp:
        directory = Path(tmp)
        # Baseline and Soma rounds alternate, so load from a shared machine falls on both.
        bases, aio_bases, many_rates, one_rates, floors = [], [], [], [], []
        many_lat: list[float] = []
        one_lat: list[float] = []
        for _ in range(ROUNDS):
            bases.append(baseline_executemany(directory, APPEND_EVENTS))
            aio_bases.append(baseline_aiosqlite(directory, APPEND_EVENTS))
            rate, lat = anyio.run(soma_append_many, directory, APPEND_EVENTS, 16, 250)
            many_rates.append(rate)
            many_lat += lat
            rate, lat = anyio.run(soma_append, directory, SINGLE_EVENTS, 64)
            one_rates.append(rate)
            one_lat += lat
            floors.append(anyio.run(floor_appends, _fresh(directory, "floor"), SINGLE_EVENTS, 64, _payload))
        base = statistics.median(bases)
        aio = statistics.median(aio_bases)
        many_rate = statistics.median(many_rates)
        one_rate = statistics.median(one_rates)
        floor = statistics.median(floors)
        rows += [
            Row(
                PART,
                "append_many(250) x16 producers, durable acks",
                many_rate,
                "events/s",
                aio,
                ">= 0.7x",
                many_rate >= 0.7 * aio,
                "baseline: raw aiosqlite executemany, 1000 pre-built rows/txn, same schema "
                f"(plain sqlite3: {base:,.0f}/s, so {many_rate / base:.2f}x)",
            ),
            Row(PART, "append_many p99 ack latency", p99(many_lat) * 1e3, "ms"),
            Row(
                PART,
                "append() x64 producers, durable acks",
                one_rate,
                "events/s",
                aio,
                ">= 0.5x",  # issue 15's target for single appends (append_many: 0.7x)
                one_rate >= 0.5 * aio,
                "baseline: the same raw aiosqlite executemany",
            ),
            Row(PART, "append() p99 ack latency", p99(one_lat) * 1e3, "ms"),
            Row(
                PART,
                "a durable append's floor, x64 bare tasks",
                floor,
                "events/s",
                aio,
                "report",
                note=f"a task per producer, a future per row, group commit by the store's writer "
                f"(_floor.py); Soma's append() is {one_rate / floor:.2f}x of it",
            ),
        ]
        fan = anyio.run(fanout, directory, FANOUT_EVENTS, FANOUT_SUBSCRIBERS)
        rows += [
            Row(
                PART,
                f"fan-out {FANOUT_SUBSCRIBERS} subs x {FANOUT_EVENTS // 1000}k: writer rate",
                fan["writer_rate"],
                "events/s",
                many_rate,
                note="baseline: the same appends with no subscriber",
            ),
            Row(PART, "fan-out: lag behind writer, p50", fan["lag_p50_ms"], "ms"),
            Row(PART, "fan-out: lag behind writer, p99", fan["lag_p99_ms"], "ms"),
            Row(PART, "fan-out: lag behind writer, max", fan["lag_max_ms"], "ms"),
            Row(PART, "fan-out: last subscriber done after writer", fan["drain_ms"], "ms"),
        ]
        path, run_ids = build_big_log(directory, QUERY_LOG_SIZE, QUERY_RUN_LENGTH)
        raw = statistics.median(raw_trace_queries(path, run_ids)) * 1e3
        soma = statistics.median(anyio.run(soma_trace_queries, path, run_ids)) * 1e3
        rows.append(
            Row(
                PART,
                f"trace query, 1 run of {QUERY_RUN_LENGTH} in {QUERY_LOG_SIZE // 1_000_000}M events, median",
                soma,
                "ms",
                raw,
                "<= 5 ms",
                soma <= 5.0,
                "baseline: the same indexed SELECT through plain sqlite3, rows as tuples",
            )
        )
    return rows


if __name__ == "__main__":
    from ._table import print_table

    started = time.perf_counter()
    print_table(main())
    print(f"({time.perf_counter() - started:.1f} s)")
