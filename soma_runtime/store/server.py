"""``EventStore``: the one process that writes the event log, with group commit.

Appends arrive as calls. The store buffers them without replying (``NOREPLY``) and arms a
zero inactivity timeout, so it keeps draining its mailbox; when the mailbox is empty — or the
buffer reaches ``max_batch`` events — it writes the whole buffer with one ``executemany`` in
one transaction, then replies to every caller. A burst of N appends therefore costs one commit,
not N (measured here: 4.6k commits/s one by one, ~200k events/s batched). An append is
acknowledged only after its transaction committed, and ``seq`` is assigned here, by the only
writer, so it is gap-free and monotonic.

Bad input never reaches this process: the ``EventLog`` facade validates, redacts and
serializes in the caller's task. A failed commit fails only the callers of that batch (with
:class:`StoreWriteError`) and the store keeps serving; a duplicate ``event_id`` fails only the
call that carried it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any, Final

import anyio

from ..kernel import NOREPLY, TIMEOUT, Caller, ExitReason, GenServer, Pid, current_node
from ._backend import NodeName, RowConflict, SentBatch, SharedLog, Synchronous
from ._feed import EventFeed
from ._open import open_backend
from ._schema import ORPHAN_OUTCOME
from .errors import BadRequest, DuplicateEvent, LeaseLost, OrphanOutcome, StoreWriteError
from .events import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_SOURCE, SOURCES, PreparedEvent
from .sqlite import MEMORY

log = logging.getLogger("soma.event_store")

EMIT_LINGER = 0.005
"""Seconds an emitted (unacknowledged) event may wait to share a commit. An acknowledged
append flushes everything pending, emitted events included, as soon as the mailbox drains."""

SPLIT_REPLIES_AT: Final = 8
"""A committed batch with this many requests, and nothing sent after it, is answered in two
halves a turn of the event loop apart (``EventStore._publish``)."""


@dataclass(frozen=True, slots=True)
class EventStoreConfig:
    """Settings of an :class:`EventStore`.

    ``path`` is a file (created with its schema if missing; its directory must exist) or
    ``":memory:"``. ``name`` registers the store process under that name, so an ``EventLog``
    can find it again after a supervisor restarted it. ``max_batch`` caps the events of one
    group commit (one caller's ``append_many`` is never split). ``ring_size`` recent events
    are kept in memory for live subscribers. ``max_payload_bytes`` caps one event's JSON
    payload (default 1 MiB).
    """

    path: str | os.PathLike[str] = MEMORY
    name: str | None = None
    synchronous: Synchronous = "NORMAL"
    busy_timeout: float = 5.0
    max_batch: int = 1000
    ring_size: int = 10_000
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    node: NodeName | None = None
    """In a shared log (PostgreSQL): the node this store writes as (a new one if None)."""
    source: str = DEFAULT_SOURCE
    """The ``source`` of the events appended without one of their own (``Runtime.open(source=)``:
    ``"test"`` for a test's runtime, so reports can leave its events out)."""

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"EventStoreConfig.source must be one of {SOURCES}, got {self.source!r}")
        for field in ("max_batch", "ring_size", "max_payload_bytes"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"EventStoreConfig.{field} must be a positive int, got {value!r}")
        if not self.busy_timeout >= 0:
            raise ValueError(f"EventStoreConfig.busy_timeout must be >= 0, got {self.busy_timeout!r}")

    @classmethod
    def coerce(cls, config: EventStoreConfig | str | os.PathLike[str]) -> EventStoreConfig:
        return config if isinstance(config, EventStoreConfig) else cls(path=config)


class Append:
    """Request: commit these prepared events atomically.

    The reply is the same ``PreparedEvent`` list with ``seq`` assigned (``want_events``), or
    just their count (bulk imports, whose caller needs no envelopes).
    """

    __slots__ = ("events", "rows", "sender", "want_events")

    def __init__(
        self, events: list[PreparedEvent], want_events: bool = True, sender: Pid | None = None
    ) -> None:
        self.events = events
        self.want_events = want_events
        self.sender = sender  # who emitted it (casts only): see _Unacknowledged
        # Checked and joined here, in the producer's task: the writer looks at one flag and
        # joins one text per request, never one per event. (Only the facade builds these;
        # anything else is a caller's bug, which the store refuses: ``_accept``.)
        well_formed = type(events) is list and all(type(p) is PreparedEvent for p in events)
        self.rows: str | None = ",".join([p.row for p in events]) if well_formed else None

    def __repr__(self) -> str:
        return f"Append({len(self.events)} events)"


@dataclass(frozen=True, slots=True)
class SetMetadata:
    """Request: set the database label ``key`` to ``value`` (``EventLog.set_metadata``)."""

    key: str
    value: str


SYNC: Final = "event_store.sync"
"""Request: commit everything accepted so far (emitted events included); reply the last seq."""

ATTACH: Final = "event_store.attach"
"""Request: the store's :class:`EventFeed` (for readers in this OS process)."""


class _Unacknowledged:
    """The "caller" of an emitted (cast) append, which nobody waits for.

    An emitted event that fails to commit must not be forgotten: the failure is logged, and
    the sender's next *acknowledged* append fails with it. So "my acknowledged append
    succeeded" keeps meaning "everything I emitted before it is durable too".
    """

    __slots__ = ("sender", "store")

    def __init__(self, store: EventStore, sender: Pid | None) -> None:
        self.store = store
        self.sender = sender

    def reply(self, value: Any) -> None:
        pass

    def fail(self, exc: BaseException) -> None:
        log.error("an emitted event from %s could not be stored: %s", self.sender, exc)
        if self.sender is not None:
            self.store._lost_emits.setdefault(self.sender, exc)


_Pending = list[tuple[Caller | _Unacknowledged, Append]]


class EventStore(GenServer):
    """The event log's single writer. Start it with ``EventStore.start_link(config)``."""

    async def init(self, config: EventStoreConfig | str | os.PathLike[str] = MEMORY) -> None:
        cfg = EventStoreConfig.coerce(config)
        self._config = cfg
        self._log = await open_backend(
            cfg.path, synchronous=cfg.synchronous, busy_timeout=cfg.busy_timeout, node=cfg.node
        )
        try:
            last_seq = await self._log.last_seq()
            if cfg.name is not None:
                current_node().register(cfg.name, self.pid)
        except BaseException:
            await self._log.close()
            raise
        self._feed = EventFeed(
            self._log,
            last_seq,
            ring_size=cfg.ring_size,
            max_payload_bytes=cfg.max_payload_bytes,
            live=True,
            source=cfg.source,
        )
        if self._log.shared:
            # Other runtimes append too: their commits move the mark (their rows are read from
            # the table; the ring holds only what this one wrote). And this store's lease must
            # be renewed as long as it writes: by a process linked to it, so a lost lease
            # ends the store.
            self._log.on_commit(self._feed.advance)
            current_node().spawn(_keep_lease, self._log, link=True, name=None)
        self._pending: _Pending = []
        self._pending_count = 0
        self._acked_pending = False  # does a caller wait for the pending batch?
        self._lost_emits: dict[Pid, BaseException] = {}  # see _Unacknowledged
        self._first_pending_at = 0.0
        self._clock = current_node().clock
        self._inflight: _Pending | None = None  # the batch being written, while awaited
        # The batch sent to a writer process, not yet committed (``_flush``), and its events.
        self._sending: tuple[_Pending, list[PreparedEvent], SentBatch] | None = None
        self._closed = False
        # Runs however this process ends — even killed, when no callback of ours runs: wake
        # subscribers (they re-attach to a successor or finish) and free the connections.
        self.pid.process.watch(self._on_exit)

    # -- callbacks --------------------------------------------------------------------------

    async def handle_call(self, request: Any, caller: Caller) -> Any:
        if type(request) is Append:
            return await self._accept(caller, request)
        if request == ATTACH:
            self._rearm()
            return self._feed
        if request == SYNC:
            # Mailbox order: every append sent before this request is pending by now.
            await self._drain()
            return self._feed.last_seq
        if type(request) is SetMetadata:
            try:
                await self._log.set_metadata(request.key, request.value)
            except StoreWriteError as exc:
                caller.fail(exc)  # the caller's failure, not the log's
            else:
                caller.reply(None)
            self._rearm()
            return NOREPLY
        # A stray request fails its caller only; it is no reason to crash the log.
        caller.fail(BadRequest(request))
        self._rearm()
        return NOREPLY

    async def handle_cast(self, message: Any) -> None:
        # ``EventLog.emit``: an append nobody waits for. It joins the same group commit, in
        # mailbox order, so a later acknowledged append from the same sender implies it is
        # durable too; a failure to commit it is logged, since there is no caller to tell.
        if type(message) is Append:
            await self._accept(_Unacknowledged(self, message.sender), message)
        else:
            self._rearm()  # ignore noise rather than crash on it

    async def _accept(self, caller: Caller | _Unacknowledged, request: Append) -> Any:
        if self._lost_emits and type(caller) is Caller:
            lost = self._lost_emits.pop(caller.sender, None) if caller.sender is not None else None
            if lost is not None:
                caller.fail(
                    StoreWriteError(
                        str(self._config.path), f"an earlier emitted event was not stored: {lost}"
                    )
                )
                self._rearm()
                return NOREPLY
        if request.rows is None:
            # Only the facade builds these; anything else is a caller's bug, not ours.
            caller.fail(BadRequest(request))
            self._rearm()
            return NOREPLY
        if not request.events:
            self._rearm()
            return request.events if request.want_events else 0
        if not self._pending:
            self._first_pending_at = self._clock.now()
        self._pending.append((caller, request))
        self._pending_count += len(request.events)
        if type(caller) is not _Unacknowledged:
            self._acked_pending = True
        if self._pending_count >= self._config.max_batch:
            await self._flush()
        self._rearm()  # what the flush sent ahead is answered at the next
        return NOREPLY

    async def handle_info(self, message: Any) -> None:
        if message is TIMEOUT:
            await self._flush()
        self._rearm()

    async def terminate(self, reason: ExitReason) -> None:
        # A graceful stop commits what was accepted: the batch whose write was interrupted
        # (settled first) and everything still buffered.
        inflight, self._inflight = self._inflight, None
        sending, self._sending = self._sending, None
        try:
            if inflight:
                await self._settle(inflight)
            if sending:
                # Sent and interrupted while waiting: the writer answers it still, in order.
                await self._commit_sent(sending)
            await self._drain()
        finally:
            self._closed = True
            self._feed.close(reason)
            await self._log.close()

    # -- group commit -------------------------------------------------------------------------

    def _rearm(self) -> None:
        # The inactivity timeout is consumed by every message; keep it armed while appends
        # are buffered or being written, whatever kind of message interleaves with them.
        if self._sending is not None or self._acked_pending:
            self.set_timeout(0)  # someone waits: flush once the mailbox is drained (group commit)
            return
        if not self._pending:
            return
        # Only emitted events: nobody waits, so let them linger and share a commit with what
        # follows — a run streaming steps would otherwise pay a commit per event.
        waited = self._clock.now() - self._first_pending_at
        self.set_timeout(max(0.0, EMIT_LINGER - waited))

    async def _flush(self) -> None:
        """Write what is pending.

        Where the writer is a process of its own (``LogBackend.send_events``), a flush first
        waits for the batch sent by the last one, then sends what is pending *before*
        answering that batch's callers: the writer commits the next batch while this process
        publishes, replies and gathers the one after, and the callers prepare their next
        appends. Only one batch is ever in the writer's hands, and the next is sent only once
        it committed, so seqs are assigned knowing every earlier batch's fate (a refused one
        leaves no gap) and a sender's events commit in the order it sent them.
        """
        sending = self._sending
        if sending is not None and await self._commit_sent(sending):
            return
        if not self._send(self._feed.last_seq + 1) and self._pending:
            batch = self._take()
            self._inflight = batch
            await self._write(batch, _events(batch))
            self._inflight = None

    async def _commit_sent(self, sending: tuple[_Pending, list[PreparedEvent], SentBatch]) -> bool:
        """Wait for the batch sent to commit; then send what is pending and answer the sent
        batch's callers. False if it was refused (its callers are answered, ``_refused``)."""
        batch, events, sent = sending
        try:
            first = await sent.committed()
        except (RowConflict, StoreWriteError) as exc:
            self._sending = None
            await self._refused(batch, exc)
            return False
        self._sending = None
        self._send(first + len(events))
        self._publish(batch, first, events)
        return True

    async def _drain(self) -> None:
        """Flush until everything accepted is committed (or refused)."""
        while self._pending or self._sending is not None:
            await self._flush()

    def _take(self) -> _Pending:
        batch, self._pending, self._pending_count = self._pending, [], 0
        self._acked_pending = False
        return batch

    def _send(self, first_seq: int) -> bool:
        """Send what is pending to a writer process, numbered from ``first_seq``, without
        waiting; False if the backend cannot (nothing is taken then)."""
        if not self._pending or not self._log.sends_ahead:
            return False
        batch = self._take()
        events = _events(batch)
        self._sending = (batch, events, self._log.send_events(events, first_seq, _rows(batch)))
        return True

    async def _write(self, batch: _Pending, events: list[PreparedEvent]) -> None:
        try:
            first = await self._log.insert_events(events, self._feed.last_seq + 1, _rows(batch))
        except (RowConflict, StoreWriteError) as exc:
            await self._refused(batch, exc)
            return
        self._publish(batch, first, events)

    async def _refused(self, batch: _Pending, exc: RowConflict | StoreWriteError) -> None:
        """A batch was not committed: find the culprit, or fail every caller of it."""
        if isinstance(exc, RowConflict) or (len(batch) > 1 and not exc.busy):
            # A row collides with a stored one — or the database refused the statement itself
            # (not a lock held elsewhere): one request may be the cause, so commit call by
            # call to fail only it.
            await self._write_each(batch)
            return
        for caller, _request in batch:
            caller.fail(StoreWriteError(exc.path, exc.problem, busy=exc.busy))

    async def _settle(self, batch: _Pending) -> None:
        """Finish a batch whose write was interrupted: it committed whole, or not at all."""
        first_id = batch[0][1].events[0].event_id
        # Asked on the writer's own connection, so the answer comes after the interrupted
        # statement has finished (the connection runs its statements in order).
        seq = await self._log.stored_by_writer(first_id)
        if seq is not None:
            self._publish(batch, seq, _events(batch))
        else:
            await self._write(batch, _events(batch))

    async def _write_each(self, batch: _Pending) -> None:
        """A batch was refused (e.g. a duplicate event_id): commit call by call, failing only
        the culprit."""
        # A predecessor killed mid-commit may have landed rows we never published; seqs
        # must continue after them.
        stored = await self._log.last_seq()
        if stored > self._feed.last_seq:
            self._feed.resync(stored)
        for caller, request in batch:
            try:
                first = await self._log.insert_events(request.events, self._feed.last_seq + 1)
            except RowConflict as exc:
                if ORPHAN_OUTCOME in str(exc):  # the schema's trigger (``_schema``, 2 -> 3)
                    caller.fail(OrphanOutcome(str(exc)))
                else:
                    caller.fail(DuplicateEvent(await self._duplicate_of(request)))
                continue
            except StoreWriteError as exc:
                caller.fail(exc)
                continue
            self._publish([(caller, request)], first, request.events)

    async def _duplicate_of(self, request: Append) -> str:
        ids = [p.event_id for p in request.events]
        existing = await self._log.existing_event_ids(ids)
        seen: set[str] = set()
        for event_id in ids:
            if event_id in existing or event_id in seen:
                return event_id
            seen.add(event_id)
        return ids[0]

    def _publish(self, batch: _Pending, first: int, events: list[PreparedEvent]) -> None:
        """Committed: stamp the seqs, publish to the feed, then acknowledge.

        Only bookkeeping happens here; envelopes are built lazily by whoever reads them
        (``PreparedEvent.event``), so the writer is free for the next batch sooner.
        """
        for seq, prepared in enumerate(events, first):
            prepared.seq = seq
        last = first + len(events) - 1
        keep = self._config.ring_size
        tail = events if len(events) <= keep else events[-keep:]
        # Publish before replying: a caller that queries right after its ack must see its
        # own events (queries are bounded by the feed's high-water mark).
        self._feed.publish(tail, last)
        if self._sending is None and len(batch) >= SPLIT_REPLIES_AT and self._log.sends_ahead:
            # Nothing was sent ahead: every appender is waiting on this batch, and answered at
            # once they would all run before this process next reads its mailbox — a convoy:
            # the writer idles while the loop serves them all, then the loop idles while the
            # writer commits what they sent. Answering the second half one turn of the loop
            # later lets this process send the first half's next appends first, so the writer
            # commits them while the loop serves the rest; the two halves then take turns
            # (measured: BENCHMARKS.md, issue 15). That turn is a callback, not a message:
            # it runs before this process does again, so nothing can come between.
            half = len(batch) // 2
            _reply(batch[:half])  # first: their wake-ups are queued ahead of the callback's
            asyncio.get_running_loop().call_soon(_reply, batch[half:])
            return
        _reply(batch)

    def _on_exit(self, _pid: Pid, reason: ExitReason) -> None:
        if not self._closed:
            self._closed = True
            self._feed.close(reason)
            self._log.abandon()


async def _keep_lease(_process: Any, log: SharedLog) -> None:
    """Renew a shared log's lease every third of it; exit with :class:`LeaseLost` (ending the
    store it is linked to) the moment it was lost."""
    while True:
        await anyio.sleep(log.lease / 3)
        if not await log.renew():
            raise LeaseLost(log.path, log.node_id)


def _reply(batch: _Pending) -> None:
    """Acknowledge a committed batch's requests."""
    for caller, request in batch:
        caller.reply(request.events if request.want_events else len(request.events))


def _rows(batch: _Pending) -> str:
    """The batch's rows as one JSON array (``Append.rows``: each request's, joined)."""
    return "[" + ",".join([request.rows for _caller, request in batch if request.rows]) + "]"


def _events(batch: _Pending) -> list[PreparedEvent]:
    """The batch's events in arrival order (the order their seqs are assigned in)."""
    if len(batch) == 1:
        return batch[0][1].events
    return [prepared for _caller, request in batch for prepared in request.events]
