"""A file log's writer connection lives in its own OS process (``_writer_process``).

It must behave as the in-process connection did: the same errors, statements run in order
whoever waits for them, gone when its owner is. And a writer process that dies is a crash
of the store, which its supervisor restarts with a new one.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import sys
from pathlib import Path

import anyio
import pytest
from _writer_helpers import lock_holder, process_alive, until, writer_of

from soma_runtime import Runtime
from soma_runtime.kernel import whereis
from soma_runtime.runtime import EVENT_STORE
from soma_runtime.store import WriterProcessLost
from soma_runtime.store._writer_process import WriterProcess
from soma_runtime.store.log import open_event_log

pytestmark = pytest.mark.anyio

APPENDER = Path(__file__).with_name("_blocked_appender.py")


async def start(path: Path) -> WriterProcess:
    return await WriterProcess.start(str(path), busy_timeout=5.0, synchronous="NORMAL")


async def test_a_statement_the_child_refuses_raises_what_sqlite3_raises_in_process(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    writer = await start(db)
    try:
        await writer.execute("CREATE TABLE t (x INTEGER UNIQUE)")
        await writer.execute("INSERT INTO t VALUES (?)", (1,))
        with pytest.raises(sqlite3.IntegrityError) as raised:
            await writer.execute("INSERT INTO t VALUES (?)", (1,))
        with pytest.raises(sqlite3.OperationalError) as bad_sql:
            await writer.execute("INSERT INTO nowhere VALUES (1)")
    finally:
        await writer.close()
    conn = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.IntegrityError) as here:
            conn.execute("INSERT INTO t VALUES (?)", (1,))
        with pytest.raises(sqlite3.OperationalError) as bad_here:
            conn.execute("INSERT INTO nowhere VALUES (1)")
    finally:
        conn.close()
    for child, own in ((raised.value, here.value), (bad_sql.value, bad_here.value)):
        assert str(child) == str(own)
        assert child.sqlite_errorcode == own.sqlite_errorcode
        assert child.sqlite_errorname == own.sqlite_errorname


async def test_a_request_after_a_cancelled_one_is_answered_after_it_ran(tmp_path: Path) -> None:
    writer = await start(tmp_path / "w.db")
    try:
        await writer.execute("CREATE TABLE t (x INTEGER)")
        slow = (
            "INSERT INTO t SELECT count(*) FROM (WITH RECURSIVE n(i) AS"
            " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT i FROM n)"
        )
        with anyio.move_on_after(0.01) as scope:
            await writer.execute(slow)
        assert scope.cancelled_caught, "the slow statement finished before the cancel"
        # The child still runs it; this question's answer must not be mistaken for its.
        assert await writer.execute_fetchall("SELECT x FROM t") == [(3_000_000,)]
    finally:
        await writer.close()


async def test_a_closed_writer_process_exits_and_a_killed_one_is_reported_lost(tmp_path: Path) -> None:
    closed = await start(tmp_path / "a.db")
    await closed.close()
    assert closed.process.returncode == 0
    assert not process_alive(closed.process.pid)

    killed = await start(tmp_path / "b.db")
    os.kill(killed.process.pid, signal.SIGKILL)
    with pytest.raises(WriterProcessLost, match="killed by signal 9"):
        await killed.execute("SELECT 1")
    with pytest.raises(WriterProcessLost):  # and stays so
        await killed.execute("SELECT 1")
    await killed.close()


async def test_a_setup_sent_without_waiting_is_answered_before_the_first_request(tmp_path: Path) -> None:
    """A store's open does not wait for its writer to be up (``configure``): the first
    request reads the setup's answer first — and raises its error if the setup failed."""
    writer = await WriterProcess.spawn(str(tmp_path / "w.db"), busy_timeout=5.0)
    writer.configure("FULL")
    try:
        assert await writer.execute_fetchall("PRAGMA synchronous") == [(2,)]  # FULL
    finally:
        await writer.close()
    broken = await WriterProcess.spawn(str(tmp_path / "b.db"), busy_timeout=5.0)
    broken._setup = broken.send("PRAGMA no_such_thing = (")  # a setup the child refuses
    try:
        with pytest.raises(sqlite3.OperationalError, match="syntax error"):
            await broken.execute("SELECT 1")
        assert await broken.execute_fetchall("SELECT 2") == [(2,)]  # raised once, then on
    finally:
        await broken.close()


