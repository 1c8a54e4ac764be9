"""PostgreSQL storage of the event log: the same contract as ``sqlite``, on a server.

``Runtime.open(db="postgresql://user@host/dbname")`` (or any ``postgres://`` URL libpq
understands, ``?host=/path/to/socket/dir`` included) stores the log here; everything above
the store is the same as on SQLite. Needs the ``postgres`` extra (asyncpg: the server's
binary protocol on asyncio, with no C client library to install).

One writer. As on SQLite, one runtime writes a database at a time: its writer connection
holds a session-level advisory lock for as long as it is open, and a second writer gets
:class:`StoreLocked` naming the pid of the holder (read from the holder's
``application_name``). The server drops the lock when the connection ends, however the
holder died — a SIGKILL included — so a lock never outlives its holder here either.

Durability. A commit returns once the server has flushed it to its WAL (``synchronous_commit``
as the server is configured, ``on`` by default): an acknowledged append survives the death of
the runtime *and* of the server.

Batches. As on SQLite, a batch crosses to the server as ONE statement carrying ONE JSON text
(``json_array_elements`` unpacks it server-side): one round trip and one transaction per
group commit, whatever its size.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
from pydantic import TypeAdapter
from pydantic_core import from_json

from ._backend import RowConflict, Synchronous
from ._pg_schema import MIGRATIONS
from ._query import EventQuery
from ._query import where as _where
from ._schema import LIFECYCLES
from .errors import (
    SchemaVersionError,
    StoreClosed,
    StoreLocked,
    StoreOpenError,
    StoreReadError,
    StoreWriteError,
)
from .events import ID_FIELDS, Event, PreparedEvent, trusted_event

COLUMNS: Final = ("seq", "event_id", "ts", "type", *ID_FIELDS, "payload")

# The batch as one array per column (asyncpg sends them in the binary protocol): one
# statement, one round trip, one transaction. Not one JSON text as on SQLite: PostgreSQL's
# JSON operators unescape every string of a value they look into, and refuse a payload
# holding "\u0000" — which the ``json`` type itself stores as written.
_INSERT: Final = (
    f"INSERT INTO events ({', '.join(COLUMNS)}) SELECT * FROM unnest("
    "$1::bigint[], $2::text[], $3::bigint[], $4::text[], "
    + ", ".join(f"${5 + i}::text[]" for i in range(len(ID_FIELDS)))
    + f", ${5 + len(ID_FIELDS)}::text[]::json[])"
)
_AS_JSON: Final = "json_build_object(" + ", ".join(f"'{c}', {c}" for c in COLUMNS) + ")"

# The writer's advisory lock: (the bytes "soma" as an int, 1). Advisory locks are per
# database, so one key serves every database on a server.
_LOCK_KEY: Final = (0x736F6D61, 1)
_APP_PREFIX: Final = "soma-runtime pid="
_LOCK_WAIT: Final = 0.5  # seconds

_EVENTS: Final = TypeAdapter(list[Event])
_LABELS: Final = TypeAdapter(dict[str, str])
_READERS: Final = 4  # connections serving queries beside the writer's


def redacted_url(url: str) -> str:
    """``url`` without its password, for messages and ``path``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresLog:
    """One open event database on a PostgreSQL server: a writer (unless read-only) holding
    the writer lock, and a small pool of readers."""

    def __init__(
        self, path: str, readonly: bool, writer: asyncpg.Connection | None, readers: asyncpg.Pool
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._writer = writer
        self._readers = readers
        # One statement at a time on the writer (the store process is its only user, but a
        # connection must never see two): inserts and labels in the order they were asked.
        self._writing = anyio.Lock()

    @classmethod
    async def open(
        cls, url: str, *, readonly: bool = False, synchronous: Synchronous = "NORMAL"
    ) -> PostgresLog:
        """Open (creating the schema and migrating if needed) the log in the database at
        ``url``. A writer first takes the database's writer lock: a second writer gets
        :class:`StoreLocked`. Read-only opens take no lock and work beside a writer.
        ``synchronous`` is accepted for symmetry with SQLite: a PostgreSQL commit is
        already durable past both the runtime's and the server's death."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        name = redacted_url(url)
        settings = {"application_name": f"{_APP_PREFIX}{os.getpid()}"}
        if readonly:
            settings["default_transaction_read_only"] = "on"
        writer: asyncpg.Connection | None = None
        try:
            if not readonly:
                writer = await asyncpg.connect(url, server_settings=settings)
                await _take_writer_lock(writer, name)
                await _migrate(writer, name)
            else:
                probe = await asyncpg.connect(url, server_settings=settings)
                try:
                    await _check_readable(probe, name)
                finally:
                    await probe.close()
            readers = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=_READERS,
                server_settings={**settings, "default_transaction_read_only": "on"},
            )
        except BaseException as exc:
            if writer is not None:
                writer.terminate()
            if isinstance(exc, (StoreOpenError, SchemaVersionError)):
                raise
            if isinstance(exc, (asyncpg.PostgresError, OSError, asyncpg.InterfaceError)):
                raise StoreOpenError(name, _reason(exc)) from exc
            raise
        return cls(name, readonly, writer, readers)

    async def close(self) -> None:
        """Close the readers, then the writer (which lets go of the writer lock)."""
        try:
            await self._readers.close()
        finally:
            if self._writer is not None:
                await self._writer.close()

    def abandon(self) -> None:
        """Close without awaiting, for an owner that was killed: the server rolls back what
        was not committed and drops the writer lock with the connection."""
        self._readers.terminate()
        if self._writer is not None:
            self._writer.terminate()

    async def stored_by_writer(self, event_id: str) -> bool:
        """Whether ``event_id`` is stored, asked on the writer after its queued statements."""
        writer = self._need_writer()
        async with self._writing:
            try:
                row = await writer.fetchval("SELECT 1 FROM events WHERE event_id = $1", event_id)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StoreReadError(self.path, _reason(exc)) from exc
        return row is not None

    async def insert_events(self, events: Sequence[PreparedEvent], first_seq: int) -> None:
        """Insert ``events`` with seqs from ``first_seq`` on, as one transaction."""
        writer = self._need_writer()
        columns: list[list[Any]] = [
            list(range(first_seq, first_seq + len(events))),
            [p.event_id for p in events],
            [p.ts for p in events],
            [p.type for p in events],
            *(list(ids) for ids in zip(*(p.ids for p in events), strict=True)),
            [p.payload_json for p in events],
        ]
        async with self._writing:
            try:
                await writer.execute(_INSERT, *columns)
            except asyncpg.UniqueViolationError as exc:
                raise RowConflict(str(exc)) from exc
            except asyncpg.PostgresError as exc:
                busy = isinstance(exc, (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError))
                raise StoreWriteError(self.path, _reason(exc), busy=busy) from exc
            except (asyncpg.InterfaceError, OSError) as exc:
                raise StoreWriteError(self.path, _reason(exc)) from exc

    async def last_seq(self) -> int:
        value = await self._scalar("SELECT max(seq) FROM events")
        return int(value) if value is not None else 0

    async def query(
        self, query: EventQuery, *, upto_seq: int | None = None, trusted: bool = False
    ) -> list[Event]:
        """Events matching ``query`` in seq order (reversed if ``descending``)."""
        where, params = _where(query, upto_seq, postgres=True)
        order = "DESC" if query.descending else "ASC"
        inner = f"SELECT * FROM events WHERE {where} ORDER BY seq {order}"
        if query.limit is not None:
            inner += " LIMIT ?"
            params.append(query.limit)
        sql = f"SELECT coalesce(json_agg({_AS_JSON} ORDER BY seq {order}), '[]')::text FROM ({inner}) AS e"
        text = await self._scalar(sql, params)
        return [trusted_event(row) for row in from_json(text)] if trusted else _EVENTS.validate_json(text)

    async def unfinished(self, kind: str, *, upto_seq: int | None = None) -> list[Event]:
        """An opening event of every ``kind`` that has no end in the log, oldest first."""
        if kind not in LIFECYCLES:
            raise ValueError(f"kind must be one of {sorted(LIFECYCLES)}, got {kind!r}")
        bound = "" if upto_seq is None else " AND u.seq <= ?"
        inner = f"SELECT e.* FROM unfinished AS u JOIN events AS e ON e.seq = u.seq WHERE u.kind = ?{bound}"
        params: list[Any] = [kind] if upto_seq is None else [kind, upto_seq]
        sql = f"SELECT coalesce(json_agg({_AS_JSON} ORDER BY seq), '[]')::text FROM ({inner}) AS e"
        return _EVENTS.validate_json(await self._scalar(sql, params))

    async def unfinished_runs(self, types: Sequence[str], *, upto_seq: int | None = None) -> list[Event]:
        """The events of ``types`` of every run without an end, in seq order."""
        bound = "" if upto_seq is None else " AND seq <= ?"
        inner = (
            "SELECT * FROM events WHERE run_id IN (SELECT id FROM unfinished WHERE kind = 'run')"
            f" AND type = ANY(?){bound}"
        )
        params: list[Any] = [list(types)] if upto_seq is None else [list(types), upto_seq]
        sql = f"SELECT coalesce(json_agg({_AS_JSON} ORDER BY seq), '[]')::text FROM ({inner}) AS e"
        return [trusted_event(row) for row in from_json(await self._scalar(sql, params))]

    async def metadata(self) -> dict[str, str]:
        text = await self._scalar("SELECT coalesce(json_object_agg(key, value), '{}')::text FROM meta")
        labels: dict[str, str] = _LABELS.validate_json(text)
        return labels

    async def set_metadata(self, key: str, value: str) -> None:
        writer = self._need_writer()
        async with self._writing:
            try:
                await writer.execute(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    key,
                    value,
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StoreWriteError(self.path, _reason(exc)) from exc

    async def existing_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        text = await self._scalar(
            "SELECT coalesce(json_agg(event_id), '[]')::text FROM events WHERE event_id = ANY(?)",
            [list(event_ids)],
        )
        return set(from_json(text))

    def _need_writer(self) -> asyncpg.Connection:
        if self._writer is None:
            raise StoreWriteError(self.path, "opened read-only")
        return self._writer

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return await self._readers.fetchval(_numbered(sql), *params)
        except asyncpg.InterfaceError as exc:  # the pool is closed, or closing
            raise StoreClosed(f"{self.path!r}: {exc}") from exc
        except (asyncpg.PostgresError, OSError) as exc:
            raise StoreReadError(self.path, _reason(exc)) from exc


def _numbered(sql: str) -> str:
    """``?`` placeholders (the store's shared SQL) as PostgreSQL's ``$1, $2, …``."""
    counter = iter(range(1, 1 << 20))
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


async def _take_writer_lock(conn: asyncpg.Connection, name: str) -> None:
    # A holder that just died (killed: its connection dropped, not closed) still holds the
    # lock until its server process notices the end of its connection — a few milliseconds:
    # wait that long before taking it for a live writer.
    with anyio.move_on_after(_LOCK_WAIT):
        while True:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *_LOCK_KEY):
                return
            await anyio.sleep(0.01)
    holder = await conn.fetchval(
        "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2"
        " AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        *_LOCK_KEY,
    )
    pid = None
    if isinstance(holder, str) and holder.startswith(_APP_PREFIX) and holder[len(_APP_PREFIX) :].isdigit():
        pid = int(holder[len(_APP_PREFIX) :])
    raise StoreLocked(name, pid)


async def _schema_version(conn: asyncpg.Connection) -> tuple[int | None, list[str]]:
    """The database's schema version (None: not a Soma log), and its tables."""
    tables = [
        r[0]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    ]
    if "schema_version" not in tables:
        return None, tables
    version = await conn.fetchval("SELECT version FROM schema_version")
    return int(version or 0), tables


async def _migrate(conn: asyncpg.Connection, name: str) -> None:
    version, tables = await _schema_version(conn)
    if version is None:
        if tables:
            raise StoreOpenError(name, f"not a Soma event store (it has tables {sorted(tables)})")
        version = 0
    if version > len(MIGRATIONS):
        raise SchemaVersionError(
            name, version, len(MIGRATIONS), "it was written by a newer Soma; upgrade Soma to open it"
        )
    for step in range(version, len(MIGRATIONS)):
        async with conn.transaction():
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            await conn.execute(MIGRATIONS[step])
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", step + 1)


async def _check_readable(conn: asyncpg.Connection, name: str) -> None:
    version, tables = await _schema_version(conn)
    if version is None:
        problem = f"not a Soma event store (it has tables {sorted(tables)})" if tables else "it is empty"
        raise StoreOpenError(name, problem)
    if version != len(MIGRATIONS):
        why = (
            "it was written by a newer Soma; upgrade Soma to open it"
            if version > len(MIGRATIONS)
            else "it needs a migration, which a read-only open cannot do; open it read-write once"
        )
        raise SchemaVersionError(name, version, len(MIGRATIONS), why)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
