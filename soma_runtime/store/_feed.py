"""What the store process shares with readers in the same OS process: the feed.

The :class:`EventStore` process owns all writes. Readers — queries and subscriptions — do not
queue behind appends in its mailbox; they read through the feed directly, the way Erlang
processes read a *protected* ETS table owned by a gen_server: one writer, many readers.

The feed holds the committed high-water mark (``last_seq``), a bounded ring of the most
recent committed events and a wake-up signal. A subscriber that keeps up is served from the
ring; one that fell behind the ring catches up from the database, page by page. Nothing
waits on subscribers: the writer publishes and moves on, so a stuck subscriber costs only
its own cursor.

A read-only feed (no writer in this process, e.g. the dashboard reading a runtime's file) has
no ring: subscribers poll the database for a new high-water mark.
"""

from __future__ import annotations

import anyio

from ..kernel import ExitReason, is_orderly
from ._backend import LogBackend
from ._query import EventQuery
from .events import Committed, Event, PreparedEvent, committed_event


class EventFeed:
    def __init__(
        self,
        log: LogBackend,
        last_seq: int,
        *,
        ring_size: int,
        max_payload_bytes: int,
        live: bool,
        poll_interval: float = 0.2,
        source: str = "runtime",
    ) -> None:
        self.log = log
        self.source = source
        """The ``source`` of an event appended through this store without one of its own."""
        self.last_seq = last_seq
        """Highest acknowledged seq: every event up to it is committed, none above is visible."""
        self.max_payload_bytes = max_payload_bytes
        self.live = live
        """True when a writer in this process publishes commits (else: poll the database)."""
        self.poll_interval = poll_interval
        self.closed = False
        self.close_reason: ExitReason | None = None
        self.commits = 0
        """Group commits published (with ``last_seq``: how well appends are batched)."""
        self._ring_size = ring_size
        self._ring: list[Committed] = []  # contiguous; atoms only (see ``Committed``)
        # The envelope of each ring event that a reader asked for, kept for the next reader
        # (ten subscribers share one), None for the rest: an event nobody reads costs the
        # cyclic collector nothing, one that is read costs what its envelope does.
        self._envelopes: list[Event | None] = []
        self._ring_start = last_seq + 1  # seq of _ring[0]; the ring covers [start, last_seq]
        self._wakeup = anyio.Event()

    # -- writer side ----------------------------------------------------------------------

    def publish(self, tail: list[PreparedEvent], last_seq: int) -> None:
        """Record a commit up to ``last_seq``; ``tail`` holds its last events (contiguous).

        ``tail`` may be shorter than the commit (a bulk import publishes only what fits in
        the ring); the ring then restarts at ``tail[0]``.
        """
        if last_seq <= self.last_seq:
            # A shared log: another runtime's later commit was announced first. These rows
            # are below the mark already; readers find them in the table.
            self.commits += 1
            self._wake()
            return
        rows = [prepared.committed() for prepared in tail]
        if rows and rows[0][0] == self.last_seq + 1 and self._ring:
            self._ring.extend(rows)
            self._envelopes.extend([None] * len(rows))
        else:
            self._ring = rows
            self._envelopes = [None] * len(rows)
            self._ring_start = rows[0][0] if rows else last_seq + 1
        self.last_seq = last_seq
        self.commits += 1
        # Trim in amortized O(1): only when the ring has doubled past its size.
        excess = len(self._ring) - self._ring_size
        if excess > self._ring_size:
            del self._ring[:excess]
            del self._envelopes[:excess]
            self._ring_start += excess
        self._wake()

    def advance(self, last_seq: int) -> None:
        """Another runtime committed up to ``last_seq`` (a shared log): readers go to the table."""
        if last_seq > self.last_seq:
            self.resync(last_seq)

    def resync(self, last_seq: int) -> None:
        """The database holds more than we published (a killed predecessor's last commit)."""
        self._ring = []
        self._envelopes = []
        self._ring_start = last_seq + 1
        self.last_seq = last_seq
        self._wake()

    @property
    def closed_orderly(self) -> bool:
        """Closed by a normal stop or shutdown (not a crash or a kill)."""
        return self.close_reason is not None and is_orderly(self.close_reason)

    def close(self, reason: ExitReason) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self._wake()

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, anyio.Event()
        wakeup.set()

    # -- reader side ----------------------------------------------------------------------

    async def wait_beyond(self, seq: int) -> None:
        """Return once an event after ``seq`` is committed, or the feed is closed."""
        while self.last_seq <= seq and not self.closed:
            if self.live:
                await self._wakeup.wait()
            else:
                await anyio.sleep(self.poll_interval)
                self.last_seq = max(self.last_seq, await self.log.last_seq())

    def from_ring(
        self, after_seq: int, limit: int, query: EventQuery | None = None
    ) -> tuple[int, list[Event]] | None:
        """The committed events after ``after_seq``, up to ``limit`` of them read, and the seq
        of the last one read; or None if the ring lacks them. With ``query``, only those it
        matches — filtered before they are made envelopes (most of a follower's events may
        be of no interest to it: building them is most of what following would cost)."""
        if after_seq + 1 < self._ring_start or not self._ring:
            return None
        start = after_seq + 1 - self._ring_start
        ring, envelopes = self._ring, self._envelopes
        end = min(start + limit, len(ring))
        if start >= end:
            return after_seq, []
        events: list[Event] = []
        for index in range(start, end):
            row = ring[index]
            if query is not None and not _matches(query, row):
                continue
            event = envelopes[index]
            if event is None:
                event = envelopes[index] = committed_event(row)
            events.append(event)
        return ring[end - 1][0], events

    def visible_seq(self) -> int | None:
        """Upper bound for queries: the acknowledged mark when a writer shares this process.

        With the shared in-memory connection, rows of a batch still being committed must not
        leak out. A read-only feed has its own connection, which sees only commits: no bound.
        """
        # A shared log has no such connection: whatever is committed, by any runtime, shows.
        return self.last_seq if self.live and not self.log.shared else None

    async def read(self, query: EventQuery, upto_seq: int | None) -> list[Event]:
        return await self.log.query(query, upto_seq=upto_seq)


def _matches(query: EventQuery, row: Committed) -> bool:
    # (seq, event_id, ts, type, source, payload_json, session_id, run_id, step_id,
    #  tool_call_id, agent_id, task_id, correlation_id): ``Committed``
    return query.matches_fields(row[3], row[7], row[6], row[10], row[12])
