"""PostgreSQL storage of the event log: the same contract as ``sqlite``, on a server, shared
by several runtimes.

``Runtime.open(db="postgresql://user@host/dbname")`` (or any URL libpq understands,
``?host=/path/to/socket/dir`` included) stores the log here; everything above the store is the
same as on SQLite. Needs the ``postgres`` extra (asyncpg: the server's binary protocol on
asyncio, LISTEN/NOTIFY, and no C client library to install).

Several runtimes, one log. Where SQLite has one writer per file, here every runtime that
opens the database for writing is a *node*: it registers a lease in ``nodes`` and renews it
(:meth:`PostgresLog.renew`); each unfinished run, session and task is owned by the node that
opened it (``unfinished.owner``, written by the trigger in the event's own transaction). A
node whose lease expired — killed, frozen, cut off — is dead to the others: one of them takes
its work (:meth:`PostgresLog.claim`) and resumes it as recovery at open does. A node that
lost its lease cannot write any more (the append checks the lease in its transaction), so a
runtime that was only paused cannot record over the one that took its runs.

Order. Every batch is written by ``soma_append`` (see ``_pg_schema``): one transaction-scoped
advisory lock numbers its rows after the highest stored seq, so seq is gap-free and in
commit order across all nodes, and each commit NOTIFYs the new high-water mark; a node's
followers wake on it and read the table.

Durability. A commit returns once the server has flushed it to its WAL (``synchronous_commit``
as the server is configured, ``on`` by default): an acknowledged append survives the death of
the runtime *and* of the server.
"""

from __future__ import annotations

import io
import os
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import asyncpg
from pydantic import TypeAdapter
from pydantic_core import from_json

from ._backend import NodeName, RowConflict, SentBatch, Synchronous, new_node_id
from ._pg_schema import MIGRATIONS
from ._query import EventQuery
from ._query import where as _where
from ._salvage import decode_rows
from ._schema import LIFECYCLES
from .errors import (
    LeaseLost,
    SchemaVersionError,
    StoreClosed,
    StoreOpenError,
    StoreReadError,
    StoreWriteError,
)
from .events import ID_FIELDS, Event, PreparedEvent, trusted_event

COLUMNS: Final = ("seq", "event_id", "ts", "type", *ID_FIELDS, "source", "payload")
_APPEND: Final = f"SELECT soma_append({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
_AS_JSON: Final = "json_build_object(" + ", ".join(f"'{c}', {c}" for c in COLUMNS) + ")"
_CLAIM_LOCK: Final = (0x736F6D61, 3)  # one claim at a time: two nodes never take the same work
_CHANNEL: Final = "soma_events"
_LEASE_LOST: Final = "SOMA1"  # soma_append's SQLSTATE for a node without a lease
_ORPHAN_OUTCOME: Final = "SOMA2"  # the trigger's for a guidance.outcome without its firing

