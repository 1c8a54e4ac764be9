"""``EventLog``: the event store as users see it (``rt.events``), and ``open_event_log``.

Appends are validated, redacted and serialized here, in the caller's task, then sent to the
:class:`EventStore` process, which commits them in groups and acknowledges after the commit.
Queries and subscriptions read through the store's feed directly (see ``_feed``), so
readers never queue behind writers.

A log found by *name* survives a supervisor restart of its store: calls and subscriptions
re-attach to the successor (a subscription continues from its cursor, missing nothing).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio

from ..kernel import (
    NORMAL,
    Node,
    NoProc,
    Pid,
    ProcessDied,
    StartError,
    current_node,
    current_process,
)
from . import _jsonl
from ._backend import LogBackend
from ._batch import prepare_batch, prepare_trusted
from ._feed import EventFeed
from ._jsonl import ImportReport
from ._jsonl import read_jsonl as read_jsonl  # public here; lives with the JSONL codec
from ._open import open_backend
from ._subscription import Subscription
from .errors import (
    EventError,
    JsonlImportError,
    JsonlLineError,
    StoreClosed,
    StoreReadOnly,
)
from .events import DEFAULT_MAX_PAYLOAD_BYTES, CommittedEvents, Event, EventDraft, PreparedEvent
from .server import ATTACH, SYNC, Append, EventStore, EventStoreConfig, SetMetadata
from .sqlite import MEMORY, EventQuery

Server = Pid | str | Callable[[], Pid | None]
EventTypes = str | Sequence[str]


class TextSink(Protocol):
    def write(self, text: str, /) -> object: ...


@dataclass(frozen=True, slots=True)
class LogStats:
    path: str
    last_seq: int
    commits: int
    """Group commits since this store process started (0 for a read-only log)."""
    readonly: bool


class EventLog:
    """Append, query, follow, export and import the event log.

    ``server`` is the store's pid, its registered name (preferred: survives restarts), or a
    function returning its current pid. ``call_timeout`` bounds how long an append waits for
    its acknowledgement (None: forever); a timed-out append may still have been committed.
    """

    def __init__(
        self,
        server: Server | EventFeed,
        *,
        call_timeout: float | None = 30.0,
        reattach_timeout: float = 2.0,
    ) -> None:
        self._server = server
        self._readonly = isinstance(server, EventFeed)
        self._feed: EventFeed | None = server if isinstance(server, EventFeed) else None
        self._pid: Pid | None = None
        self._node: Node | None = None
        self.call_timeout = call_timeout
        self.reattach_timeout = reattach_timeout

    @property
    def readonly(self) -> bool:
        return self._readonly

    async def backend(self) -> LogBackend:
        """The database behind the log (the runtime's own bookkeeping uses it: the leases of a
        shared PostgreSQL log)."""
        return (await self._attach()).log

    # -- writing ----------------------------------------------------------------------------

    async def append(
        self,
        type: str,
        payload: Any = None,
        *,
        session_id: str | None = None,
        run_id: str | None = None,
        step_id: str | None = None,
        tool_call_id: str | None = None,
        agent_id: str | None = None,
        task_id: str | None = None,
        correlation_id: str | None = None,
        source: str | None = None,
    ) -> Event:
        """Append one event; returns it (with its ``seq``) once it is durable.

        ``source`` says who records it (``Event.source``; default: the store's).
        Raises :class:`InvalidEvent` (unknown type, payload mismatch, :class:`PayloadTooLarge`)
        without touching the store, :class:`StoreWriteError` if the commit failed.
        """
        ids = (session_id, run_id, step_id, tool_call_id, agent_id, task_id, correlation_id)
        prepared = (await self._prepare([EventDraft(type, payload, *ids, source)]))[0]
        await self._call(Append([prepared]))
        return prepared.event()

    async def emit(
        self,
        type: str,
        payload: Any = None,
        *,
        session_id: str | None = None,
        run_id: str | None = None,
        step_id: str | None = None,
        tool_call_id: str | None = None,
        agent_id: str | None = None,
        task_id: str | None = None,
        correlation_id: str | None = None,
        source: str | None = None,
    ) -> None:
        """Append one event without waiting for its commit (validated here all the same).

        It joins the store's next group commit in order: once a later :meth:`append` from
        the same process is acknowledged, this event is durable too. This is how a run
        records its steps without paying a commit per event, and still returns its result
        only after everything it recorded is durable.
        """
        ids = (session_id, run_id, step_id, tool_call_id, agent_id, task_id, correlation_id)
        prepared = (await self._prepare([EventDraft(type, payload, *ids, source)]))[0]
        pid = self._pid
        assert pid is not None
        await pid.cast(Append([prepared], want_events=False, sender=_sender()))

    async def sync(self) -> int:
        """Wait until everything sent to the store before this call — emitted events included,
        from any process — is committed; returns the last committed ``seq``."""
        await self._writable()
        pid = self._pid
        assert pid is not None
        try:
            last: int = await pid.call(SYNC, timeout=self.call_timeout)
        except (NoProc, ProcessDied) as exc:
            raise StoreClosed(f"{exc}; the sync did not complete") from exc
        return last

    async def record_trusted(self, drafts: Sequence[EventDraft], *, durable: bool = False) -> None:
        """Append events the runtime built itself — a run's journal, a session's runs —
        atomically, without validating their payloads again (``_batch.prepare_trusted``:
        their builders are typed against the payload models, and what they carry from
        outside was checked where it entered). Redaction, the size cap and the store's
        guarantees are the same as :meth:`append_many`'s. ``durable=False`` does not wait
        for the commit (as :meth:`emit_many`): the run waits once, for its end.

        Not for events built from outside input: those go through :meth:`append`.
        """
        await self.record_prepared(await self.prepare_trusted(drafts), durable=durable)

    async def prepare_trusted(self, drafts: Sequence[EventDraft]) -> list[PreparedEvent]:
        """The first half of :meth:`record_trusted`: the events prepared (and refused, if they
        must be: :class:`PayloadTooLarge`), not yet sent — for a writer that sends them with
        its next batch."""
        feed = await self._writable()
        return prepare_trusted(drafts, max_payload_bytes=feed.max_payload_bytes, source=feed.source)

    async def record_prepared(self, prepared: list[PreparedEvent], *, durable: bool = False) -> None:
        """The second half: send events :meth:`prepare_trusted` prepared, as one batch."""
        if not prepared:
            return
        if durable:
            await self._call(Append(prepared, want_events=False))
            return
        pid = self._pid
        assert pid is not None
        await pid.cast(Append(prepared, want_events=False, sender=_sender()))

    async def emit_many(self, drafts: Iterable[EventDraft]) -> None:
        """Emit several events as one atomic batch, without waiting (see :meth:`emit`)."""
        prepared = await self._prepare(drafts)
        if prepared:
            pid = self._pid
            assert pid is not None
            await pid.cast(Append(prepared, want_events=False, sender=_sender()))

    async def append_many(self, drafts: Iterable[EventDraft]) -> Sequence[Event]:
        """Append several events atomically (one transaction, consecutive seqs); answers
        their envelopes (built as they are read: :class:`~.events.CommittedEvents`)."""
        prepared = await self._prepare(drafts)
        if not prepared:
            return []
        await self._call(Append(prepared))
        return CommittedEvents(prepared)

    async def write_many(self, drafts: Iterable[EventDraft]) -> int:
        """:meth:`append_many` for a bulk writer that does not read the events back: the
        same atomic, durable-on-return batch, answered with its size rather than envelopes."""
        prepared = await self._prepare(drafts)
        if not prepared:
            return 0
        count: int = await self._call(Append(prepared, want_events=False))
        return count

    # -- reading ------------------------------------------------------------------------------

    async def query(
        self,
        *,
        run_id: str | Sequence[str] | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        correlation_id: str | None = None,
        type: EventTypes | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[Event]:
        """Events matching every given filter, in seq order (newest first if ``descending``).

        ``type`` is a type (``"run.failed"``), a family (``"run.*"``) or a list of those;
        ``run_id`` one run or a list of runs (the events of all of them, interleaved by seq).
        """
        q = make_query(run_id, session_id, agent_id, correlation_id, type, after_seq, limit, descending)
        feed = await self._attach()
        return await feed.read(q, feed.visible_seq())

    async def unfinished_runs(self, types: Sequence[str]) -> list[Event]:
        """The events of ``types`` of every run that has begun and not ended, in seq order —
        decoded without being validated again (the store did on their way in): the bulk read
        with which recovery rebuilds the runs a stopped runtime left."""
        feed = await self._attach()
        return await feed.log.unfinished_runs(list(types), upto_seq=feed.visible_seq())

    async def unfinished(self, kind: Literal["run", "session", "task"]) -> list[Event]:
        """The runs, sessions or (actor) tasks that have begun and not ended, oldest first:
        for each, an event that opened it (``run.accepted`` or ``run.started``,
        ``session.started`` or ``session.resumed``, ``actor.task.received``).

        Answered from an index the store keeps as it writes, so it costs what is unfinished,
        not the size of the log. With a live writer, that is what runs now; at open, before
        any, what the previous writer left (resume reads it).
        """
        feed = await self._attach()
        return await feed.log.unfinished(kind, upto_seq=feed.visible_seq())

    async def unreadable(self) -> dict[int, str]:
        """Stored events that reads of this log had to skip, by seq, with what is wrong with
        each: rows no Soma wrote that way (an older version, another program, a damaged
        page). Reads never fail on one; they serve every other event and report it here
        (and to the ``soma.event_store`` logger)."""
        feed = await self._attach()
        return dict(feed.log.unreadable)

    async def metadata(self) -> dict[str, str]:
        """The database's labels: a few strings about the file itself, not events (which
        program created it, for one: ``soma demo`` replaces only a database it made)."""
        feed = await self._attach()
        return await feed.log.metadata()

    async def set_metadata(self, key: str, value: str) -> None:
        """Set the label ``key`` to ``value`` (durable on return)."""
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise TypeError(f"a label is a non-empty str key and a str value, got {key!r}: {value!r:.60}")
        await self._writable()
        pid = self._pid
        assert pid is not None
        try:
            await pid.call(SetMetadata(key, value), timeout=self.call_timeout)
        except (NoProc, ProcessDied) as exc:
            raise StoreClosed(f"{exc}; the label may or may not have been set") from exc

    async def last_seq(self) -> int:
        """The seq of the newest committed event (0 for an empty log)."""
        feed = await self._attach()
        return feed.last_seq if feed.live else await feed.log.last_seq()

    async def stats(self) -> LogStats:
        """Where the log is and how well group commit batches (for status tools and tests)."""
        feed = await self._attach()
        return LogStats(feed.log.path, await self.last_seq(), feed.commits, self._readonly)

    def subscribe(
        self,
        from_seq: int = 0,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        correlation_id: str | None = None,
        type: EventTypes | None = None,
        page_size: int = 1000,
    ) -> Subscription:
        """Follow the log from ``from_seq`` (inclusive) on: history first, then live events.

        ``async for event in log.subscribe(from_seq=0): ...`` — never misses or repeats an
        event, and never slows appends or other subscribers however slowly it is consumed.
        """
        if not isinstance(from_seq, int) or from_seq < 0:
            raise ValueError(f"from_seq must be an int >= 0, got {from_seq!r}")
        q = make_query(run_id, session_id, agent_id, correlation_id, type, 0, None, False)
        return Subscription(self._attach, self._successor, max(from_seq, 1) - 1, q, page_size)

    # -- JSONL --------------------------------------------------------------------------------

    async def export_jsonl(
        self,
        dest: str | os.PathLike[str] | TextSink,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        correlation_id: str | None = None,
        type: EventTypes | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> int:
        """Write the matching events as JSONL (one envelope per line); returns the count.

        The slice is a snapshot: events committed during the export are not included. A path
        is written to a temporary file renamed into place, so it is never left half-written.
        """
        q = make_query(run_id, session_id, agent_id, correlation_id, type, after_seq, None, False)
        feed = await self._attach()
        upto = await self.last_seq()
        if isinstance(dest, str | os.PathLike):
            target = Path(dest)
            temp = target.with_name(target.name + ".partial")
            try:
                # Owner-only, like the database it comes from (docs/design.md §5c).
                await anyio.to_thread.run_sync(_create_private, temp)
                async with await anyio.open_file(temp, "w", encoding="utf-8") as fh:
                    count = await _export_pages(feed, q, upto, limit, fh.write)
                await anyio.Path(temp).replace(target)
            except OSError as exc:
                await anyio.Path(temp).unlink(missing_ok=True)
                if exc.filename is not None and Path(exc.filename) == temp:
                    # The temporary file is ours: the caller named the target. (``type`` is
                    # a parameter of this method, hence ``__class__``.)
                    raise exc.__class__(exc.errno, exc.strerror, os.fspath(target)) from None
                raise
            except BaseException:
                await anyio.Path(temp).unlink(missing_ok=True)
                raise
            return count

        async def write(text: str) -> None:
            dest.write(text)

        return await _export_pages(feed, q, upto, limit, write)

    async def import_jsonl(
        self,
        source: str | os.PathLike[str] | Iterable[str],
        *,
        partial: bool = False,
        skip_existing: bool = False,
    ) -> ImportReport:
        """Append the events of a JSONL file (a path, or an iterable of lines such as a file).

        Nothing is imported if any line is bad (:class:`JsonlImportError` lists the lines and
        what was wrong), unless ``partial=True``: then the good lines are imported and the bad
        ones reported in ``ImportReport.skipped``. Events whose ``event_id`` is already stored
        are errors too, or silently skipped with ``skip_existing=True``. The import itself is
        one transaction.
        """
        feed = await self._writable()
        if isinstance(source, str | os.PathLike):
            name = os.fspath(source)
            text = await anyio.Path(source).read_text(encoding="utf-8")
            lines: Iterable[str] = text.splitlines()
        else:
            name, lines = getattr(source, "name", "<lines>"), source
        parsed = await anyio.to_thread.run_sync(_jsonl.parse, lines, str(name), feed.max_payload_bytes)
        existing = await feed.log.existing_event_ids([p.event_id for p in parsed.events])
        keep = []
        for prepared, line in zip(parsed.events, parsed.lines, strict=True):
            if prepared.event_id not in existing:
                keep.append(prepared)
            elif not skip_existing:
                parsed.errors.append(
                    JsonlLineError(str(name), line, f"event_id {prepared.event_id!r} is already in the store")
                )
        errors = sorted(parsed.errors, key=lambda e: e.line)
        if errors and not partial:
            raise JsonlImportError(str(name), errors)
        count: int = await self._call(Append(keep, want_events=False)) if keep else 0
        return ImportReport(imported=count, skipped=errors)

    # -- plumbing -----------------------------------------------------------------------------

    def _resolve(self) -> Pid | None:
        server = self._server
        if isinstance(server, Pid):
            return server if server.is_alive() else None
        if isinstance(server, str):
            if self._node is None:
                self._node = current_node()
            return self._node.whereis(server)
        if isinstance(server, EventFeed):
            return None
        return server()

    async def _attach(self) -> EventFeed:
        """The live feed of the current store; re-attaches to a successor after a restart.

        After a crash the supervisor restarts the store asynchronously, so a caller arriving
        in between waits up to ``reattach_timeout`` for the successor. After an orderly stop
        there is no waiting: a successor is used only if it is already there.
        """
        feed = self._feed
        if feed is not None and not feed.closed:
            return feed
        if self._readonly:
            raise StoreClosed(f"{feed.log.path!r} was closed" if feed else "read-only log closed")
        grace = 0.0 if feed is None or feed.closed_orderly else self.reattach_timeout
        deadline = anyio.current_time() + grace
        while True:
            pid = self._resolve()
            if pid is not None:
                try:
                    attached = await pid.call(ATTACH, timeout=self.call_timeout)
                except (NoProc, ProcessDied):
                    pass  # died while we asked: look again
                else:
                    assert isinstance(attached, EventFeed)
                    self._pid, self._feed = pid, attached
                    return attached
            if anyio.current_time() >= deadline:
                raise StoreClosed(f"no event store process for {self._server!r}")
            await anyio.sleep(0.01)

    async def _prepare(self, drafts: Iterable[EventDraft]) -> list[PreparedEvent]:
        """Validate, redact and serialize in the caller's task (never in the writer's), a
        batch at a time (``_batch``)."""
        feed = await self._writable()
        cap, default = feed.max_payload_bytes, feed.source
        return prepare_batch(list(drafts), max_payload_bytes=cap, source=default)

    async def _writable(self) -> EventFeed:
        feed = await self._attach()
        if self._readonly:
            raise StoreReadOnly(feed.log.path)
        return feed

    async def _call(self, request: Append) -> Any:
        pid = self._pid
        assert pid is not None
        try:
            return await pid.call(request, timeout=self.call_timeout)
        except NoProc as exc:
            raise StoreClosed(f"{exc}; nothing was appended") from exc
        except ProcessDied as exc:
            raise StoreClosed(f"{exc}; the append may or may not have been committed") from exc

    async def _successor(self) -> EventFeed | None:
        """After the feed a subscription read closed: a restarted store's feed, or None."""
        try:
            return await self._attach()
        except StoreClosed:
            return None


