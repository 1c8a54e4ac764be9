"""Small workers and helpers shared by the supervisor conformance tests.

Every worker of one test writes into one :class:`Journal`: each ``init`` (with the pid it
got), each refused or ignored start, and each ``terminate`` (with its reason), in the order
they happened. Tests then check *processes* — pids alive or dead, exit reasons, new pids
versus old — and use the journal only for order ("who was stopped first").

How a child behaves is scripted per child id on the journal, before or during the test:
``journal.script("a", OK, then=FAIL)`` makes the first ``init`` of ``a`` succeed and every
later one raise; ``journal.stubborn.add("b")`` makes ``b``'s ``terminate`` wait until the
test calls ``journal.release()`` — a child that ignores the graceful stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.lowlevel

from soma_runtime.kernel import (
    IGNORE,
    ChildSpec,
    ExitReason,
    GenServer,
    Node,
    Pid,
    Stop,
    VirtualClock,
    current_process,
    settle,
)

OK = "ok"
FAIL = "fail"
IGNORED = "ignore"

T = TypeVar("T")

# A guard against a hang in the kernel turning into a hung test run: all timing in these
# tests is virtual, so no test comes anywhere near this much real time.
REAL_TIME_LIMIT = 10.0


class InitRefused(Exception):
    """What a scripted ``FAIL`` init raises."""


class Crash(Exception):
    """What a worker raises when a test tells it to crash."""


class Journal:
    """What the workers of one test did, in order, and how they are scripted to behave."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Hashable, object]] = []
        self.pids: dict[Hashable, list[Pid]] = {}
        self.stubborn: set[Hashable] = set()
        self._scripts: dict[Hashable, tuple[list[str], str]] = {}
        self._holds: dict[Hashable, anyio.Event] = {}

    # -- scripting -------------------------------------------------------------------------

    def script(self, child_id: Hashable, *outcomes: str, then: str = OK) -> None:
        """The next inits of ``child_id`` follow ``outcomes``; after those, always ``then``."""
        self._scripts[child_id] = (list(outcomes), then)

    def next_outcome(self, child_id: Hashable) -> str:
        script = self._scripts.get(child_id)
        if script is None:
            return OK
        pending, then = script
        return pending.pop(0) if pending else then

    def _hold(self, child_id: Hashable) -> anyio.Event:
        event = self._holds.get(child_id)
        if event is None:
            event = self._holds[child_id] = anyio.Event()
        return event

    def release(self, *child_ids: Hashable) -> None:
        """Let the stubborn ``terminate`` of these children (of all, if none named) finish."""
        for child_id in child_ids or tuple(self.stubborn):
            self._hold(child_id).set()

    async def hold(self, child_id: Hashable) -> None:
        await self._hold(child_id).wait()

    # -- recording -------------------------------------------------------------------------

    def record(self, kind: str, child_id: Hashable, detail: object = None) -> None:
        self.events.append((kind, child_id, detail))
        if kind == "init":
            assert isinstance(detail, Pid)
            self.pids.setdefault(child_id, []).append(detail)

    def of(self, kind: str) -> list[Hashable]:
        """Child ids of every event of ``kind``, in order."""
        return [child_id for k, child_id, _ in self.events if k == kind]

    def lifecycle(self) -> list[tuple[str, Hashable]]:
        """``(kind, child id)`` of every start, failed start and stop, in order."""
        kinds = ("init", "init_failed", "ignored", "terminate")
        return [(k, child_id) for k, child_id, _ in self.events if k in kinds]

    def terminated(self) -> list[tuple[Hashable, object]]:
        """``(child id, reason)`` of every ``terminate`` call for a stop, in order."""
        return [(child_id, reason) for k, child_id, reason in self.events if k == "terminate"]

    def pid(self, child_id: Hashable) -> Pid:
        """The latest pid ``child_id`` started as."""
        return self.pids[child_id][-1]

    def starts(self, child_id: Hashable) -> int:
        return len(self.pids.get(child_id, ()))

    def clear(self) -> None:
        self.events.clear()


