"""What the store needs of a database, and which one a ``db`` names.

Two backends implement :class:`LogBackend`: ``sqlite.SqliteLog`` (a file, or ``:memory:``; the
embedded default) and ``postgres.PostgresLog`` (a ``postgresql://`` URL; the ``postgres``
extra). The :class:`EventStore` process, the feed and readers use only this interface, so
everything above the store — group commit, subscriptions, resume, the CLI — is the same on
both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal, Protocol

from ._query import EventQuery
from .events import Event, PreparedEvent

Synchronous = Literal["NORMAL", "FULL"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class RowConflict(Exception):
    """A batch was refused because a row collides with a stored one (its ``event_id`` or
    ``seq``): nothing of it was written. The store then writes call by call to find it."""


def is_postgres(db: str | os.PathLike[str]) -> bool:
    """Whether ``db`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(db, str) and db.startswith(POSTGRES_SCHEMES)


class LogBackend(Protocol):
    """One open event database: a writer (unless read-only) and readers."""

    path: str
    """What was opened, for messages (a URL's password is never kept here)."""
    readonly: bool

    async def close(self) -> None: ...

    def abandon(self) -> None:
        """Let go without awaiting, for an owner that was killed."""

    async def stored_by_writer(self, event_id: str) -> bool: ...

    async def insert_events(self, events: Sequence[PreparedEvent], first_seq: int) -> None:
        """Commit ``events``, their seqs counted from ``first_seq``, as one transaction: all
        or none. :class:`RowConflict`, or ``StoreWriteError``."""

    async def last_seq(self) -> int: ...

    async def query(
        self, query: EventQuery, *, upto_seq: int | None = None, trusted: bool = False
    ) -> list[Event]: ...

    async def unfinished(self, kind: str, *, upto_seq: int | None = None) -> list[Event]: ...

    async def unfinished_runs(self, types: Sequence[str], *, upto_seq: int | None = None) -> list[Event]: ...

    async def metadata(self) -> dict[str, str]: ...

    async def set_metadata(self, key: str, value: str) -> None: ...

    async def existing_event_ids(self, event_ids: Sequence[str]) -> set[str]: ...


async def open_backend(
    db: str | os.PathLike[str],
    *,
    readonly: bool = False,
    synchronous: Synchronous = "NORMAL",
    busy_timeout: float = 5.0,
) -> LogBackend:
    """Open the database ``db`` names: a ``postgresql://`` URL, else a SQLite file."""
    if is_postgres(db):
        from .postgres import PostgresLog  # asyncpg only for those who use it

        return await PostgresLog.open(str(db), readonly=readonly, synchronous=synchronous)
    from .sqlite import SqliteLog

    return await SqliteLog.open(db, readonly=readonly, synchronous=synchronous, busy_timeout=busy_timeout)
