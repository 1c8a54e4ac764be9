"""Bounded mailboxes with an explicit overflow policy.

Design for the fast path: anyio's memory object streams yield to the loop on every send and
every receive (measured here: 8x slower one-way than a plain queue). A mailbox instead appends
and pops with no await at all, and suspends only when it must: a receiver on an empty
mailbox, or a sender on a full one under the ``block`` policy. Waiters are bare asyncio
futures, created only while someone actually waits.

Signals (``Down``, ``ExitSignal``, timer expiries) bypass the capacity: they are produced by
the kernel, cannot wait, and are bounded by the number of links, monitors and timers a
process holds, so they can never make a mailbox grow without bound.
"""

from __future__ import annotations

import asyncio
import enum
import functools
from collections import deque
from typing import Any

DEFAULT_CAPACITY = 10_000


class Overflow(enum.Enum):
    """What a send does when the mailbox is full."""

    BLOCK = "block"  # the sender waits for room: backpressure (default)
    DROP_NEWEST = "drop_newest"  # the new message is dropped and counted
    FAIL = "fail"  # the sender gets MailboxFull


class Closed(Exception):
    """The mailbox's process has exited; nothing more can be delivered."""


def _wake(putter: asyncio.Future[None], _until: object) -> None:
    if not putter.done():
        putter.set_result(None)


class Mailbox:
    """A FIFO of messages with a capacity and an overflow policy.

    Storage is a list read from a moving head index, not a deque: an empty deque costs
    ~760 bytes, and most processes sit idle with an empty mailbox. The list is cleared
    (freeing its storage) whenever it drains, and compacted when the consumed prefix grows,
    so an idle mailbox costs a bare list object.
    """

    __slots__ = ("_getter", "_head", "_items", "_putters", "capacity", "closed", "dropped", "overflow")

    def __init__(self, capacity: int = DEFAULT_CAPACITY, overflow: Overflow = Overflow.BLOCK):
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"mailbox capacity must be a positive int, got {capacity!r}")
        if not isinstance(overflow, Overflow):
            raise ValueError(f"mailbox overflow must be an Overflow, got {overflow!r}")
        self._items: list[Any] = []
        self._head = 0
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] | None = None
        self.capacity = capacity
        self.overflow = overflow
        self.closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items) - self._head

    def full(self) -> bool:
        return len(self._items) - self._head >= self.capacity

    # -- senders ------------------------------------------------------------------------

    def try_put(self, item: Any) -> bool:
        """Append if there is room; False if full. Never waits, never applies the policy."""
        if self.closed:
            raise Closed
        items = self._items
        if len(items) - self._head >= self.capacity:
            return False
        items.append(item)
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)
        return True

    async def wait_for_room(self, until: asyncio.Future[Any] | None = None) -> None:
        """Suspend until the mailbox has room (or is closed, or ``until`` is done: a call's
        deadline, see ``Pid.call``)."""
        while not self.closed and self.full():
            if until is not None and until.done():
                return
            putter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._putters is None:
                self._putters = deque()
            self._putters.append(putter)
            if until is not None:
                until.add_done_callback(functools.partial(_wake, putter))
            try:
                await putter
            except BaseException:
                # Woken for room but cancelled before using it: pass the wakeup on, or the
                # next blocked sender waits although there is room (a lost wakeup).
                if putter.done() and not putter.cancelled() and not self.full():
                    self._wake_putter()
                raise
            finally:
                if not putter.done():
                    putter.cancel()
                # A woken putter that found the box full again passes its turn on.
                if self._putters and putter in self._putters:
                    self._putters.remove(putter)
        if self.closed:
            raise Closed

    def put_signal(self, item: Any) -> None:
        """Deliver a kernel signal, ignoring capacity (see the module docstring)."""
        if self.closed:
            return
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    # -- the owner ------------------------------------------------------------------------

    def get_nowait(self) -> Any:
        """Pop the oldest message; raises IndexError when empty."""
        items = self._items
        head = self._head
        item = items[head]  # IndexError when empty
        head += 1
        if head == len(items):
            items.clear()
            self._head = 0
        elif head > 64 and head * 2 > len(items):
            del items[:head]
            self._head = 0
        else:
            # The consumed slot lets go of its message now, not at the next compaction: a
            # busy server's mailbox never drains, and its last 64 messages, long handled,
            # stayed alive with all they carried (the store's: ~50 requests of events). The
            # collector promoted them to its oldest generation, whose full collections
            # they then brought on (measured: BENCHMARKS.md, issue 15).
            items[head - 1] = None
            self._head = head
        if self._putters:
            self._wake_putter()
        return item

    def waiter(self) -> asyncio.Future[None]:
        """A future resolved by the next delivery. The owner awaits it in its own frame, so
        an idle process holds no extra coroutine frame for waiting (memory per process)."""
        getter = asyncio.get_running_loop().create_future()
        self._getter = getter
        return getter

    async def wait(self) -> None:
        """Suspend until the mailbox is not empty."""
        while self._head == len(self._items):
            getter = asyncio.get_running_loop().create_future()
            self._getter = getter
            try:
                await getter
            finally:
                self._getter = None

    async def get(self) -> Any:
        if self._head == len(self._items):
            await self.wait()
        return self.get_nowait()

    def _wake_putter(self) -> None:
        putters = self._putters
        while putters:
            putter = putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return

    def close(self) -> list[Any]:
        """Close for good; wake blocked senders (they see Closed); return undelivered messages."""
        self.closed = True
        items, head = self._items, self._head
        left = items[head:] if head else items  # the list itself: nobody appends to it now
        self._items = []
        self._head = 0
        if self._putters:
            for putter in self._putters:
                if not putter.done():
                    putter.set_result(None)
            self._putters = None
        return left
