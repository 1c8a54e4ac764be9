"""Typed errors of the event layer (envelope, store, JSONL).

Every error names what was wrong — the event type, the field, the file and line, the path —
so a caller can act on it without parsing a message.
"""

from __future__ import annotations

import os


class EventError(Exception):
    """Base class of every error the event layer raises."""


# --------------------------------------------------------------------------- envelope


class InvalidEvent(EventError, ValueError):
    """An event was rejected before it reached the store.

    ``event_type`` is the offending type (as given), ``problem`` says what was wrong with it.
    """

    def __init__(self, event_type: object, problem: str) -> None:
        super().__init__(f"invalid event {event_type!r}: {problem}")
        self.event_type = event_type
        self.problem = problem


class UnknownEventType(InvalidEvent):
    """The event type is not registered (see ``register_event_type``)."""

    def __init__(self, event_type: object) -> None:
        super().__init__(event_type, "unknown event type (register it with register_event_type first)")


class PayloadTooLarge(InvalidEvent):
    """The serialized payload exceeds the store's cap (``max_payload_bytes``)."""

    def __init__(self, event_type: str, size: int, limit: int) -> None:
        super().__init__(event_type, f"payload is {size} bytes of JSON, over the cap of {limit} bytes")
        self.size = size
        self.limit = limit


class EventTypeConflict(EventError, ValueError):
    """A type name is already registered with a different payload model."""

    def __init__(self, name: str, existing: type, new: type) -> None:
        super().__init__(
            f"event type {name!r} is already registered with {existing.__qualname__}; "
            f"refusing {new.__qualname__} (pass replace=True to override)"
        )
        self.name = name


# --------------------------------------------------------------------------- store


class StoreError(EventError):
    """Base class of the errors of the event store itself."""


class StoreOpenError(StoreError):
    """The database could not be opened (missing directory, permissions, not a database…)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"cannot open event store {path!r}: {problem}")
        self.path = path
        self.problem = problem


class LeaseLost(StoreOpenError):
    """A runtime's lease on a shared (PostgreSQL) log expired before it was renewed: another
    runtime may have taken over its work, so it may write no more, and must not start again
    as the same node."""

    def __init__(self, path: str, node_id: str | None) -> None:
        super().__init__(path, f"this runtime (node {node_id}) lost its lease: its work may have moved on")
        self.node_id = node_id


class StoreLocked(StoreOpenError):
    """Another writer holds the database: a file has at most one runtime writing it.

    ``pid`` is the holder's OS process id as it recorded it (None if it could not be read).
    Read-only opens (``soma status``, ``trace``, the dashboard) are never refused this way.
    """

    def __init__(self, path: str, pid: int | None) -> None:
        if pid is None:
            holder = "another process (its pid could not be read)"
        elif pid == os.getpid():
            holder = f"this process (pid {pid}): close the other runtime or log on it first"
        else:
            holder = f"another Soma process, pid {pid}"
        super().__init__(path, f"it is already open for writing by {holder}; open it read-only to read it")
        self.pid = pid


class StoreCorrupt(StoreOpenError):
    """The database file is damaged: SQLite's integrity check failed, or a read hit a
    malformed page. It is refused rather than served as partial results.

    Raised at open (checked after an unclean shutdown, and whenever the file is small
    enough for the check to be cheap) and by a read that finds damage; ``soma check`` runs
    the full check and reports every problem. ``problems`` lists what SQLite found.
    """

    def __init__(self, path: str, problem: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(
            path,
            f"the database is corrupt ({problem}); run `soma check --db {path}` for a full report, and "
            "restore it from a backup",
        )
        self.problems = problems or (problem,)


class SchemaVersionError(StoreError):
    """The database's schema version is not one this code can use.

    Raised for a database written by a *newer* Soma (never downgraded silently), or for an
    older one opened read-only (migrations need a writer).
    """

    def __init__(self, path: str, found: int, supported: int, problem: str) -> None:
        super().__init__(
            f"event store {path!r} has schema version {found}, this code supports {supported}: {problem}"
        )
        self.path = path
        self.found = found
        self.supported = supported


class StoreWriteError(StoreError):
    """A batch could not be committed; nothing of it was stored. The store keeps serving.

    ``busy`` is true when another connection held the database lock past ``busy_timeout``
    (worth retrying later); otherwise the database refused the write itself.
    """

    def __init__(self, path: str, problem: str, *, busy: bool = False) -> None:
        super().__init__(f"event store {path!r} could not commit: {problem}")
        self.path = path
        self.problem = problem
        self.busy = busy


class WriterProcessLost(StoreError):
    """A file log's writer process (``_writer_process``) is gone — killed, or out of memory.
    Not a refused write the store can serve on after: it crashes with this reason and its
    supervisor starts it again, with a new writer. An append in flight then may or may not
    have been committed (the log reads back which)."""

    def __init__(self, path: str, status: str) -> None:
        super().__init__(f"event store {path!r} lost its writer process ({status})")
        self.path = path
        self.status = status


class StoreReadError(StoreError):
    """A query could not be answered (the database failed underneath it)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"event store {path!r} could not be read: {problem}")
        self.path = path
        self.problem = problem


class DuplicateEvent(StoreError):
    """An event with this ``event_id`` is already in the store."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id!r} is already in the store")
        self.event_id = event_id


class OrphanOutcome(StoreError, ValueError):
    """A ``guidance.outcome`` whose ``guidance.fired`` is not in the log: the database refuses
    it (a trigger of the schema), so nothing was appended."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"refused: {problem}")
        self.problem = problem


class StoreReadOnly(StoreError):
    """An append was attempted on a log opened read-only."""

    def __init__(self, path: str) -> None:
        super().__init__(f"event store {path!r} is open read-only; appends are refused")
        self.path = path


class StoreClosed(StoreError):
    """The store is gone (stopped or crashed) and no replacement is running."""

    def __init__(self, what: str) -> None:
        super().__init__(f"event store is closed: {what}")


class BadRequest(StoreError, TypeError):
    """The store process received a request it does not understand (only that caller fails)."""

    def __init__(self, request: object) -> None:
        super().__init__(f"event store does not understand request {request!r:.200}")
        self.request = request


# --------------------------------------------------------------------------- JSONL


class JsonlLineError(EventError, ValueError):
    """One line of a JSONL file is not a valid event envelope."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source}:{line}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


class JsonlImportError(EventError, ValueError):
    """An import was refused; ``errors`` lists every bad line found (first ones, capped)."""

    def __init__(self, source: str, errors: list[JsonlLineError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more bad lines)" if len(errors) > 1 else ""
        super().__init__(f"nothing imported from {source}: line {first.line}: {first.problem}{more}")
        self.source = source
        self.errors = errors
        self.line = first.line