def make_query(
    run_id: str | Sequence[str] | None,
    session_id: str | None,
    agent_id: str | None,
    correlation_id: str | None,
    type: EventTypes | None,
    after_seq: int,
    limit: int | None,
    descending: bool,
) -> EventQuery:
    """Check query arguments (a clear ``ValueError``/``TypeError`` naming the bad one)."""
    runs: str | tuple[str, ...] | None
    if run_id is None or isinstance(run_id, str):
        runs = run_id
    elif isinstance(run_id, Sequence) and all(isinstance(r, str) for r in run_id):
        runs = tuple(run_id)
    else:
        raise TypeError(f"run_id must be a str or a sequence of str, got {run_id!r:.80}")
    for name, value in (
        ("run_id", runs if isinstance(runs, str) else None),
        ("session_id", session_id),
        ("agent_id", agent_id),
        ("correlation_id", correlation_id),
    ):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {value!r}")
    types: str | tuple[str, ...] | None
    if type is None or isinstance(type, str):
        types = type
    else:
        types = tuple(type)
        if not all(isinstance(t, str) for t in types):
            raise TypeError(f"type must be a str or a sequence of str, got {type!r}")
    if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
        raise ValueError(f"after_seq must be an int >= 0, got {after_seq!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    return EventQuery(runs, session_id, agent_id, correlation_id, types, after_seq, limit, bool(descending))


async def _export_pages(
    feed: EventFeed,
    query: EventQuery,
    upto: int,
    limit: int | None,
    write: Callable[[str], Awaitable[Any]],
) -> int:
    written, cursor, page = 0, query.after_seq, 1000
    while limit is None or written < limit:
        size = page if limit is None else min(page, limit - written)
        events = await feed.read(replace(query, after_seq=cursor, limit=size), upto)
        if not events:
            break
        await write(_jsonl.encode(events))
        written += len(events)
        cursor = events[-1].seq
        if len(events) < size:
            break
    return written


@asynccontextmanager
async def open_event_log(
    path: str | os.PathLike[str] = MEMORY,
    *,
    readonly: bool = False,
    config: EventStoreConfig | None = None,
    poll_interval: float = 0.2,
) -> AsyncIterator[EventLog]:
    """Open an event log without a runtime (tools, scripts, the dashboard, tests).

    ``readonly=True`` never writes (the file is opened ``mode=ro``) and is safe while a
    runtime appends to the same file; its subscriptions poll for new commits every
    ``poll_interval`` seconds. Otherwise an :class:`EventStore` process is started (in the
    current kernel node, or a private one) and stopped on exit. ``config`` overrides ``path``.
    """
    if readonly:
        log = await open_backend(path, readonly=True)
        feed = EventFeed(
            log,
            await log.last_seq(),
            ring_size=1,
            max_payload_bytes=DEFAULT_MAX_PAYLOAD_BYTES,
            live=False,
            poll_interval=poll_interval,
        )
        try:
            yield EventLog(feed)
        finally:
            feed.close(NORMAL)
            await log.close()
        return
    cfg = config if config is not None else EventStoreConfig(path=path)
    try:
        node: Node | None = current_node()
    except RuntimeError:
        node = None
    if node is not None:
        async with _running_store(node, cfg) as events:
            yield events
    else:
        async with Node.open() as own, _running_store(own, cfg) as events:
            yield events


@asynccontextmanager
async def _running_store(node: Node, cfg: EventStoreConfig) -> AsyncIterator[EventLog]:
    try:
        pid = await EventStore.start(cfg)
    except StartError as exc:
        # Standalone, there is no supervisor to read the start failure: surface the store's
        # own typed error (StoreOpenError, SchemaVersionError…).
        if isinstance(exc.reason, EventError):
            raise exc.reason from None
        raise
    assert pid is not None
    try:
        yield EventLog(pid)
    finally:
        await node.stop(pid)


def _create_private(path: Path) -> None:
    """Create (or empty) ``path`` readable and writable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    os.close(fd)


def _sender() -> Pid | None:
    proc = current_process()
    return None if proc is None else proc.pid
