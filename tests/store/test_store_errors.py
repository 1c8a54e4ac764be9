"""Bad input and bad files: each is a clear, typed error, and the store keeps serving."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from soma_runtime.kernel import Node, StartError
from soma_runtime.store.errors import (
    BadRequest,
    DuplicateEvent,
    InvalidEvent,
    PayloadTooLarge,
    SchemaVersionError,
    StoreOpenError,
    StoreWriteError,
    UnknownEventType,
)
from soma_runtime.store.events import Event, PreparedEvent, prepare_event
from soma_runtime.store.log import EventLog, open_event_log
from soma_runtime.store.server import Append, EventStore, EventStoreConfig
from soma_runtime.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteLog

pytestmark = pytest.mark.anyio


async def test_missing_directory(tmp_path: Path) -> None:
    db = tmp_path / "nope" / "e.db"
    with pytest.raises(StoreOpenError, match=r"directory .*nope.* does not exist") as info:
        async with open_event_log(db):
            pass
    assert info.value.path == str(db)
    async with Node.open():
        with pytest.raises(StartError) as started:
            await EventStore.start(EventStoreConfig(path=db))
        assert isinstance(started.value.reason, StoreOpenError)


async def test_path_is_a_directory_or_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError) as directory:
        async with open_event_log(tmp_path):
            pass
    assert str(directory.value) == f"cannot open event store {str(tmp_path)!r}: it is a directory"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreOpenError, match="not a database"):
        async with open_event_log(junk):
            pass


async def test_foreign_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreOpenError, match=r"not a Soma event store .*customers"):
        async with open_event_log(db):
            pass


async def test_readonly_open_needs_an_existing_file(tmp_path: Path) -> None:
    absent = tmp_path / "absent.db"
    with pytest.raises(StoreOpenError) as missing:
        async with open_event_log(absent, readonly=True):
            pass
    assert (missing.value.path, missing.value.problem) == (
        str(absent),
        "no such file (a read-only open never creates one)",
    )
    with pytest.raises(StoreOpenError, match="in-memory"):
        async with open_event_log(":memory:", readonly=True):
            pass
    assert not (tmp_path / "absent.db").exists()


READONLY_CHILD = Path(__file__).with_name("_readonly_child.py")
NOBODY = 65534


def test_readonly_database_file(tmp_path: Path) -> None:
    """A database file this process cannot write: a clear error for a read-write open, and a
    read-only open that reads it and refuses appends.

    The checks run in a child process as a user who cannot write the file. For root, whom
    file modes do not stop, that child runs as ``nobody`` (a real permission fault wherever
    root may drop privileges, as in any default container); where it may not, the file is made
    immutable (``chattr +i``) instead; and where neither can be done the test fails, saying so —
    it never skips."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "ro.db"

    async def create() -> None:
        async with open_event_log(db) as log:
            await log.append("session.started", {}, session_id="s")

    anyio.run(create)
    db.chmod(0o444)
    child = [sys.executable, str(READONLY_CHILD), str(db)]
    if os.geteuid() != 0:
        done = subprocess.run(child, capture_output=True, text=True, timeout=60, check=False)
    else:
        # nobody reads the file and keeps SQLite's shared-memory file beside it (a read-only
        # open of a WAL database creates one); the file itself stays root's, mode 0444.
        tmp_path.chmod(0o755)
        os.chown(folder, NOBODY, NOBODY)
        try:
            done = subprocess.run(
                child, capture_output=True, text=True, timeout=60, check=False, user=NOBODY, group=NOBODY
            )
        except PermissionError:  # no CAP_SETUID here: make the file immutable instead
            done = _as_root_on_an_immutable_file(child, db)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


def _as_root_on_an_immutable_file(child: list[str], db: Path) -> subprocess.CompletedProcess[str]:
    made = subprocess.run(["chattr", "+i", str(db)], capture_output=True, text=True, check=False)
    if made.returncode != 0 or os.access(db, os.W_OK):
        pytest.fail(
            "cannot make a file root cannot write here: neither a setuid to nobody nor "
            f"chattr +i works ({made.stderr.strip()})"
        )
    try:
        return subprocess.run(child, capture_output=True, text=True, timeout=60, check=False)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=False)


