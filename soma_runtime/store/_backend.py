"""What the store needs of a database, and which one a ``db`` names.

Two backends implement :class:`LogBackend`: ``sqlite.SqliteLog`` (a file, or ``:memory:``; the
embedded default) and ``postgres.PostgresLog`` (a ``postgresql://`` URL; the ``postgres``
extra). The :class:`EventStore` process, the feed and readers use only this interface, so
everything above the store — group commit, subscriptions, resume, the CLI — is the same on
both.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # light to import: the CLI asks ``is_postgres`` before anything else
    from ._query import EventQuery
    from .events import Event, PreparedEvent

Synchronous = Literal["NORMAL", "FULL"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass
class NodeName:
    """Who a store writes as in a shared log: named once (by the runtime), so a store its
    supervisor restarts goes on as the same node — or does not start, if the node's lease was
    lost meanwhile (another runtime may hold its work by then)."""

    node_id: str
    joined: bool = False
    """Set when the node first registers its lease."""


def new_node_id() -> str:
    """A name for a new node of a shared log: where it runs, and something unique."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class RowConflict(Exception):
    """A batch was refused because a row collides with a stored one (its ``event_id`` or
    ``seq``): nothing of it was written. The store then writes call by call to find it."""


def is_postgres(db: str | os.PathLike[str]) -> bool:
    """Whether ``db`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(db, str) and db.startswith(POSTGRES_SCHEMES)


class SentBatch(Protocol):
    """A batch on its way to the database (``LogBackend.send_events``)."""

    async def committed(self) -> int:
        """Wait until it is committed: its first seq. Raises what ``insert_events`` raises, and
        may be awaited again if the wait was cancelled."""


class LogBackend(Protocol):
    """One open event database: a writer (unless read-only) and readers."""

    path: str
    """What was opened, for messages (a URL's password is never kept here)."""
    readonly: bool
    unreadable: dict[int, str]
    """Stored rows reads had to skip, by seq: what is wrong with each (``_salvage``)."""

    @property
    def shared(self) -> bool:
        """Whether other runtimes may append to the same log (PostgreSQL): then seq is
        assigned by the database, and the feed learns of their commits (``on_commit``)."""

    def on_commit(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(last_seq)`` whenever another runtime commits (a shared log)."""

    async def close(self) -> None: ...

    def abandon(self) -> None:
        """Let go without awaiting, for an owner that was killed."""

    async def stored_by_writer(self, event_id: str) -> int | None:
        """The seq of ``event_id`` if stored, asked after everything the writer queued."""

    async def insert_events(
        self, events: Sequence[PreparedEvent], first_seq: int, rows: str | None = None
    ) -> int:
        """Commit ``events`` as one transaction, all or none, numbered from ``first_seq`` — or,
        in a shared log, from wherever the log is: the seq of the first is returned.
        ``rows`` is the same events as one JSON array of their ``PreparedEvent.row`` texts,
        when the caller has joined them (a backend that takes JSON uses it as it is).
        :class:`RowConflict`, or ``StoreWriteError``."""

    @property
    def sends_ahead(self) -> bool:
        """Whether :meth:`send_events` can be used now (as ``io``'s ``seekable()`` says
        whether ``seek()`` can)."""

    def send_events(self, events: Sequence[PreparedEvent], first_seq: int, rows: str) -> SentBatch:
        """Start committing ``events`` as :meth:`insert_events` would, without waiting. Where
        the writer runs apart from the caller's event loop (a SQLite file's writer process),
        the store sends its next batch this way and answers the last one's callers while it
        is written. Only when :attr:`sends_ahead`; elsewhere the store awaits
        :meth:`insert_events`."""

    async def last_seq(self) -> int: ...

    async def query(
        self, query: EventQuery, *, upto_seq: int | None = None, trusted: bool = False
    ) -> list[Event]: ...

    async def unfinished(self, kind: str, *, upto_seq: int | None = None) -> list[Event]: ...

    async def unfinished_runs(self, types: Sequence[str], *, upto_seq: int | None = None) -> list[Event]: ...

    async def metadata(self) -> dict[str, str]: ...

    async def set_metadata(self, key: str, value: str) -> None: ...

    async def existing_event_ids(self, event_ids: Sequence[str]) -> set[str]: ...


class SharedLog(LogBackend, Protocol):
    """A log several runtimes append to, each a node holding a lease (``postgres``)."""

    node_id: str | None
    lease: float
    recovering: str | None

    async def renew(self) -> bool: ...

    async def claim(self, claimant: str) -> tuple[list[str], int]: ...

    async def adopt(self, claimant: str) -> None: ...
