"""A glance at a Soma database: its events read with the standard library alone.

For readers that must answer in tens of milliseconds — ``soma statusline`` runs at every
shell prompt, ``soma status`` in a ``watch`` loop — and have no use for what
:func:`~soma_runtime.store.log.open_event_log` brings (pydantic envelopes, asyncio,
aiosqlite's thread, subscriptions): importing those costs ten times what reading a few rows
does. A glance is read-only (SQLite's ``mode=ro``: this connection can never write, and WAL
lets it read beside a runtime that keeps appending), synchronous, and returns rows whose
payload is parsed only when asked for.

    with glance("soma.db") as db:
        for row in db.query(type="vitals.updated", descending=True, limit=1):
            print(row.seq, row.agent_id, row.payload["mode"])

Filters are the store's own (``_query``), so a glance selects exactly what ``EventLog.query``
would.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from ._query import EventQuery, where
from .errors import StoreOpenError, StoreReadError

_COLUMNS = (
    "seq",
    "event_id",
    "ts",
    "type",
    "session_id",
    "run_id",
    "step_id",
    "tool_call_id",
    "agent_id",
    "task_id",
    "correlation_id",
    "source",
    "payload",
)
"""The envelope's fields in their order (``Event``'s), the payload last."""
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM events"
_SELECT_BEFORE_SOURCE = _SELECT.replace("source", "'runtime' AS source")
"""For a database from before the envelope had ``source`` (schema 2), which a read-only look
cannot migrate: its events read as recorded by a runtime."""
_ID_COLUMNS = ("session_id", "run_id", "step_id", "tool_call_id", "agent_id", "task_id", "correlation_id")
_PAGE = 1000


class Row:
    """One event as stored: the envelope's fields, and its payload's JSON text
    (``payload_json``), parsed once when ``payload`` is first read."""

    __slots__ = (*_COLUMNS[:-1], "_payload", "payload_json")

    seq: int
    event_id: str
    ts: int
    type: str
    session_id: str | None
    run_id: str | None
    step_id: str | None
    tool_call_id: str | None
    agent_id: str | None
    task_id: str | None
    correlation_id: str | None
    source: str

    def __init__(self, *values: Any) -> None:
        for name, value in zip(_COLUMNS[:-1], values, strict=False):
            setattr(self, name, value)
        self.payload_json: str = values[-1]
        self._payload: dict[str, Any] | None = None

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            value = json.loads(self.payload_json)
            self._payload = value if isinstance(value, dict) else {}
        return self._payload

    def to_json(self) -> str:
        """The envelope as one line of JSON — what ``Event.to_json()`` writes for the same
        event (the payload is the store's own JSON text, which the store wrote that way)."""
        fields = ",".join(
            f'"{name}":{json.dumps(getattr(self, name), ensure_ascii=False)}' for name in _COLUMNS[:-1]
        )
        return f'{{{fields},"payload":{self.payload_json}}}'


class Glance:
    """An open, read-only look at one database. Open it with :func:`glance`."""

    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        self._select = _SELECT if "source" in columns else _SELECT_BEFORE_SOURCE

    def last_seq(self) -> int:
        value = self._scalar("SELECT max(seq) FROM events")
        return int(value) if value is not None else 0

    def query(
        self,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        correlation_id: str | None = None,
        type: str | Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[Row]:
        """Events matching every given filter, in seq order (``descending``: newest first);
        ``type`` is an exact type, a family (``"run.*"``) or a sequence of those."""
        types = type if type is None or isinstance(type, str) else tuple(type)
        query = EventQuery(run_id, session_id, agent_id, correlation_id, types, after_seq, limit, descending)
        clause, params = where(query, None)
        sql = f"{self._select} WHERE {clause} ORDER BY seq {'DESC' if descending else 'ASC'}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Row(*row) for row in self._rows(sql, params)]

    def export_jsonl(
        self,
        write: Callable[[str], object],
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        type: str | Sequence[str] | None = None,
        after_seq: int = 0,
    ) -> int:
        """Write the matching events as JSONL (``EventLog.export_jsonl``'s format), page by
        page; returns the count. A snapshot: events appended meanwhile are not included."""
        types = type if type is None or isinstance(type, str) else tuple(type)
        upto = self.last_seq()
        count, cursor = 0, after_seq
        while True:
            query = EventQuery(run_id, session_id, agent_id, None, types, cursor, _PAGE)
            clause, params = where(query, upto)
            rows = self._rows(f"{self._select} WHERE {clause} ORDER BY seq LIMIT ?", [*params, _PAGE])
            write("".join(Row(*row).to_json() + "\n" for row in rows))
            count += len(rows)
            if len(rows) < _PAGE:
                return count
            cursor = rows[-1][0]

    def ids_starting_with(self, field: str, prefix: str, limit: int = 10) -> list[str]:
        """The distinct values of the id ``field`` (``run_id``, ``session_id``, ``task_id``…)
        that start with ``prefix``, in order, at most ``limit`` (an index range, not a scan)."""
        _check_id_field(field)
        # Every id that starts with the prefix sorts between it and the prefix followed by the
        # highest code point.
        sql = (
            f"SELECT DISTINCT {field} FROM events WHERE {field} >= ? AND {field} < ? "
            f"ORDER BY {field} LIMIT ?"
        )
        return [row[0] for row in self._rows(sql, (prefix, prefix + "\U0010ffff", limit))]

    def ids_containing(self, field: str, part: str, limit: int = 10) -> list[str]:
        """The distinct values of the id ``field`` that contain ``part`` (ids of one runtime
        share their start and differ at their end), in order, at most ``limit``."""
        _check_id_field(field)
        pattern = part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql = (
            f"SELECT DISTINCT {field} FROM events WHERE {field} LIKE ? ESCAPE '\\' "
            f"ORDER BY {field} LIMIT ?"
        )
        return [row[0] for row in self._rows(sql, (f"%{pattern}%", limit))]

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._rows(sql, params)
        return rows[0][0] if rows else None

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreReadError(self.path, str(exc)) from exc


def _check_id_field(field: str) -> None:
    if field not in _ID_COLUMNS:
        raise ValueError(f"{field!r} is not an id field ({', '.join(_ID_COLUMNS)})")


@contextmanager
def glance(path: str | os.PathLike[str]) -> Iterator[Glance]:
    """Open the database at ``path`` read-only; :class:`StoreOpenError` says why it cannot
    be read (no file, an empty one, not SQLite, not a Soma event store). For a
    ``postgresql://`` URL, ``_pg_glance.pg_glance`` gives the same reader."""
    name = os.fspath(path)
    file = Path(name)
    if file.is_dir():
        raise StoreOpenError(name, "it is a directory")
    if not file.is_file():
        raise StoreOpenError(name, "no such file (a read-only open never creates one)")
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreOpenError(name, str(exc)) from exc
    with closing(conn):
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            raise StoreOpenError(name, str(exc)) from exc
        if not tables:
            raise StoreOpenError(name, "it is empty: no Soma runtime has written to it")
        if not {"events", "schema_version"} <= tables:
            raise StoreOpenError(name, f"not a Soma event store (it has tables {sorted(tables)})")
        yield Glance(name, conn)
