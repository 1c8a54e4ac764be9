"""``check_database``: is a database whole, and can every event in it be read back?
What ``soma check`` runs (docs/design.md §5c).

Read-only and standard library only (``mode=ro``: safe beside a runtime that appends).
SQLite's full ``integrity_check`` (every page, every index against its table), then the
schema version, then every stored event decoded as the store's readers decode it (its
payload JSON, within the nesting the log accepts: ``_limits``), page by page. Each problem
is named — SQLite's own words for the file, the ``seq`` for an event — so the report says
what to do next, not only that something is wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from . import _file
from ._backend import is_postgres
from ._limits import MAX_PAYLOAD_DEPTH, json_depth
from ._schema import SCHEMA_VERSION
from .errors import StoreError

_PAGE: Final = 2000
_MAX_REPORTED: Final = 100


@dataclass
class CheckReport:
    """What :func:`check_database` found. ``ok`` when nothing."""

    path: str
    integrity: list[str] = field(default_factory=list)
    """SQLite's integrity check's findings (the file's structure); [] when whole."""
    schema_version: int | None = None
    events: int = 0
    """Events read (including the unreadable ones)."""
    unreadable: dict[int, str] = field(default_factory=dict)
    """Events that cannot be read back, by seq (the first hundred)."""
    unreadable_count: int = 0
    problem: str | None = None
    """Why the check could not run at all (not a database, not a Soma one, missing)."""
    server: bool = False
    """A PostgreSQL database: its pages are the server's to check (``pg_amcheck``)."""

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.integrity and not self.unreadable_count

    def lines(self) -> list[str]:
        """The report as text, one finding a line."""
        if self.problem is not None:
            return [f"{self.path}: {self.problem}"]
        out = [f"{self.path}: schema version {self.schema_version}, {self.events} events"]
        if self.integrity:
            out.append(f"CORRUPT: SQLite's integrity check found {len(self.integrity)} problem(s):")
            out.extend(f"  {line}" for line in self.integrity)
            out.append("  restore the database from a backup; this one cannot be trusted")
        elif self.server:
            out.append("integrity: the server's own (pg_amcheck checks its pages and indexes)")
        else:
            out.append("integrity: ok (every page and index is whole)")
        if self.unreadable_count:
            out.append(f"UNREADABLE: {self.unreadable_count} event(s) cannot be read back (reads skip them):")
            out.extend(f"  seq {seq}: {why}" for seq, why in sorted(self.unreadable.items()))
            if self.unreadable_count > len(self.unreadable):
                out.append(f"  … and {self.unreadable_count - len(self.unreadable)} more")
        elif not self.integrity:
            out.append("events: ok (every event reads back)")
        return out


def check_database(path: str | os.PathLike[str]) -> CheckReport:
    """Check the database at ``path`` (see the module docstring); never raises for what it
    finds — the report says it."""
    name = os.fspath(path)
    if is_postgres(name):
        return _check_postgres(name)
    report = CheckReport(name)
    file = Path(name)
    if not file.is_file():
        report.problem = "no such file"
        return report
    uri = file.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        report.problem = f"cannot open it: {exc}"
        return report
    with contextlib.closing(conn):
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            report.problem = f"not a readable SQLite database: {exc}"
            return report
        if "schema_version" not in tables:
            report.problem = f"not a Soma event store (it has tables {sorted(tables)})"
            return report
        report.integrity = _file.problems(_fetch(conn, _file.check_sql(full=True)))
        try:
            rows = conn.execute("SELECT version FROM schema_version").fetchall()
            report.schema_version = int(rows[0][0]) if rows else 0
            _check_events(conn, report)
        except sqlite3.Error as exc:
            report.integrity.append(f"reading the events failed: {exc}")
    if report.schema_version is not None and report.schema_version > SCHEMA_VERSION:
        found = report.schema_version
        report.problem = f"schema version {found} is newer than this Soma's ({SCHEMA_VERSION}): upgrade Soma"
    return report


def _check_postgres(url: str) -> CheckReport:
    """The schema version and every event read back, from a PostgreSQL database."""
    from ._pg_glance import pg_glance

    report = CheckReport(url, server=True)
    try:
        with pg_glance(url) as db:
            rows = db._rows("SELECT version FROM schema_version", ())
            report.schema_version = int(rows[0][0]) if rows else 0
            cursor = 0
            while True:
                page = db._rows(
                    "SELECT seq, payload::text FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                    (cursor, _PAGE),
                )
                for seq, payload in page:
                    report.events += 1
                    problem = _payload_problem("text", payload)
                    if problem is not None:
                        report.unreadable_count += 1
                        if len(report.unreadable) < _MAX_REPORTED:
                            report.unreadable[int(seq)] = problem
                if len(page) < _PAGE:
                    break
                cursor = page[-1][0]
    except StoreError as exc:
        report.problem = str(exc)
    return report


def _fetch(conn: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error as exc:
        return [(str(exc),)]


def _check_events(conn: sqlite3.Connection, report: CheckReport) -> None:
    cursor = 0
    while True:
        rows = conn.execute(
            "SELECT seq, typeof(payload), payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (cursor, _PAGE),
        ).fetchall()
        for seq, kind, payload in rows:
            report.events += 1
            problem = _payload_problem(kind, payload)
            if problem is not None:
                report.unreadable_count += 1
                if len(report.unreadable) < _MAX_REPORTED:
                    report.unreadable[int(seq)] = problem
        if len(rows) < _PAGE:
            return
        cursor = rows[-1][0]


def _payload_problem(kind: str, payload: object) -> str | None:
    if kind != "text" or not isinstance(payload, str):
        return f"its payload is stored as {kind}, not JSON text"
    depth = json_depth(payload)
    if depth > MAX_PAYLOAD_DEPTH:
        return f"its payload is nested {depth} levels deep, over the limit of {MAX_PAYLOAD_DEPTH}"
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        return f"its payload is not JSON: {exc}"
    if not isinstance(value, dict):
        return f"its payload is a JSON {type(value).__name__}, not an object"
    return None