async def test_locked_database_fails_the_batch_and_recovers(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with open_event_log(config=EventStoreConfig(path=db, busy_timeout=0.05)) as log:
        await log.append("session.started", {})
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(StoreWriteError, match="locked") as info:
                await log.append("run.accepted", {})
            assert info.value.path == str(db) and info.value.busy
            assert len(await log.query()) == 1  # reads still served
        finally:
            other.execute("ROLLBACK")
            other.close()
        event = await log.append("run.accepted", {})
        assert event.seq == 2  # the failed batch consumed no seq


async def test_bad_input_fails_only_its_caller() -> None:
    config = EventStoreConfig(max_payload_bytes=2000)
    async with Node.open():
        pid = await EventStore.start(config)
        assert pid is not None
        log = EventLog(pid)
        with pytest.raises(UnknownEventType):
            await log.append("nonsense.type", {})
        with pytest.raises(InvalidEvent, match="tool"):
            await log.append("tool.started", {"tool": None})
        with pytest.raises(InvalidEvent, match="run_id"):
            await log.append("run.accepted", {}, run_id=7)  # type: ignore[arg-type]
        with pytest.raises(PayloadTooLarge, match="over the cap of 2000 bytes"):
            await log.append("actor.note", {"text": "x" * 5000})
        with pytest.raises(BadRequest, match="garbage"):
            await pid.call("garbage")
        with pytest.raises(BadRequest):
            await pid.call(Append(["not a prepared event"]))  # type: ignore[list-item]
        assert await pid.call(Append([])) == []
        assert await pid.call(Append([], want_events=False)) == 0
        await pid.cast("noise")
        await pid.send("more noise")
        assert pid.is_alive()
        event = await log.append("run.accepted", {})
        assert event.seq == 1


async def test_duplicate_event_id_fails_only_its_caller() -> None:
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig())
        assert pid is not None
        log = EventLog(pid)
        first = await log.append("session.started", {})
        dup = prepare_event("run.accepted", {}, event_id=first.event_id)
        good: list[Event] = []
        outcome: list[BaseException] = []

        async def duplicate() -> None:
            try:
                await pid.call(Append([dup]))
            except DuplicateEvent as exc:
                outcome.append(exc)

        async def normal() -> None:
            good.append(await log.append("run.accepted", {}))

        async with anyio.create_task_group() as tg:  # all land in one group commit
            tg.start_soon(normal)
            tg.start_soon(duplicate)
            tg.start_soon(normal)
        assert len(outcome) == 1 and first.event_id in str(outcome[0])
        assert sorted(e.seq for e in good) == [2, 3]
        assert [e.seq for e in await log.query()] == [1, 2, 3]


async def test_a_request_the_database_refuses_fails_alone() -> None:
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig())
        assert pid is not None
        log = EventLog(pid)
        await log.append("session.started", {})
        good = prepare_event("run.accepted", {})
        broken = PreparedEvent(good.event_id + "-x", good.ts, good.type, good.ids, {}, "{not json")
        outcome: list[BaseException] = []
        acked: list[Event] = []

        async def bad() -> None:
            try:
                await pid.call(Append([broken]))
            except StoreWriteError as exc:
                outcome.append(exc)

        async def normal() -> None:
            acked.append(await log.append("run.accepted", {}))

        async with anyio.create_task_group() as tg:  # one group commit
            tg.start_soon(normal)
            tg.start_soon(bad)
            tg.start_soon(normal)
        assert len(outcome) == 1 and "malformed JSON" in str(outcome[0])
        assert sorted(e.seq for e in acked) == [2, 3]
        assert await log.last_seq() == 3


async def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        EventStoreConfig(max_batch=0)
    with pytest.raises(ValueError, match="busy_timeout"):
        EventStoreConfig(busy_timeout=-1)


# --------------------------------------------------------------------------- schema versions


def _set_version(db: Path, version: int) -> None:
    conn = sqlite3.connect(db)
    conn.execute("UPDATE schema_version SET version = ?", (version,))
    conn.commit()
    conn.close()


async def test_fresh_database_has_the_current_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with open_event_log(db):
        pass
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


