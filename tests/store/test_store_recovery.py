"""The store's recovery paths, forced with a real fault: another OS process holds SQLite's
write lock inside an uncommitted batch and is SIGKILLed there, while our store has a batch in
flight behind that lock.

* A graceful stop that interrupts a batch settles it: if the batch committed, its callers are
  acknowledged with the seqs it was stored under; if it did not, it is written again — or its
  callers fail — but never acknowledged without being stored.
* A store killed with a batch in flight leaves rows its successor never published: the
  successor's seqs continue after them, gap-free, and its callers get those seqs.

Every check reads the database file itself, not the store's view of it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from soma_runtime.kernel import Node, Pid
from soma_runtime.store.errors import StoreWriteError
from soma_runtime.store.events import Event
from soma_runtime.store.log import EventLog, open_event_log
from soma_runtime.store.server import EventStore, EventStoreConfig

pytestmark = pytest.mark.anyio

HOLDER = Path(__file__).with_name("_lock_holder.py")


@contextmanager
def lock_holder(db: Path, seq: int) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the write lock inside an uncommitted batch, until killed."""
    child = subprocess.Popen(
        [sys.executable, str(HOLDER), str(db), str(seq)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "locked\n", child.stderr.read() if child.stderr else ""
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()


def kill_inside_its_batch(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL


def stored(db: Path) -> list[tuple[int, str]]:
    """(seq, event_id) of every committed row, read from the file by a fresh connection."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT seq, event_id FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll a real condition (state held by a SQLite thread or the file: no event to await)."""
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.001)
    assert condition(), what


def in_flight(pid: Pid) -> bool:
    """Whether the store has handed a batch to its writer connection and awaits it."""
    return pid.process.behaviour._inflight is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("callers", [1, 5])
async def test_a_batch_interrupted_by_a_graceful_stop_is_acknowledged_as_it_was_committed(
    tmp_path: Path, callers: int
) -> None:
    db = tmp_path / "events.db"
    outcomes: list[Event | BaseException] = []
    async with Node.open() as node:
        pid = await EventStore.start(EventStoreConfig(path=db, busy_timeout=60.0))
        assert pid is not None
        log = EventLog(pid)
        await log.append("session.started", {})
        with lock_holder(db, 2) as child:

            async def produce(i: int) -> None:
                try:
                    outcomes.append(await log.append("run.accepted", {"i": i}, run_id=f"r{i}"))
                except Exception as exc:
                    outcomes.append(exc)

            async with anyio.create_task_group() as tg:
                for i in range(callers):
                    tg.start_soon(produce, i)
                # The appends are one batch, handed to SQLite, waiting for the lock.
                await until(lambda: in_flight(pid), "the batch never reached the writer")
                tg.start_soon(partial(node.stop, pid, timeout=None))
                # The stop cancelled the wait; terminate took the batch over and is settling
                # it (asking the writer connection, whose insert still waits for the lock).
                await until(lambda: not in_flight(pid), "terminate never took the batch over")
                assert pid.is_alive() and outcomes == []
                kill_inside_its_batch(child)  # the lock frees: the interrupted insert commits
    assert not pid.is_alive()
    assert all(isinstance(o, Event) for o in outcomes), outcomes
    rows = stored(db)
    assert [seq for seq, _ in rows] == list(range(1, callers + 2)), "seq has a gap, or the batch is in twice"
    acked = {o.seq: o.event_id for o in outcomes if isinstance(o, Event)}
    assert acked == dict(rows[1:]), "an acknowledgement names another row than the one stored"
    assert not any(event_id.startswith("uncommitted-") for _, event_id in rows)


async def test_a_batch_interrupted_and_not_committed_is_never_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    outcomes: list[Event | BaseException] = []
    async with Node.open() as node:
        # A short busy timeout: the interrupted insert gives up while the lock is held (long
        # enough for the stop to land first, which follows the batch at once).
        pid = await EventStore.start(EventStoreConfig(path=db, busy_timeout=0.5))
        assert pid is not None
        log = EventLog(pid)
        await log.append("session.started", {})
        with lock_holder(db, 2) as child:

            async def produce(i: int) -> None:
                try:
                    outcomes.append(await log.append("run.accepted", {"i": i}, run_id=f"r{i}"))
                except Exception as exc:
                    outcomes.append(exc)

            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(produce, i)
                await until(lambda: in_flight(pid), "the batch never reached the writer")
                await node.stop(pid, timeout=None)  # settles while the lock is still held
            kill_inside_its_batch(child)
    assert len(outcomes) == 3
    assert all(isinstance(o, StoreWriteError) and o.busy for o in outcomes), outcomes
    assert stored(db) == [(1, stored(db)[0][1])], "rows were stored, or the child's uncommitted row"


async def test_a_successor_continues_the_seqs_after_rows_its_killed_predecessor_left(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    config = EventStoreConfig(path=db, busy_timeout=60.0)
    doomed: list[BaseException] = []
    async with Node.open():
        first = await EventStore.start(config)
        assert first is not None
        await EventLog(first).append("session.started", {})
        with lock_holder(db, 2) as child:

            async def produce(i: int) -> None:
                try:
                    await EventLog(first).append("run.accepted", {"i": i})
                except BaseException as exc:  # the store is killed under it
                    doomed.append(exc)

            async with anyio.create_task_group() as tg:
                for i in range(4):
                    tg.start_soon(produce, i)
                await until(lambda: in_flight(first), "the batch never reached the writer")
                first.kill()  # no terminate: its connection finishes the insert on its own
                # The successor opens and reads the last seq while that insert still waits.
                second = await EventStore.start(config)
                assert second is not None
                kill_inside_its_batch(child)
        # The predecessor's insert lands after the successor read seq 1 as the last.
        await until(lambda: len(stored(db)) == 5, "the killed store's insert never landed")
        log = EventLog(second)
        event = await log.append("run.completed", {}, run_id="after")
        more = [await log.append("run.accepted", {}, run_id="after") for _ in range(2)]
        assert [e.seq for e in await log.query(run_id="after")] == [6, 7, 8]
    assert len(doomed) == 4
    rows = stored(db)
    assert [seq for seq, _ in rows] == list(range(1, 9)), "seq has a gap or a duplicate"
    assert (event.seq, event.event_id) == rows[5] and [(e.seq, e.event_id) for e in more] == rows[6:]
    assert not any(event_id.startswith("uncommitted-") for _, event_id in rows)


def _connection_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


async def test_a_killed_store_leaves_no_connection_thread_behind(tmp_path: Path) -> None:
    """Killed, the store runs none of its own code: its connections (the writer and the
    reader, one thread each) are stopped by the kernel's exit watch, not leaked."""
    already = _connection_threads()
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig(path=tmp_path / "events.db"))
        assert pid is not None
        await EventLog(pid).append("session.started", {})
        threads = _connection_threads() - already
        assert len(threads) == 2
        pid.kill()
        await until(lambda: not any(t.is_alive() for t in threads), "a connection thread outlived its store")


async def test_a_closed_store_leaves_no_connection_thread_behind(tmp_path: Path) -> None:
    already = _connection_threads()
    async with open_event_log(tmp_path / "events.db") as log:
        await log.append("session.started", {})
        threads = _connection_threads() - already
        assert len(threads) == 2
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "a connection thread outlived the closed store"
