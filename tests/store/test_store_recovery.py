"""The store's recovery paths, forced with a real fault: another OS process holds SQLite's
write lock inside an uncommitted batch and is SIGKILLed there, while our store has a batch in
flight behind that lock.

* A graceful stop that interrupts a batch settles it: if the batch committed, its callers are
  acknowledged with the seqs it was stored under; if it did not, it is written again — or its
  callers fail — but never acknowledged without being stored.
* A store killed with a batch in flight takes its writer process with it: the successor
  opens once that process is gone, so nothing lands behind its back; its seqs continue
  gap-free.

Every check reads the database file itself, not the store's view of it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from _writer_helpers import lock_holder, process_alive, until, writer_of

from soma_runtime.kernel import Node, Pid, current_node
from soma_runtime.store.errors import StoreWriteError
from soma_runtime.store.events import Event
from soma_runtime.store.log import EventLog
from soma_runtime.store.server import EventStore, EventStoreConfig

pytestmark = pytest.mark.anyio

HOLDER = Path(__file__).with_name("_lock_holder.py")


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


def in_flight(pid: Pid) -> bool:
    """Whether the store has handed a batch to its writer connection and awaits it (a batch
    after the first is sent ahead: ``EventStore._flush``)."""
    store = pid.process.behaviour
    return store._inflight is not None or store._sending is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("callers", [1, 5])
@pytest.mark.parametrize("write", ["first", "later"])
async def test_a_batch_interrupted_by_a_graceful_stop_is_acknowledged_as_it_was_committed(
    tmp_path: Path, callers: int, write: str
) -> None:
    """The store's first write is awaited (it marks the file first) and settled by asking the
    writer; a later one was sent ahead, and is answered by the writer still."""
    db = tmp_path / "events.db"
    outcomes: list[Event | BaseException] = []
    before = 0 if write == "first" else 1
    async with Node.open() as node:
        pid = await EventStore.start(EventStoreConfig(path=db, busy_timeout=60.0))
        assert pid is not None
        log = EventLog(pid)
        if before:
            await log.append("session.started", {})
        with lock_holder(db, before + 1) as child:

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
    assert [seq for seq, _ in rows] == list(range(1, before + callers + 1)), "a gap, or the batch twice"
    acked = {o.seq: o.event_id for o in outcomes if isinstance(o, Event)}
    assert acked == dict(rows[before:]), "an acknowledgement names another row than the one stored"
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


async def test_a_killed_store_kills_its_writer_process_so_nothing_lands_after_its_successor_opened(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    config = EventStoreConfig(path=db, busy_timeout=60.0)
    doomed: list[BaseException] = []
    async with Node.open():
        first = await EventStore.start(config)
        assert first is not None
        await EventLog(first).append("session.started", {})
        child_pid = writer_of(first).process.pid
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
                first.kill()  # no terminate: the kernel's exit watch abandons the log
                # The successor opens once the killed writer process is gone (it held the
                # writer lock), so its last seq is final: the insert in flight died with it.
                second = await EventStore.start(config)
                assert second is not None
                assert not process_alive(child_pid), "the killed store's writer process outlived it"
                kill_inside_its_batch(child)
        log = EventLog(second)
        event = await log.append("run.completed", {}, run_id="after")
        more = [await log.append("run.accepted", {}, run_id="after") for _ in range(2)]
        assert [e.seq for e in await log.query(run_id="after")] == [2, 3, 4]
    assert len(doomed) == 4
    rows = stored(db)
    assert [seq for seq, _ in rows] == list(range(1, 5)), "seq has a gap or a duplicate"
    assert (event.seq, event.event_id) == rows[1] and [(e.seq, e.event_id) for e in more] == rows[2:]
    assert not any(event_id.startswith("uncommitted-") for _, event_id in rows)


def _connection_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


async def test_a_killed_store_leaves_no_connection_behind(tmp_path: Path) -> None:
    """Killed, the store runs none of its own code: its reader connection's thread is stopped
    and its writer process killed by the kernel's exit watch, not leaked."""
    already = _connection_threads()
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig(path=tmp_path / "events.db"))
        assert pid is not None
        await EventLog(pid).append("session.started", {})
        threads = _connection_threads() - already
        assert len(threads) == 1  # the reader's; the writer is a process
        child_pid = writer_of(pid).process.pid
        assert process_alive(child_pid)
        pid.kill()
        await until(lambda: not any(t.is_alive() for t in threads), "a connection thread outlived its store")
        await until(lambda: not process_alive(child_pid), "the writer process outlived its store")


async def test_a_closed_store_leaves_no_connection_behind(tmp_path: Path) -> None:
    already = _connection_threads()
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig(path=tmp_path / "events.db"))
        assert pid is not None
        await EventLog(pid).append("session.started", {})
        threads = _connection_threads() - already
        assert len(threads) == 1
        child_pid = writer_of(pid).process.pid
        await current_node().stop(pid)
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "a connection thread outlived the closed store"
    assert not process_alive(child_pid), "the writer process outlived the closed store"
