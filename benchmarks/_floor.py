"""The floor of a durable step: what the design requires of one step, done bare.

Issue 15 puts a step's target against its physical limit. That limit is measured here, in
the same process as Soma's figure, rather than estimated: the operations every durable step
needs, with nothing of Soma's around them.

* one asyncio task per tool call (the disposable worker), whose result and exit notice reach
  the run through a queue (its mailbox);
* the step's four events (``step.started``, ``tool.started``, ``tool.succeeded``,
  ``step.succeeded``) encoded by pydantic-core, as rows of the store's own shape;
* one batch per step handed to a writer task that group-commits through the store's own
  writer connection (its own OS process, ``_writer_process``) with the store's own statement
  (``INSERT … SELECT FROM json_each``) into the store's own schema (indexes and triggers
  included);
* only the run's end waits for its commit.

No validation, redaction, ids, supervision, links, monitors, timeouts or feed: those are
Soma's, and in its figure. What remains is SQLite's work in the writer process (about 11 µs a
row with the schema's indexes here), the event loop's, and the pipe between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
from pydantic_core import to_json

from soma_runtime.store._writer_process import WriterProcess
from soma_runtime.store.sqlite import _INSERT_ROWS, SqliteLog

_TOOL = {"tool": "noop", "effect": "pure", "destructive": False, "isolation": "task"}


class _Writer:
    """Group commit: whatever was sent while the last INSERT ran goes in the next one."""

    def __init__(self, conn: WriterProcess | aiosqlite.Connection) -> None:
        self.conn = conn
        self.pending: list[str] = []
        self.acks: list[asyncio.Future[None]] = []  # of the pending rows' awaited appends
        self.seq = 0
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()

    def send(self, rows: list[str]) -> None:
        self.pending += rows
        self.idle.clear()
        self.wake.set()

    def append(self, row: str) -> asyncio.Future[None]:
        """One row whose sender waits for its commit: the future is done once it is durable."""
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        self.send([row])
        return ack

    async def serve(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                batch, self.pending = self.pending, []
                acks, self.acks = self.acks, []
                try:
                    await self.conn.execute(_INSERT_ROWS, ("[" + ",".join(batch) + "]", self.seq + 1))
                except Exception as exc:  # the senders waiting for it fail, rather than hang
                    for ack in acks:
                        ack.set_exception(exc)
                    raise
                self.seq += len(batch)
                for ack in acks:
                    ack.set_result(None)
            self.idle.set()


async def _no_op() -> None:
    return None


async def _tool_call(mailbox: asyncio.Queue[tuple[str, Any]]) -> None:
    try:
        mailbox.put_nowait(("result", await _no_op()))
    finally:
        mailbox.put_nowait(("exit", "normal"))


async def _run(writer: _Writer, run_id: str, steps: int) -> None:
    ids = itertools.count()
    head = f'"ses-floor","{run_id}"'

    def row(type: str, step: str, payload: dict[str, Any]) -> str:
        return (
            f'["ev-{run_id}-{next(ids)}",{time.time_ns()},"{type}",{head},"{step}",null,"bench",null,null,'
            f'"runtime",{to_json(payload).decode()}]'
        )

    mailbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    workers: set[asyncio.Task[None]] = set()  # held until done, as a supervisor holds its children
    unsent: list[str] = []
    for i in range(steps):
        step = f"s{i}"
        args: dict[str, Any] = {}
        writer.send(
            [
                *unsent,
                row("step.started", step, {"tool": "noop", "args": args}),
                row("tool.started", step, {**_TOOL, "args": args, "idempotent": False}),
            ]
        )
        started = time.perf_counter()
        worker = loop.create_task(_tool_call(mailbox))
        workers.add(worker)
        worker.add_done_callback(workers.discard)
        _, output = await mailbox.get()
        await mailbox.get()  # the worker's exit
        ms = (time.perf_counter() - started) * 1000
        unsent = [
            row("tool.succeeded", step, {**_TOOL, "args": args, "output": output, "duration_ms": ms}),
            row("step.succeeded", step, {"output": output}),
        ]
    writer.send(unsent)
    await writer.idle.wait()  # the run's end: durable


async def floor_per_step(
    directory: Path, name: str, steps: int, rounds: int, *, writer: str = "process"
) -> list[float]:
    """Seconds per step of ``rounds`` runs of ``steps`` bare durable steps (a fresh file).

    ``writer``: ``"process"``, the store's own writer connection (``_writer_process``), or
    ``"thread"``, an aiosqlite connection on this process's GIL (what the store used before).
    """
    path = directory / f"{name}.db"
    await (await SqliteLog.open(path)).close()  # the store's schema, indexes and triggers
    async with contextlib.AsyncExitStack() as stack:
        conn: WriterProcess | aiosqlite.Connection
        if writer == "process":
            conn = await WriterProcess.start(str(path), busy_timeout=5.0, synchronous="NORMAL")
            stack.push_async_callback(conn.close)
        else:
            conn = await stack.enter_async_context(aiosqlite.connect(path, isolation_level=None))
            await conn.execute("PRAGMA synchronous = NORMAL")
        committer = _Writer(conn)
        serving = asyncio.get_running_loop().create_task(committer.serve())
        try:
            times = []
            for k in range(rounds):
                start = time.perf_counter()
                await _run(committer, f"run-{k}", steps)
                times.append((time.perf_counter() - start) / steps)
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
    return times


async def floor_appends(
    path: Path, events: int, producers: int, payload: Callable[[int], dict[str, Any]]
) -> float:
    """Events/s of ``producers`` bare tasks each appending one row at a time and waiting for
    its commit (``path``: a fresh file): what ``append()`` from concurrent callers needs, done bare.

    Each row is the benchmark's payload encoded by pydantic-core in a row of the store's shape,
    handed to the same group commit as a step's (one batch with the writer at a time). At most
    ``producers`` rows can be waiting, so no commit holds more: the raw baselines commit 1,000
    rows a transaction, and the writer's fixed work per commit is paid ~16 times as often.
    """
    await (await SqliteLog.open(path)).close()
    conn = await WriterProcess.start(str(path), busy_timeout=5.0, synchronous="NORMAL")
    committer = _Writer(conn)
    serving = asyncio.get_running_loop().create_task(committer.serve())
    ids = itertools.count()
    per = events // producers
    payloads = [payload(i) for i in range(per)]  # as Soma's producers have them

    async def produce(k: int) -> None:
        for i in range(per):
            await committer.append(
                f'["ev-floor-{next(ids)}",{time.time_ns()},"tool.started",null,"run-{k}-{i // 20}",'
                f'null,null,null,null,null,"runtime",{to_json(payloads[i]).decode()}]'
            )

    try:
        start = time.perf_counter()
        await asyncio.gather(*(produce(k) for k in range(producers)))
        return per * producers / (time.perf_counter() - start)
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await conn.close()
