"""SQLite storage of the event log: schema, migrations, batch insert and queries.

This module knows SQL and nothing of Soma's processes (the schema and its migrations are in
``_schema``): the :class:`EventStore` process owns the only
writing ``SqliteLog``; read-only ones serve tools such as the dashboard.

Connections. A file log reads through aiosqlite (a connection thread) and writes through a
connection in its own OS process (``_writer_process``: no GIL shared with the event loop);
an in-memory log has one aiosqlite connection for both, as a second would be another
database.

Durability. The log runs in WAL mode with ``synchronous=NORMAL``: a commit appends the batch
to the ``-wal`` file with ``write()`` and returns; the fsync happens at checkpoints. A
``write()`` that returned is in the OS page cache and survives the death of *our* process
(SIGKILL, OOM, a crash) — which is the failure the store promises to survive: an acknowledged
append is never lost to a process crash. Only an OS crash or power loss can lose the last
transactions before a checkpoint (the database stays consistent either way). Deployments that
need power-loss durability pass ``synchronous="FULL"`` (an fsync per group commit; group
commit is what keeps that affordable).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite
import anyio
from pydantic import TypeAdapter
from pydantic_core import from_json, to_json

from . import _file
from ._backend import RowConflict, Synchronous
from ._lock import WriterLock
from ._query import EventQuery as EventQuery  # re-exported: the store's modules import it from here
from ._query import where as _where
from ._salvage import decode_rows
from ._schema import LIFECYCLES, MIGRATIONS
from ._schema import SCHEMA_VERSION as SCHEMA_VERSION  # the backend's, for its users
from ._writer_process import WriterProcess
from .errors import (
    SchemaVersionError,
    StoreClosed,
    StoreCorrupt,
    StoreOpenError,
    StoreReadError,
    StoreWriteError,
    WriterProcessLost,
)
from .events import ID_FIELDS, Event, PreparedEvent, trusted_event

MEMORY: Final = ":memory:"

COLUMNS: Final = ("seq", "event_id", "ts", "type", *ID_FIELDS, "source", "payload")

# Writes and reads each cross to their connection as ONE statement carrying ONE JSON text,
# not as rows. For reads the reason is the GIL: ``fetchall`` releases and re-takes it around
# every row's step, and while the event loop is busy each re-take can wait a whole switch
# interval (5 ms). Measured here with a busy main thread, when writes went through a thread
# too: executemany 665 events/s, one INSERT … SELECT FROM json_each(?) ~36k/s (~115k/s idle).
# The writer process has its own GIL, but one text is still one pipe write and one marshal
# frame, and SQLite parses the JSON in C.
#
# An INSERT is one statement, so in autocommit mode it is also one transaction: a batch is
# committed (or rolled back, e.g. on a duplicate event_id) as a whole, in one round trip.
_INSERT: Final = (
    f"INSERT INTO events ({', '.join(COLUMNS)}) SELECT "
    + ", ".join(f"value ->> {i}" for i in range(len(COLUMNS) - 1))
    + f", value -> '$[{len(COLUMNS) - 1}]' FROM json_each(?)"
)
# The same, for rows without their seq (``PreparedEvent.row``): SQLite numbers them from the
# batch's first seq by their place in the array, so the writer joins the producers' texts
# and does nothing per row.
_INSERT_ROWS: Final = (
    f"INSERT INTO events ({', '.join(COLUMNS)}) SELECT ?2 + key, "
    + ", ".join(f"value ->> {i}" for i in range(len(COLUMNS) - 2))
    + f", value -> '$[{len(COLUMNS) - 2}]' FROM json_each(?1)"
)
_AS_JSON: Final = (
    "json_object(" + ", ".join(f"'{c}', {c}" for c in COLUMNS[:-1]) + ", 'payload', json(payload))"
)
_EVENTS: Final = TypeAdapter(list[Event])
_IDS: Final = TypeAdapter(list[str])
_LABELS: Final = TypeAdapter(dict[str, str])


class SqliteLog:
    """One open event database: a writer (unless read-only) and a reader connection."""

    def __init__(
        self,
        path: str,
        readonly: bool,
        writer: WriterProcess | aiosqlite.Connection | None,
        reader: aiosqlite.Connection,
        lock: WriterLock | None = None,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._writer = writer
        self._reader = reader
        self._lock = lock  # a file's writer holds it until close (or its process dies)
        self._marked = False  # user_version says "a writer has it open" (see insert)
        self.unreadable: dict[int, str] = {}
        """Stored rows reads had to skip, by seq: what is wrong with each (see ``_salvage``)."""

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 5.0,
        migrations: Sequence[str] = MIGRATIONS,
    ) -> SqliteLog:
        """Open (creating and migrating if needed) the log at ``path`` or ``":memory:"``.

        A writer of a file first takes its writer lock (see ``_lock``): a second writer gets
        :class:`StoreLocked` promptly. Read-only opens take no lock and work beside a writer.
        """
        name = os.fspath(path)
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        if name == MEMORY:
            if readonly:
                raise StoreOpenError(name, "an in-memory log cannot be opened read-only")
            # One connection: a second ":memory:" connection would be another database.
            conn = await _connect(name, name, busy_timeout, uri=False)
            await _prepare(conn, name, readonly=False, synchronous=synchronous, migrations=migrations)
            return cls(name, False, conn, conn)

        target = await anyio.to_thread.run_sync(_file_target, name, readonly)
        if readonly:
            # mode=ro: this process can never write, whatever it does; WAL lets it read
            # consistent snapshots while the runtime keeps appending.
            conn = await _connect(name, target, busy_timeout, uri=True)
            await _prepare(conn, name, readonly=True, synchronous=synchronous, migrations=migrations)
            if _file.file_size(name) <= _file.QUICK_CHECK_BYTES:
                await _check_whole(conn, name)
            return cls(name, True, None, conn)

        # Before the lock, whose file would be left beside another app's database.
        await anyio.to_thread.run_sync(_own_file, name)
        # In a thread: it may wait a moment for a hook's hold to end (``_lock``).
        lock = await anyio.to_thread.run_sync(WriterLock.acquire, name)
        try:
            # The writing is a child process's (see ``_writer_process`` for why): started
            # first, so that its interpreter starts while this connection opens, checks and
            # migrates the file; it asks the file nothing before its first request.
            writer = await WriterProcess.spawn(name, busy_timeout=busy_timeout, keep_fds=[lock.fileno()])
            try:
                reader = await _connect(name, name, busy_timeout, uri=False)
                try:
                    await _prepare(
                        reader, name, readonly=False, synchronous=synchronous, migrations=migrations
                    )
                    await _open_as_writer(reader, name)
                    await reader.execute("PRAGMA query_only = ON")
                    # Not waited for: the child finishes starting while the runtime does
                    # (a first write reads this answer first, and raises its error, if any).
                    writer.configure(synchronous)
                except BaseException:
                    await reader.close()
                    raise
            except BaseException:
                await writer.close()
                raise
        except BaseException:
            lock.release()
            raise
        return cls(name, False, writer, reader, lock)

    async def close(self) -> None:
        """Close both connections (an open transaction is rolled back by SQLite), then let
        go of the writer lock."""
        try:
            if self._writer is not None and self._marked:
                # Closed in order: the next writer need not check the file (see ``_file``).
                # Briefly: a close never waits long for a lock someone else holds.
                with contextlib.suppress(sqlite3.Error, ValueError, WriterProcessLost):
                    await self._writer.execute_fetchall("PRAGMA busy_timeout = 200")
                    await self._writer.execute_fetchall("PRAGMA user_version = 0")
            if self._writer is not None and self._writer is not self._reader:
                await self._writer.close()
            await self._reader.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def abandon(self) -> None:
        """Close without awaiting, for an owner that was killed: stop the reader's connection
        thread, kill the writer process.

        Anything not committed is rolled back when SQLite closes the connection. The writer
        lock goes as soon as the killed writer process is gone (a moment), and the owner's
        successor (a restart by its supervisor) opens then.
        """
        for conn in {id(c): c for c in (self._writer, self._reader) if c is not None}.values():
            conn.stop()
        if self._lock is not None:
            # The writer process, killed, holds the lock until it is gone (a moment): the
            # successor waits for that, so nothing of this writer's lands after it opened.
            self._lock.release(remove=False)

    async def stored_by_writer(self, event_id: str) -> int | None:
        """The seq of ``event_id`` if stored, asked after every statement the writer queued."""
        assert self._writer is not None
        try:
            rows = list(
                await self._writer.execute_fetchall("SELECT seq FROM events WHERE event_id = ?", (event_id,))
            )
        except sqlite3.Error as exc:
            raise _read_error(self.path, exc) from exc
        return int(rows[0][0]) if rows else None

    @property
    def shared(self) -> bool:
        """One writer per file (``_lock``): nobody else appends to this log."""
        return False

    def on_commit(self, callback: Callable[[int], None]) -> None:
        """Nobody else commits here: ``callback`` is never called."""

    async def insert_events(
        self, events: Sequence[PreparedEvent], first_seq: int, rows: str | None = None
    ) -> int:
        """Insert ``events`` with seqs from ``first_seq`` on, as one transaction; returns
        ``first_seq`` (this process, the only writer, numbers the log). ``rows``: the
        events' ``PreparedEvent.row`` texts joined into one JSON array, if the caller has it.
        """
        if rows is None:
            rows = "[" + ",".join([p.row for p in events]) + "]"
        await self._execute(_INSERT_ROWS, (rows, first_seq))
        return first_seq

    @property
    def sends_ahead(self) -> bool:
        """Whether :meth:`send_events` can be used: the writer is a process of its own, and
        the first write (which marks the file first: ``_execute``) is done."""
        return type(self._writer) is WriterProcess and self._marked

    def send_events(self, events: Sequence[PreparedEvent], first_seq: int, rows: str) -> _Sent:
        """:meth:`insert_events` without waiting for the commit (only if :attr:`sends_ahead`)."""
        if not self.sends_ahead:
            raise io.UnsupportedOperation("no writer process, or not written yet: insert_events")
        writer = self._writer
        assert isinstance(writer, WriterProcess)
        return _Sent(self.path, writer, writer.send(_INSERT_ROWS, (rows, first_seq)), first_seq)

    async def insert(self, rows_json: str) -> None:
        """Insert a JSON array of rows (``PreparedEvent.row_json``) as one transaction.

        All rows are committed, or none. Raises :class:`RowConflict` (a duplicate
        ``seq`` or ``event_id``) or :class:`StoreWriteError` (locked, read-only, disk full…).
        """
        await self._execute(_INSERT, (rows_json,))

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        conn = self._writer
        if conn is None:
            raise StoreWriteError(self.path, "opened read-only")
        try:
            if not self._marked and self.path != MEMORY:
                # Written from now on: until close() clears it, an open finds it set and
                # checks the file (``_file``). Once per writer, in its own transaction.
                await conn.execute_fetchall(f"PRAGMA user_version = {_file.WRITER_OPEN}")
                self._marked = True
            await conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _write_error(self.path, exc) from exc
        except ValueError as exc:  # aiosqlite: the connection was closed under us
            raise StoreWriteError(self.path, str(exc)) from exc

    async def last_seq(self) -> int:
        value = await self._scalar("SELECT max(seq) FROM events")
        return int(value) if value is not None else 0

    async def query(
        self, query: EventQuery, *, upto_seq: int | None = None, trusted: bool = False
    ) -> list[Event]:
        """Events matching ``query`` in seq order (reversed if ``descending``).

        ``upto_seq`` bounds the result to what the writer has acknowledged: with a shared
        in-memory connection, rows of a batch still being committed must not leak out.
        ``trusted``: build the envelopes without validating them again (the rows were
        validated on their way in) — half the cost, for a bulk read such as recovery's.
        """
        where, params = _where(query, upto_seq)
        order = "DESC" if query.descending else "ASC"
        inner = f"SELECT * FROM events WHERE {where} ORDER BY seq {order}"
        if query.limit is not None:
            inner += " LIMIT ?"
            params.append(query.limit)
        # One row, one JSON text, decoded straight into Events by pydantic-core (see _INSERT
        # for why not row by row). The aggregate follows the subquery's order in SQLite; the
        # check below keeps that an assumption we verify rather than trust.
        events = await self._events(inner, params, trusted=trusted)
        seqs = [e.seq for e in events]
        if seqs != sorted(seqs, reverse=query.descending):
            events.sort(key=lambda e: e.seq, reverse=query.descending)
        return events

    async def unfinished(self, kind: str, *, upto_seq: int | None = None) -> list[Event]:
        """An opening event of every ``kind`` (``"run"``, ``"session"``, ``"task"``) that has
        no end in the log, oldest first: one read of the ``unfinished`` table, whatever the
        size of the log."""
        if kind not in LIFECYCLES:
            raise ValueError(f"kind must be one of {sorted(LIFECYCLES)}, got {kind!r}")
        bound = "" if upto_seq is None else " AND u.seq <= ?"
        inner = (
            "SELECT e.* FROM unfinished AS u JOIN events AS e ON e.seq = u.seq"
            f" WHERE u.kind = ?{bound} ORDER BY u.seq"
        )
        params: list[Any] = [kind] if upto_seq is None else [kind, upto_seq]
        return await self._events(inner, params, trusted=False)

    async def unfinished_runs(self, types: Sequence[str], *, upto_seq: int | None = None) -> list[Event]:
        """The events of ``types`` of every run without an end, in seq order, decoded without
        validating them again (they were on their way in): what recovery rebuilds runs from,
        in one read of the index and each run's own rows."""
        bound = "" if upto_seq is None else " AND seq <= ?"
        # "+type": the type index must not be used here — it would walk every event of those
        # types in the log; each unfinished run's own index range is what is wanted.
        inner = (
            "SELECT * FROM events WHERE run_id IN (SELECT id FROM unfinished WHERE kind = 'run')"
            f" AND +type IN (SELECT value FROM json_each(?)){bound} ORDER BY seq"
        )
        params: list[Any] = [to_json(list(types)).decode()]
        if upto_seq is not None:
            params.append(upto_seq)
        return await self._events(inner, params, trusted=True)

    async def metadata(self) -> dict[str, str]:
        """The database's labels (``set_metadata``)."""
        text = await self._scalar("SELECT json_group_object(key, value) FROM meta")
        labels: dict[str, str] = _LABELS.validate_json(text)
        return labels

    async def set_metadata(self, key: str, value: str) -> None:
        """Set one label, on the writer's connection (in order with its inserts)."""
        conn = self._writer
        if conn is None:
            raise StoreWriteError(self.path, "opened read-only")
        try:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        except sqlite3.Error as exc:
            raise StoreWriteError(self.path, str(exc)) from exc

    async def existing_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` are already stored."""
        if not event_ids:
            return set()
        sql = (
            "SELECT json_group_array(event_id) FROM events WHERE event_id IN (SELECT value FROM json_each(?))"
        )
        text = await self._scalar(sql, (to_json(list(event_ids)).decode(),))
        return set(_IDS.validate_json(text))

    async def _events(self, inner: str, params: Sequence[Any], *, trusted: bool) -> list[Event]:
        """The events the row query ``inner`` selects (``SELECT * …``), in its order.

        One row, one JSON text, decoded straight into Events by pydantic-core (see _INSERT
        for why not row by row). Should that fail — a row that cannot be decoded — the page
        is read again row by row and every row that decodes is served; each one that does
        not is reported with its seq (``unreadable``, and the log), never fatal to the read.
        """
        try:
            text = await self._scalar(f"SELECT json_group_array({_AS_JSON}) FROM ({inner})", params)
            if trusted:
                return [trusted_event(row) for row in from_json(text)]
            return _EVENTS.validate_json(text)
        except (ValueError, StoreReadError):  # a ValidationError is a ValueError
            pass  # (StoreCorrupt is neither: a damaged file is not read around)
        rows = await self._rows(f"SELECT {', '.join(COLUMNS)} FROM ({inner})", params)
        events, bad = decode_rows(COLUMNS, rows)
        for item in bad:
            self.unreadable[item.seq] = item.problem
        return events

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise _read_error(self.path, exc) from exc
        except ValueError as exc:  # aiosqlite: the connection is closed
            raise StoreClosed(f"{self.path!r}: {exc}") from exc

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None


def read_labels(path: str | os.PathLike[str]) -> dict[str, str]:
    """A database's labels (``meta``), read without opening it as a log: no lock, no
    migration, no ``-wal``/``-shm`` left beside it — the file stays byte for byte as it was
    (SQLite's ``immutable``). For a tool deciding whether it may touch a file at all.

    :class:`StoreOpenError` if it is not a Soma database; ``{}`` for one from before labels.
    Labels still in an uncheckpointed WAL (a writer is live, or was killed) are not seen.
    """
    name = os.fspath(path)
    uri = Path(name).resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "schema_version" not in tables:
                raise StoreOpenError(name, "not a Soma event store")
            if "meta" not in tables:
                return {}
            return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    except sqlite3.Error as exc:
        raise StoreOpenError(name, str(exc)) from exc


def _file_target(name: str, readonly: bool) -> str:
    """Check the path up front, for errors that say more than "unable to open database"."""
    file = Path(name)
    if not file.parent.is_dir():
        raise StoreOpenError(name, f"directory {str(file.parent)!r} does not exist")
    if file.is_dir():
        raise StoreOpenError(name, "it is a directory")
    if readonly:
        if not file.exists():
            raise StoreOpenError(name, "no such file (a read-only open never creates one)")
        return file.resolve().as_uri() + "?mode=ro"
    if file.exists() and not os.access(file, os.W_OK):
        raise StoreOpenError(name, "the file is not writable (open it read-only to read it)")
    return name


async def _connect(name: str, target: str, busy_timeout: float, *, uri: bool) -> aiosqlite.Connection:
    try:
        # timeout= is SQLite's busy_timeout: how long a statement waits for a lock held by
        # another connection (another process writing) before failing with "locked".
        # isolation_level=None: autocommit, so each batch INSERT is its own transaction.
        conn = await aiosqlite.connect(target, uri=uri, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreOpenError(name, str(exc)) from exc
    return conn


async def _prepare(
    conn: aiosqlite.Connection,
    name: str,
    *,
    readonly: bool,
    synchronous: Synchronous,
    migrations: Sequence[str],
) -> None:
    """Check the file is a Soma log of a usable version; set WAL; migrate forward."""
    try:
        await conn.execute(f"PRAGMA synchronous = {synchronous}")
        tables = {
            row[0]
            for row in await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "schema_version" not in tables:
            # Before the journal mode changes: another app's database is left as it was.
            raise StoreOpenError(name, f"not a Soma event store (it has tables {sorted(tables)})")
        if not readonly and name != MEMORY:
            await conn.execute_fetchall("PRAGMA journal_mode = WAL")  # fetched: no statement left open
        if "schema_version" in tables:
            rows = list(await conn.execute_fetchall("SELECT version FROM schema_version"))
            version = int(rows[0][0]) if rows else 0
        elif readonly:
            # An empty file (0 bytes, or a database nothing was ever written to) is nothing a
            # reader can use; "needs a migration" would send the user to create a store there.
            raise StoreOpenError(name, "it is empty: no Soma runtime has written to it")
        else:
            version = 0
        supported = len(migrations)
        if version > supported:
            raise SchemaVersionError(
                name,
                version,
                supported,
                "it was written by a newer Soma; upgrade Soma to open it (it is left untouched)",
            )
        if version < supported and readonly:
            raise SchemaVersionError(
                name,
                version,
                supported,
                "it needs a migration, which a read-only open cannot do; open it read-write once",
            )
        for step in range(version, supported):
            await conn.executescript(
                "BEGIN IMMEDIATE;"
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
                f"{migrations[step]};"
                "DELETE FROM schema_version;"
                f"INSERT INTO schema_version (version) VALUES ({step + 1});"
                "COMMIT;"
            )
    except sqlite3.Error as exc:
        if conn.in_transaction:
            await conn.rollback()
        await conn.close()
        if _is_corrupt(exc) and "not a database" not in str(exc):
            raise StoreCorrupt(name, str(exc)) from exc
        raise StoreOpenError(name, str(exc)) from exc
    except BaseException:
        await conn.close()
        raise


def _own_file(name: str) -> None:
    """Before a writer opens ``name``: refuse another app's file untouched, else make sure
    the database is (or will be created) owner-only (see ``_file``)."""
    _file.refuse_foreign(name)
    _file.create_private(name)
    _file.make_private(name)


async def _check_whole(conn: aiosqlite.Connection, name: str) -> None:
    try:
        found = _file.problems(await conn.execute_fetchall(_file.check_sql(full=False)))
    except sqlite3.Error as exc:
        found = [str(exc)]
    if found:
        await conn.close()
        raise _file.corrupt(name, found)


async def _open_as_writer(conn: aiosqlite.Connection, name: str) -> None:
    """Check the file if its last writer did not close it in order (or if that is cheap).
    (``insert`` marks it open, with its first write: opening takes no write lock.)"""
    if name == MEMORY:
        return
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    unclean = bool(rows) and rows[0][0] == _file.WRITER_OPEN
    if unclean or _file.file_size(name) <= _file.QUICK_CHECK_BYTES:
        await _check_whole(conn, name)


def _read_error(path: str, exc: sqlite3.Error) -> StoreReadError | StoreCorrupt:
    if _is_corrupt(exc):
        return StoreCorrupt(path, str(exc))
    return StoreReadError(path, str(exc))


def _is_corrupt(exc: sqlite3.Error) -> bool:
    """SQLite found the file damaged (or not a database at all) while using it."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class _Sent:
    """A batch sent to the writer process, its commit not yet awaited (``send_events``)."""

    __slots__ = ("_first_seq", "_path", "_request", "_writer")

    def __init__(
        self, path: str, writer: WriterProcess, request: asyncio.Future[Any], first_seq: int
    ) -> None:
        self._path = path
        self._writer = writer
        self._request = request
        self._first_seq = first_seq

    async def committed(self) -> int:
        """Wait for the commit; the batch's first seq. Raises what :meth:`SqliteLog.insert_events`
        raises; may be awaited again after a cancellation."""
        try:
            await self._writer.answer(self._request)
        except sqlite3.Error as exc:
            raise _write_error(self._path, exc) from exc
        return self._first_seq


def _write_error(path: str, exc: sqlite3.Error) -> RowConflict | StoreWriteError:
    """What a write's ``sqlite3`` error means to the store."""
    if isinstance(exc, sqlite3.IntegrityError):
        return RowConflict(str(exc))
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    busy = code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return StoreWriteError(path, str(exc), busy=busy)