async def test_a_ctrl_c_to_the_process_group_leaves_the_writer_to_its_parent(tmp_path: Path) -> None:
    writer = await start(tmp_path / "w.db")
    try:
        await writer.execute("SELECT 1")  # its signal dispositions are set before it serves
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            os.kill(writer.process.pid, sig)
        # Still there, and still serving: the parent stops it, by closing its stdin.
        assert await writer.execute_fetchall("SELECT 2") == [(2,)]
        assert process_alive(writer.process.pid)
    finally:
        await writer.close()
    assert writer.process.returncode == 0


async def test_a_group_commit_fits_the_request_pipe_in_one_write(tmp_path: Path) -> None:
    """At the default 64 KiB, a 1,000-event commit (~200 KB) crossed in pieces, one per turn
    of a busy event loop, and the child waited for the rest; the pipe is widened to 1 MiB
    (where the system allows it: ``pipe-max-size``)."""
    limit = int(await anyio.Path("/proc/sys/fs/pipe-max-size").read_text())
    writer = await start(tmp_path / "w.db")
    try:
        assert writer.process.stdin is not None
        pipe = writer.process.stdin.transport.get_extra_info("pipe")
        assert fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ) >= min(limit, 1 << 20)
        rows = "x" * 300_000
        assert await writer.execute_fetchall("SELECT length(?)", (rows,)) == [(300_000,)]
    finally:
        await writer.close()


async def test_a_runtime_killed_outright_takes_its_writer_process_along(tmp_path: Path) -> None:
    """Killed while its writer waits on SQLite's lock (busy for a minute), a runtime leaves
    no writer behind: the kernel kills the child with it (``die_with_parent``). Reading EOF
    would come only after the wait — the writer lock held, and the next runtime refused."""
    db = tmp_path / "events.db"
    async with open_event_log(db):
        pass  # the schema, for the lock holder's row
    with lock_holder(db, 1):
        appender = await anyio.open_process([sys.executable, str(APPENDER), str(db)])
        try:
            assert appender.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                line += await appender.stdout.receive()
            word, pid = line.decode().split()
            child = int(pid)
            assert word == "WRITER"
            await until(lambda: waits_on_sqlite(child), "the writer never waited on SQLite's lock")
        finally:
            appender.kill()
            await appender.wait()
            await appender.aclose()
        await until(lambda: not process_alive(child), "the writer process outlived its runtime")
        async with open_event_log(db):  # the writer lock is free: no StoreLocked
            pass


def waits_on_sqlite(os_pid: int) -> bool:
    """Whether the process sleeps in SQLite's busy handler (a timed sleep, not a pipe read)."""
    try:
        with open(f"/proc/{os_pid}/wchan") as wchan:
            return "nanosleep" in wchan.read()
    except FileNotFoundError:
        return False


async def test_a_store_whose_writer_process_dies_is_restarted_with_a_new_one(tmp_path: Path) -> None:
    async with Runtime.open(db=tmp_path / "events.db", vitals=False) as rt:
        first = await rt.events.append("session.started", {}, session_id="before")
        store = whereis(EVENT_STORE)
        assert store is not None
        child = writer_of(store).process
        os.kill(child.pid, signal.SIGKILL)
        await until(lambda: not process_alive(child.pid), "the killed writer process is still there")
        with pytest.raises(Exception):  # noqa: B017 - the append in flight dies with the store
            await rt.events.append("session.started", {}, session_id="lost")
        await until(lambda: whereis(EVENT_STORE) not in (None, store), "the store was not restarted")
        after = await rt.events.append("session.started", {}, session_id="after")
        assert after.seq > first.seq
        assert writer_of(whereis(EVENT_STORE)).process.pid != child.pid  # type: ignore[arg-type]
        assert [e.session_id for e in await rt.events.query(type="session.started")][-1] == "after"