async def test_newer_schema_is_a_clear_error_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with open_event_log(db) as log:
        await log.append("session.started", {})
    _set_version(db, SCHEMA_VERSION + 1)
    for readonly in (False, True):
        with pytest.raises(SchemaVersionError, match="newer Soma") as info:
            async with open_event_log(db, readonly=readonly):
                pass
        assert info.value.found == SCHEMA_VERSION + 1
        assert info.value.supported == SCHEMA_VERSION
    _set_version(db, SCHEMA_VERSION)
    async with open_event_log(db, readonly=True) as log:
        assert len(await log.query()) == 1


async def test_forward_migration_keeps_the_data(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with open_event_log(db) as log:
        await log.append("session.started", {}, session_id="s")
    newer = (*MIGRATIONS, "CREATE INDEX events_task ON events (task_id) WHERE task_id IS NOT NULL")
    with pytest.raises(SchemaVersionError, match="needs a migration"):
        await SqliteLog.open(db, readonly=True, migrations=newer)
    log2 = await SqliteLog.open(db, migrations=newer)
    try:
        assert await log2.last_seq() == 1
    finally:
        await log2.close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION + 1,)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "events_task" in names
    finally:
        conn.close()
    # The current code now sees a newer database and refuses it.
    with pytest.raises(SchemaVersionError):
        await SqliteLog.open(db)


async def test_failed_migration_is_rolled_back(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with open_event_log(db) as log:
        await log.append("session.started", {})
    broken = (*MIGRATIONS, "CREATE TABLE extra (x); THIS IS NOT SQL")
    with pytest.raises(StoreOpenError, match="syntax error"):
        await SqliteLog.open(db, migrations=broken)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "extra" not in tables
    finally:
        conn.close()


async def test_a_duplicate_is_named_whether_it_is_stored_or_repeated_in_the_same_request() -> None:
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig())
        assert pid is not None
        log = EventLog(pid)
        first = await log.append("session.started", {})
        fresh, again = prepare_event("run.accepted", {}), prepare_event("run.accepted", {})
        stored_dup = prepare_event("run.accepted", {}, event_id=first.event_id)
        with pytest.raises(DuplicateEvent) as already:
            await pid.call(Append([fresh, stored_dup]))  # the second one is in the store
        assert already.value.event_id == first.event_id
        twice = prepare_event("run.accepted", {}, event_id=again.event_id)
        with pytest.raises(DuplicateEvent) as repeated:
            await pid.call(Append([prepare_event("run.accepted", {}), again, twice]))
        assert repeated.value.event_id == again.event_id
        assert [e.event_id for e in await log.query()] == [first.event_id]  # nothing else landed


async def test_a_read_only_open_cannot_write_even_through_its_own_connection(tmp_path: Path) -> None:
    """Read-only is SQLite's ``mode=ro``, not only the facade refusing appends: the connection
    itself cannot write, whatever runs on it."""
    db = tmp_path / "e.db"
    async with open_event_log(db) as log:
        await log.append("session.started", {})
    ro = await SqliteLog.open(db, readonly=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly database"):
            await ro._reader.execute("DELETE FROM events")
        assert await ro.last_seq() == 1
    finally:
        await ro.close()


async def test_the_hook_writes_for_this_schema_and_the_outcome_rule_costs_no_before_trigger(
    tmp_path: Path,
) -> None:
    """``soma hook`` writes rows with the standard library alone, for the schema version it
    names; it must be this store's. And the log's one BEFORE INSERT trigger of schema 3 (the
    outcome rule) is an AFTER one from schema 4: a BEFORE trigger slowed every insert."""
    from soma_actor.integrations._direct import SCHEMA_VERSION as HOOK_SCHEMA_VERSION

    assert HOOK_SCHEMA_VERSION == SCHEMA_VERSION
    db = tmp_path / "soma.db"
    log = await SqliteLog.open(db)
    await log.close()
    with sqlite3.connect(db) as conn:
        triggers = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
    assert "AFTER INSERT" in triggers["outcome_needs_firing"]
    assert not [name for name, sql in triggers.items() if "BEFORE INSERT" in sql]
