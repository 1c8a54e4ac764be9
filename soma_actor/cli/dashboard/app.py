"""``SomaDashboard``: the Textual app, and the poll loop that feeds its screen.

One worker owns the data source: it opens the database (and the control socket), polls on
an interval, hands each poll to the main screen, and closes everything when the app exits.
Other work — cancelling a run, following a trace — borrows the source while that worker
keeps it open.
"""

from __future__ import annotations

import contextlib
from typing import Final

import anyio
from textual.app import App
from textual.screen import Screen
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from soma_runtime.control import ControlClientError
from soma_runtime.store.errors import EventError

from .screen import DashboardScreen
from .source import DashboardError, DashboardSource, Poll

DEFAULT_INTERVAL: Final = 0.5

OPEN_ERRORS: Final = (DashboardError, EventError, ControlClientError)
"""What opening the source fails with when given something wrong, each saying it in one line."""


class SomaDashboard(App[None]):
    """The live dashboard of a Soma runtime (``soma dashboard``).

    ``db``: the event database, read-only; ``control``: the runtime's control socket (live
    runs, the tree, cancel). Either may be None, not both. ``interval``: seconds between polls.
    If the source cannot be opened the app exits with return code 1 and :attr:`failure` says why.
    """

    TITLE = "soma"
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self, db: str | None = None, control: str | None = None, *, interval: float = DEFAULT_INTERVAL
    ) -> None:
        super().__init__()
        self.db = db
        self.control = control
        self.interval = interval
        self.main = DashboardScreen(interval)
        self.source: DashboardSource | None = None
        """Open while the app runs (after the first moments of start-up)."""
        self.failure: str | None = None
        """Why the dashboard could not start (it exited with return code 1)."""
        self.polls = 0
        """Polls drawn so far (tools and tests wait for the first)."""
        self._poller: Worker[None] | None = None

    def get_default_screen(self) -> Screen[None]:
        return self.main

    def on_mount(self) -> None:
        self._poller = self.run_worker(self._follow(), name="poll", group="poll", exit_on_error=True)

    async def on_unmount(self) -> None:
        # Textual cancels workers without waiting for them. The poll worker closes the
        # database and the socket on its way out, which must finish while the event loop
        # still runs (a database thread answering a closed loop fails loudly).
        if self._poller is not None:
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await self._poller.wait()

    async def _follow(self) -> None:
        opening = True
        try:
            async with DashboardSource.open(self.db, self.control) as source:
                opening = False
                self.source = source
                try:
                    await self._poll_forever(source)
                finally:
                    self.source = self.main.source = None
        except OPEN_ERRORS as exc:
            if not opening:
                raise  # not a problem with what was given: a bug, which the worker reports
            self.failure = str(exc)
            self.exit(return_code=1)

    async def _poll_forever(self, source: DashboardSource) -> None:
        await self.main.ready.wait()
        while True:
            problem: str | None = None
            try:
                found = await source.poll()
            except EventError as exc:
                # A read can fail for a moment (the file replaced, a disk hiccup): say so and
                # try again at the next tick rather than end the dashboard.
                problem, found = str(exc), Poll()
            if not self.is_running:
                return  # the app is shutting down: its widgets are going away
            self.main.show(source, found, problem)
            self.polls += 1
            await anyio.sleep(self.interval)