class Worker(GenServer):
    """A scripted gen_server child: ``Worker.start_link(journal, child_id, *extra)``."""

    journal: Journal
    child_id: Hashable
    extra: tuple[Any, ...]

    async def init(self, journal: Journal, child_id: Hashable, *extra: Any) -> Any:
        self.journal = journal
        self.child_id = child_id
        self.extra = extra
        # An init that yields to the loop a few times: a start that did not really wait for
        # init to finish would show up as an incomplete journal.
        journal.record("enter", child_id)
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        outcome = journal.next_outcome(child_id)
        if outcome == FAIL:
            journal.record("init_failed", child_id)
            raise InitRefused(f"{child_id} refused to start")
        if outcome == IGNORED:
            journal.record("ignored", child_id)
            return IGNORE
        journal.record("init", child_id, self.pid)
        return None

    async def handle_call(self, request: Any, caller: Any) -> Any:
        match request:
            case "ping":
                return ("pong", self.child_id, self.extra)
            case "unlink_from_parent":
                proc = current_process()
                assert proc is not None and proc.parent is not None
                proc.unlink(proc.parent)
                return proc.parent
            case ("stop", reason):
                raise Stop(reason, reply="ok")
        raise AssertionError(f"unexpected call {request!r}")

    async def handle_cast(self, message: Any) -> None:
        match message:
            case ("exit", reason):
                raise Stop(reason)
            case ("crash", text):
                raise Crash(text)
        raise AssertionError(f"unexpected cast {message!r}")

    async def terminate(self, reason: ExitReason) -> None:
        # A stop (normal, shutdown, killed by a link...) is a "terminate"; a crashed worker's
        # own terminate (OTP runs it after a callback raises) is journalled apart, so that
        # stop orders read the same whether or not the gen_server runs it.
        kind = "crash_terminate" if isinstance(reason, BaseException) else "terminate"
        self.journal.record(kind, self.child_id, reason)
        if self.child_id in self.journal.stubborn:
            # Ignores the graceful stop: only a kill (or the test's release) ends it.
            await self.journal.hold(self.child_id)


def worker(journal: Journal, child_id: Hashable, *extra: Any, **spec: Any) -> ChildSpec:
    """A ChildSpec for a :class:`Worker` with id ``child_id``."""
    return ChildSpec(child_id, Worker.start_link, (journal, child_id, *extra), **spec)


# -- driving children -------------------------------------------------------------------------


async def crash(pid: Pid, text: str = "boom") -> None:
    """Make the worker raise ``Crash(text)`` (an error exit) and let the system react."""
    await pid.cast(("crash", text))
    await settle()


async def exit_with(pid: Pid, reason: ExitReason) -> None:
    """Make the worker stop itself with ``reason`` (``terminate`` runs) and let the system react."""
    await pid.cast(("exit", reason))
    await settle()


def exit_order(pids: list[Pid]) -> list[Pid]:
    """A list that fills with ``pids`` in the order they exit (through kernel watchers)."""
    order: list[Pid] = []
    for pid in pids:
        pid.process.watch(lambda p, _reason: order.append(p))
    return order


@asynccontextmanager
async def open_node() -> AsyncIterator[tuple[Node, VirtualClock]]:
    """A node on virtual time (``async with open_node() as (node, clock):``)."""
    clock = VirtualClock()
    with anyio.fail_after(REAL_TIME_LIMIT):
        async with Node.open(clock) as node:
            try:
                yield node, clock
            except BaseException:
                # A failed test can leave a stubborn child behind, and closing the node waits
                # for it on virtual time that no longer moves (the close is shielded): kill
                # everything, so the failure is reported instead of hanging the run.
                for proc in node.processes():
                    proc.kill()
                raise


@asynccontextmanager
async def in_background(
    work: Callable[[], Coroutine[Any, Any, T]],
) -> AsyncIterator[asyncio.Task[T]]:
    """Run ``work()`` as a task while the block drives the clock; awaited when the block ends."""
    task = asyncio.get_running_loop().create_task(work())
    try:
        await settle()
        yield task
        await task
    finally:
        if not task.done():
            task.cancel()
