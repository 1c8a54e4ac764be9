"""``Subscription``: a cursor that follows the event log (``EventLog.subscribe``).

A subscriber that keeps up is served from the feed's in-memory ring; one that fell behind it
reads pages from the database, bounded by the committed high-water mark, until it is back in
the ring. The cursor only moves past what was delivered (or filtered out), so nothing is
missed or repeated, and nothing the subscriber does can slow the writer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace

from ._feed import EventFeed
from .errors import StoreClosed
from .events import Event
from .sqlite import EventQuery


class Subscription:
    """A cursor over the log: ``async for`` yields every event from ``from_seq`` on, in order.

    ``cursor`` is the last seq consumed (or filtered out): resume later with
    ``subscribe(from_seq=sub.cursor + 1)``. Iteration ends when the store stops in an orderly
    way with no successor; it raises :class:`StoreClosed` if the store died for good.
    """

    def __init__(
        self,
        attach: Callable[[], Awaitable[EventFeed]],
        successor: Callable[[], Awaitable[EventFeed | None]],
        cursor: int,
        query: EventQuery,
        page_size: int,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size!r}")
        self.cursor = cursor
        # How far the log has been read: ahead of ``cursor`` while read events wait in the
        # buffer, so that ``cursor`` only ever names what the consumer has had.
        self._mark = cursor
        self._attach = attach
        self._successor = successor
        self._query = query
        self._filtered = query.has_filters()
        self._page = page_size
        self._buffer: deque[Event] = deque()
        self._feed: EventFeed | None = None
        self._done = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._buffer:
            if self._done:
                raise StopAsyncIteration
            await self._fill()
            if not self._buffer:
                self.cursor = self._mark  # everything read was filtered out
        event = self._buffer.popleft()
        self.cursor = event.seq if self._buffer else self._mark
        return event

    async def next_batch(self, limit: int, *, or_progress: bool = False) -> list[Event]:
        """The next events, in order: at least one (waiting for it, as ``async for`` does), and
        up to ``limit`` with those already read and waiting here — for a follower that hands
        them on a message at a time, not an event at a time. ``StopAsyncIteration`` when the
        iteration would end.

        ``or_progress``: return ``[]`` as soon as the cursor moved past events the filters
        left out, rather than wait for one that matches — for a follower that reports how far
        it has seen the log (``cursor``), which must not stall behind events it ignores."""
        if or_progress:
            while not self._buffer:
                if self._done:
                    raise StopAsyncIteration
                before = self._mark
                await self._fill()
                if not self._buffer and self._mark > before:
                    self.cursor = self._mark  # all filtered out
                    return []
        batch = [await self.__anext__()]
        buffer = self._buffer
        while buffer and len(batch) < limit:
            batch.append(buffer.popleft())
        self.cursor = batch[-1].seq if buffer else self._mark
        return batch

    async def _fill(self) -> None:
        feed = self._feed
        if feed is None:
            feed = self._feed = await self._attach()
        if self._mark >= feed.last_seq:
            if not feed.closed:
                await feed.wait_beyond(self._mark)
                return
            successor = await self._successor()
            if successor is not None:
                self._feed = successor
            elif feed.closed_orderly:
                self._done = True
            else:
                raise StoreClosed(f"the store exited with {feed.close_reason!r}")
            return
        ring = feed.from_ring(self._mark, self._page, self._query if self._filtered else None)
        if ring is not None:
            self._mark, batch = ring
        elif feed.closed and feed.live:
            # Behind the ring and the store's connections are gone: catch up from its
            # successor, or give up.
            successor = await self._successor()
            if successor is None:
                raise StoreClosed("the store closed while this subscriber was behind it")
            self._feed = successor
            return
        else:
            upto = feed.last_seq
            query = replace(self._query, after_seq=self._mark, limit=self._page)
            try:
                batch = await feed.read(query, upto)
            except StoreClosed:
                # The store died while this read was on its connections (they are cut when
                # it is killed): read the same page again from its successor, if any.
                if not feed.closed:
                    raise
                successor = await self._successor()
                if successor is None:
                    raise
                self._feed = successor
                return
            # A short page means nothing else matches up to the high-water mark.
            self._mark = batch[-1].seq if len(batch) == self._page else upto
        self._buffer.extend(batch)
