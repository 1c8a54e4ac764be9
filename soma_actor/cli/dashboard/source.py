"""Where the dashboard's data comes from: the event database, and the control socket if any.

The database is opened read-only (``open_event_log(path, readonly=True)``): the dashboard can
sit beside a runtime that keeps writing to it, or look at a database no runtime serves any
more. Each poll reads only the events after the last one it saw (``after_seq``), a bounded
number of pages at a time; at start it reads only the newest :data:`BACKFILL` events, so
opening a long log costs the same as opening a short one.

With a control socket (``ControlClient``) the source also asks the runtime for its live runs
(where each one is right now) and its supervision tree (queue depths), and can cancel a run.
When the runtime goes away the dashboard keeps showing the database and tries to reconnect
every :data:`RECONNECT_EVERY` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Final, TypeVar

import anyio

from soma_runtime import Event, EventLog, open_event_log
from soma_runtime.control import ControlClient, ControlError, NoRuntimeListening
from soma_runtime.control.protocol import ProcessView, RunResultView, RunView, SessionView

from .state import DashboardState

BACKFILL: Final = 5000
"""Events read at start: the newest ones, enough for recent runs, vitals and the tail."""
PAGE: Final = 1000
MAX_PAGES_PER_POLL: Final = 10
RECONNECT_EVERY: Final = 2.0
CONTROL_TIMEOUT: Final = 5.0

T = TypeVar("T")


class DashboardError(Exception):
    """The dashboard cannot start: what to give it, or what is wrong with what it was given."""


@dataclass
class Poll:
    """What one poll found."""

    events: list[Event] = field(default_factory=list)
    """New events, in seq order (already folded into the state)."""


class DashboardSource:
    """The state the dashboard draws, and the operations it performs.

    Open with :meth:`open`; call :meth:`poll` on an interval.
    """

    def __init__(
        self,
        events: EventLog,
        db: str,
        control: str | None,
        client: ControlClient | None = None,
        client_stack: AsyncExitStack | None = None,
    ) -> None:
        self.events = events
        self.db = db
        self.control = control
        self.state = DashboardState()
        self.tree: list[ProcessView] | None = None
        self.live_runs: list[RunView] = []
        self.sessions: list[SessionView] = []
        self.control_problem: str | None = None
        """Why the control socket does not answer (None while it does, or without one)."""
        self._client = client
        self._client_stack = client_stack if client_stack is not None else AsyncExitStack()
        """Holds the current connection. Unwound when the connection is lost (and used again
        for the next one), and when the source closes."""
        self._next_reconnect = 0.0

    @classmethod
    @asynccontextmanager
    async def open(cls, db: str | None, control: str | None) -> AsyncIterator[DashboardSource]:
        """Open the database read-only and connect to the control socket, if one is given.

        Without ``db`` the database is the one the runtime on ``control`` writes to. Raises
        :class:`DashboardError`, ``NoRuntimeListening`` or the store's ``StoreOpenError``
        with a message fit for one line.
        """
        async with AsyncExitStack() as stack:
            client_stack = AsyncExitStack()
            stack.push_async_callback(client_stack.aclose)  # whichever connection is current
            client: ControlClient | None = None
            if control is not None:
                connecting = ControlClient.connect(control, timeout=CONTROL_TIMEOUT)
                client = await client_stack.enter_async_context(connecting)
                served = (await client.hello())["db"]
                db = _check_db(db, served, control)
            if db is None:
                raise DashboardError(
                    "nothing to show: give a database (--db PATH) or a control socket (--control PATH)"
                )
            events = await stack.enter_async_context(open_event_log(db, readonly=True))
            source = cls(events, db, control, client, client_stack)
            last = await events.last_seq()
            source.state.last_seq = max(0, last - BACKFILL)
            yield source

    @property
    def readonly(self) -> bool:
        """No control socket given: nothing can be cancelled, no tree to show."""
        return self.control is None

    @property
    def connected(self) -> bool:
        return self._client is not None

    # -- polling ----------------------------------------------------------------------------

    async def poll(self) -> Poll:
        """Read what is new; ask the runtime (if any) for live runs and its tree."""
        found = Poll()
        for _ in range(MAX_PAGES_PER_POLL):
            page = await self.events.query(after_seq=self.state.last_seq, limit=PAGE)
            self.state.apply(page)
            found.events.extend(page)
            if len(page) < PAGE:
                break
        if self.control is not None:
            await _uninterrupted(self._poll_control())
        return found

    async def _poll_control(self) -> None:
        if self._client is None and anyio.current_time() >= self._next_reconnect:
            await self._reconnect()
        if self._client is not None:
            try:
                self.live_runs = await self._client.runs(recent=0)
                self.sessions = await self._client.sessions()
                self.tree = await self._client.tree()
            except NoRuntimeListening as exc:
                await self._lost(exc)
            except ControlError as exc:
                # The runtime answered, with an error: say so, and ask again next time.
                self.control_problem = str(exc)
            else:
                self.control_problem = None
        self.state.overlay_live(self.live_runs)

    async def _reconnect(self) -> None:
        assert self.control is not None
        try:
            self._client = await self._client_stack.enter_async_context(
                ControlClient.connect(self.control, timeout=CONTROL_TIMEOUT)
            )
        except NoRuntimeListening as exc:
            self._next_reconnect = anyio.current_time() + RECONNECT_EVERY
            self.control_problem = exc.problem

    async def _lost(self, exc: NoRuntimeListening) -> None:
        self.control_problem = exc.problem
        self._client = None
        self.live_runs = []
        self.sessions = []
        self.tree = None
        await self._client_stack.aclose()
        self._next_reconnect = anyio.current_time() + RECONNECT_EVERY

    # -- operations -------------------------------------------------------------------------

    async def trace(self, run_id: str, after_seq: int = 0) -> list[Event]:
        """The run's events after ``after_seq``, in order (the whole run from 0)."""
        return await self.events.query(run_id=run_id, after_seq=after_seq)

    async def trajectory(self, agent_id: str, limit: int) -> list[tuple[int, float, str | None]]:
        """The agent's last ``limit`` pressures, oldest first: (cause seq, effective
        pressure, mode) of each of its ``vitals.updated``."""
        events = await self.events.query(
            agent_id=agent_id, type="vitals.updated", descending=True, limit=limit
        )
        points = []
        for event in reversed(events):
            p = event.payload
            value = p.get("effective_pressure", p.get("pressure"))
            if isinstance(value, int | float):
                mode = p.get("mode")
                cause = int(p.get("cause_seq") or event.seq)
                points.append((cause, float(value), str(mode) if mode else None))
        return points

    async def event(self, seq: int) -> Event | None:
        """The event ``seq`` of the log, if it is there."""
        found = await self.events.query(after_seq=seq - 1, limit=1)
        return found[0] if found and found[0].seq == seq else None

    async def cancel_run(self, run_id: str) -> RunResultView:
        """Cancel ``run_id`` through the control API; returns its result once terminal.

        Raises :class:`DashboardError` when there is no control connection to ask through,
        ``ControlError`` when the runtime refuses.
        """
        if self.control is None:
            raise DashboardError("read-only: no control socket")
        if self._client is None:
            raise DashboardError(f"the control socket does not answer: {self.control_problem}")
        try:
            return await _uninterrupted(self._client.cancel_run(run_id))
        except NoRuntimeListening as exc:
            await self._lost(exc)
            raise DashboardError(f"the control socket does not answer: {self.control_problem}") from exc


async def _uninterrupted(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if the caller is cancelled meanwhile (then re-raise).

    Control requests go through anyio's Unix socket stream, which on asyncio can fail with
    ``InvalidStateError`` (in a loop callback, outside any task) when a receive is cancelled
    in the very loop iteration its socket became readable. Textual cancels the app's
    workers when it exits, so the dashboard never lets that cancellation reach a request in
    flight: the request finishes (each is bounded by ``CONTROL_TIMEOUT``), then the cancel
    goes on. A caller cancelled before ``work`` ends gets no result.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


def _check_db(given: str | None, served: str, control: str) -> str:
    """The database to read: the one the runtime writes to, and the one given if both are."""
    if served == ":memory:":
        if given is not None:
            raise DashboardError(f"the runtime on {control} keeps its events in memory, not in {given}")
        raise DashboardError(
            f"the runtime on {control} keeps its events in memory: the dashboard needs its database "
            "file (start the runtime with a database path)"
        )
    if given is None:
        return served
    if not os.path.exists(given):
        return given  # opening it says what is wrong, in the store's words
    try:
        same = os.path.samefile(given, served)
    except OSError:
        same = False
    if not same:
        raise DashboardError(f"the runtime on {control} writes to {served}, not to {given}")
    return given