DEFAULT_LEASE: Final = 10.0
"""Seconds a node's lease lasts unrenewed: how long its work waits after it died."""

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
    """One open event database on a PostgreSQL server: a writer that is a node of the shared
    log (unless read-only), a listener for other nodes' commits, and a small pool of readers."""

    @property
    def shared(self) -> bool:
        """Other runtimes may write the same log (see the module docstring)."""
        return True

    def __init__(
        self,
        path: str,
        readonly: bool,
        writer: asyncpg.Connection | None,
        readers: asyncpg.Pool,
        node_id: str | None,
        lease: float,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._writer = writer
        self._readers = readers
        self.unreadable: dict[int, str] = {}
        """Stored rows reads had to skip, by seq: what is wrong with each (``_salvage``)."""
        self.node_id = node_id
        """This runtime's name among the nodes of the log (None: read-only)."""
        self.lease = lease
        self.recovering = node_id
        """Whose unfinished work ``unfinished`` and ``unfinished_runs`` answer for: this
        node's, or the claim being recovered (:meth:`claim`)."""
        # One statement at a time on the writer: the store's appends and labels, and the
        # lease's renewals and claims, each in the order asked.
        self._writing = anyio.Lock()
        self._listener: asyncpg.Connection | None = None
        self._closed = False  # closed or abandoned: a read failing now failed for that
        self._on_commit: Callable[[int], None] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        readonly: bool = False,
        synchronous: Synchronous = "NORMAL",
        lease: float = DEFAULT_LEASE,
        node: NodeName | None = None,
    ) -> PostgresLog:
        """Open (creating the schema and migrating if needed) the log in the database at
        ``url``; a writer joins it as a node holding a lease of ``lease`` seconds: ``node``,
        or a new one. A node that joined before and lost its lease gets :class:`LeaseLost`.
        ``synchronous`` is accepted for symmetry with SQLite: a PostgreSQL commit is already
        durable past both the runtime's and the server's death."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        url, lease = _lease_from(url, lease)
        name = redacted_url(url)
        settings = {"application_name": f"soma-runtime pid={os.getpid()}"}
        reader_settings = {**settings, "default_transaction_read_only": "on"}
        writer: asyncpg.Connection | None = None
        node_id: str | None = None
        try:
            if not readonly:
                writer = await asyncpg.connect(url, server_settings=settings)
                await _migrate(writer, name)
                node = node if node is not None else NodeName(new_node_id())
                node_id = node.node_id
                await _join(writer, name, node, lease)
            else:
                probe = await asyncpg.connect(url, server_settings=reader_settings)
                try:
                    await _check_readable(probe, name)
                finally:
                    await probe.close()
            readers = await asyncpg.create_pool(
                url, min_size=1, max_size=_READERS, server_settings=reader_settings
            )
        except BaseException as exc:
            if writer is not None:
                writer.terminate()
            if isinstance(exc, StoreOpenError | SchemaVersionError):  # LeaseLost included
                raise
            if isinstance(exc, asyncpg.PostgresError | OSError | asyncpg.InterfaceError):
                raise StoreOpenError(name, _reason(exc)) from exc
            raise
        log = cls(name, readonly, writer, readers, node_id, lease)
        if writer is not None:
            try:
                log._listener = await asyncpg.connect(url, server_settings=reader_settings)
                await log._listener.add_listener(_CHANNEL, log._notified)
            except BaseException:
                await log.close()
                raise
        return log

    async def close(self) -> None:
        """Leave the log: drop this node's lease (its unfinished work — suspended runs — is
        then any node's to resume), and close the connections."""
        self._closed = True
        try:
            if self._listener is not None:
                await self._listener.close()
            await self._readers.close()
        finally:
            if self._writer is not None:
                try:
                    async with self._writing:
                        await self._writer.execute("DELETE FROM nodes WHERE node_id = $1", self.node_id)
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    pass  # the server is gone: the lease expires by itself
                finally:
                    await self._writer.close()

    def abandon(self) -> None:
        """Close without awaiting, for an owner that was killed: the server rolls back what
        was not committed; the lease expires unrenewed, and another node takes the work."""
        self._closed = True
        self._readers.terminate()
        for conn in (self._listener, self._writer):
            if conn is not None:
                conn.terminate()

    # -- what other runtimes do ------------------------------------------------------------

    def on_commit(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(last_seq)`` when any node commits (NOTIFY, after the commit)."""
        self._on_commit = callback

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        if self._on_commit is not None and isinstance(payload, str) and payload.isdigit():
            self._on_commit(int(payload))

    async def renew(self) -> bool:
        """Extend this node's lease by ``lease`` seconds from now. False: it was lost (it
        expired and another node took this one's work): this runtime can write no more."""
        writer = self._need_writer()
        async with self._writing:
            try:
                row = await writer.fetchval(
                    "UPDATE nodes SET expires_at = clock_timestamp() + make_interval(secs => $2)"
                    " WHERE node_id = $1 AND expires_at > clock_timestamp() RETURNING 1",
                    self.node_id,
                    self.lease,
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StoreWriteError(self.path, f"renewing the lease: {_reason(exc)}") from exc
        return row is not None

    async def claim(self, claimant: str) -> tuple[list[str], int]:
        """Take, as ``claimant``, the unfinished work of every node whose lease expired (and
        of none at all: a log written before nodes, or whose node left it in order): the
        dead nodes' ids, and how many runs, sessions and tasks were taken. Then
        ``recovering = claimant`` makes ``unfinished`` answer for what was taken, and
        :meth:`adopt` gives it to this node once recovered."""
        writer = self._need_writer()
        async with self._writing:
            try:
                async with writer.transaction():
                    await writer.execute("SELECT pg_advisory_xact_lock($1, $2)", *_CLAIM_LOCK)
                    dead = [
                        r[0]
                        for r in await writer.fetch(
                            "DELETE FROM nodes WHERE expires_at <= clock_timestamp() RETURNING node_id"
                        )
                    ]
                    taken = await writer.fetchval(
                        # A claim in progress ("node/takeover-n") is its node's while it lives.
                        "WITH taken AS (UPDATE unfinished SET owner = $1 WHERE owner IS NULL"
                        " OR split_part(owner, '/', 1) NOT IN (SELECT node_id FROM nodes) RETURNING 1)"
                        " SELECT count(*) FROM taken",
                        claimant,
                    )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StoreWriteError(self.path, f"claiming dead nodes' work: {_reason(exc)}") from exc
        return dead, int(taken)

    async def adopt(self, claimant: str) -> None:
        """What was recovered under ``claimant`` is this node's own from now on."""
        writer = self._need_writer()
        async with self._writing:
            try:
                await writer.execute(
                    "UPDATE unfinished SET owner = $1 WHERE owner = $2", self.node_id, claimant
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StoreWriteError(self.path, _reason(exc)) from exc

    # -- the log -----------------------------------------------------------------------------

    async def stored_by_writer(self, event_id: str) -> int | None:
        """The seq of ``event_id`` if stored (asked on the writer after its queued work)."""
        writer = self._need_writer()
        async with self._writing:
            try:
                seq = await writer.fetchval("SELECT seq FROM events WHERE event_id = $1", event_id)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StoreReadError(self.path, _reason(exc)) from exc
        return None if seq is None else int(seq)

    sends_ahead: Final = False
    """The log numbers a batch when it commits (other nodes append too): the store awaits
    each commit (:meth:`insert_events`)."""

    def send_events(self, events: Sequence[PreparedEvent], first_seq: int, rows: str) -> SentBatch:
        raise io.UnsupportedOperation("a shared log cannot send a batch ahead: insert_events")

    async def insert_events(
        self, events: Sequence[PreparedEvent], first_seq: int, rows: str | None = None
    ) -> int:
        """Append ``events`` as one transaction; the seq of the first (the log's next, which
        ``first_seq`` — this node's guess — need not be: other nodes write too). ``rows`` is
        not used: the columns travel as arrays, in asyncpg's binary protocol."""
        writer = self._need_writer()
        columns: list[list[Any]] = [
            [p.event_id for p in events],
            [p.ts for p in events],
            [p.type for p in events],
            *(list(ids) for ids in zip(*(p.ids for p in events), strict=True)),
            [p.source for p in events],
            [p.payload_json for p in events],
        ]
        async with self._writing:
            try:
                first = await writer.fetchval(_APPEND, self.node_id, *columns)
            except asyncpg.UniqueViolationError as exc:
                raise RowConflict(str(exc)) from exc
            except asyncpg.PostgresError as exc:
                if getattr(exc, "sqlstate", None) == _ORPHAN_OUTCOME:
                    raise RowConflict(str(exc)) from exc  # the schema's trigger (``_pg_schema``, 2 -> 3)
                if getattr(exc, "sqlstate", None) == _LEASE_LOST:
                    raise StoreWriteError(self.path, _reason(exc)) from exc
                busy = isinstance(exc, asyncpg.LockNotAvailableError | asyncpg.DeadlockDetectedError)
                raise StoreWriteError(self.path, _reason(exc), busy=busy) from exc
            except (asyncpg.InterfaceError, OSError) as exc:
                raise StoreWriteError(self.path, _reason(exc)) from exc
        return int(first)

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
        return await self._events(inner, params, order=order, trusted=trusted)

    async def unfinished(self, kind: str, *, upto_seq: int | None = None) -> list[Event]:
        """An opening event of every ``kind`` without an end that ``recovering`` owns."""
        if kind not in LIFECYCLES:
            raise ValueError(f"kind must be one of {sorted(LIFECYCLES)}, got {kind!r}")
        bound = "" if upto_seq is None else " AND u.seq <= ?"
        inner = (
            "SELECT e.* FROM unfinished AS u JOIN events AS e ON e.seq = u.seq"
            f" WHERE u.kind = ? AND u.owner IS NOT DISTINCT FROM ?{bound}"
        )
        params: list[Any] = [kind, self.recovering]
        if upto_seq is not None:
            params.append(upto_seq)
        return await self._events(inner, params)

    async def unfinished_runs(self, types: Sequence[str], *, upto_seq: int | None = None) -> list[Event]:
        """The events of ``types`` of every run without an end that ``recovering`` owns."""
        bound = "" if upto_seq is None else " AND seq <= ?"
        inner = (
            "SELECT * FROM events WHERE run_id IN (SELECT id FROM unfinished WHERE kind = 'run'"
            f" AND owner IS NOT DISTINCT FROM ?) AND type = ANY(?){bound}"
        )
        params: list[Any] = [self.recovering, list(types)]
        if upto_seq is not None:
            params.append(upto_seq)
        return await self._events(inner, params, trusted=True)

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

    async def _events(
        self, inner: str, params: list[Any], *, order: str = "ASC", trusted: bool = False
    ) -> list[Event]:
        """The events the row query ``inner`` selects, in seq ``order``: in one JSON text,
        decoded at once — or, should a row not decode, row by row, every row that does
        served and each one that does not reported by seq (``unreadable``), as on SQLite."""
        sql = f"SELECT coalesce(json_agg({_AS_JSON} ORDER BY seq {order}), '[]')::text FROM ({inner}) AS e"
        try:
            text = await self._scalar(sql, params)
            return [trusted_event(row) for row in from_json(text)] if trusted else _EVENTS.validate_json(text)
        except ValueError:  # a ValidationError is a ValueError
            pass
        select = ", ".join(f"{c}::text" if c == "payload" else c for c in COLUMNS)
        rows = await self._rows(f"SELECT {select} FROM ({inner}) AS e ORDER BY seq {order}", params)
        events, bad = decode_rows(COLUMNS, rows)
        for item in bad:
            self.unreadable[item.seq] = item.problem
        return events

    async def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return [tuple(r) for r in await self._readers.fetch(numbered(sql), *params)]
        except Exception as exc:
            raise self._read_failure(exc) from exc

    def _read_failure(self, exc: Exception) -> Exception:
        """What a failed read raises: :class:`StoreClosed` once the store closed or was
        abandoned (its pool cut under the read, in whatever way asyncpg reports it), or its
        connections are gone — so a reader goes to the store's successor; else
        :class:`StoreReadError`; anything else unexpected is itself."""
        closed = isinstance(exc, asyncpg.InterfaceError | asyncpg.PostgresConnectionError)
        if self._closed or closed:
            return StoreClosed(f"{self.path!r}: {exc}")
        if isinstance(exc, asyncpg.PostgresError | OSError):
            return StoreReadError(self.path, _reason(exc))
        return exc

    def _need_writer(self) -> asyncpg.Connection:
        if self._writer is None:
            raise StoreWriteError(self.path, "opened read-only")
        return self._writer

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return await self._readers.fetchval(numbered(sql), *params)
        except Exception as exc:
            raise self._read_failure(exc) from exc


async def _join(writer: asyncpg.Connection, name: str, node: NodeName, lease: float) -> None:
    """Register ``node``'s lease; or, for a node that joined before (its store restarted),
    renew it — unless it was lost, and its work may be another node's by now."""
    if node.joined:
        renewed = await writer.fetchval(
            "UPDATE nodes SET expires_at = clock_timestamp() + make_interval(secs => $2)"
            " WHERE node_id = $1 AND expires_at > clock_timestamp() RETURNING 1",
            node.node_id,
            lease,
        )
        if renewed is None:
            raise LeaseLost(name, node.node_id)
        return
    await writer.execute(
        "INSERT INTO nodes (node_id, expires_at, pid, host)"
        " VALUES ($1, clock_timestamp() + make_interval(secs => $2), $3, $4)",
        node.node_id,
        lease,
        os.getpid(),
        socket.gethostname(),
    )
    node.joined = True


def _lease_from(url: str, lease: float) -> tuple[str, float]:
    """The URL without Soma's own ``soma_lease=SECONDS`` parameter (libpq would refuse it), and
    the lease it sets — so a lease can be chosen wherever a database URL is given."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    mine = [v for k, v in query if k == "soma_lease"]
    if mine:
        try:
            lease = float(mine[-1])
        except ValueError:
            raise StoreOpenError(redacted_url(url), f"soma_lease must be seconds, got {mine[-1]!r}") from None
        url = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "soma_lease"])))
    if not lease > 0:
        raise StoreOpenError(redacted_url(url), f"the lease must be more than 0 seconds, got {lease!r}")
    return url, lease


def numbered(sql: str) -> str:
    """``?`` placeholders (the store's shared SQL) as PostgreSQL's ``$1, $2, …``."""
    counter = iter(range(1, 1 << 20))
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


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
    # Several runtimes may open a new database at once: one migrates, the others wait for it
    # (a transaction-scoped lock, taken again by each step) and find the work done.
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *_CLAIM_LOCK)
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
