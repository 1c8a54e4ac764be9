"""``run_dashboard``: what ``soma dashboard`` calls — check what was given, then run the app."""

from __future__ import annotations

import sys

import anyio

from .app import OPEN_ERRORS, SomaDashboard
from .source import DashboardSource

EXIT_ERROR = 1


def run_dashboard(db: str | None, control: str | None) -> int:
    """Run the dashboard in the terminal until the user quits; returns the exit code.

    0 after a normal quit; 1, with one line on stderr, when there is nothing to show: no
    database at ``db``, nothing listening on ``control``, or neither given.
    """
    # Check what was given before taking over the terminal, so a mistake reads as one line
    # in the shell rather than as a flash of a full-screen app.
    try:
        anyio.run(_check, db, control, backend="asyncio")
    except OPEN_ERRORS as exc:
        print(f"soma: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    app = SomaDashboard(db, control)
    app.run()
    if app.failure is not None:
        print(f"soma: error: {app.failure}", file=sys.stderr)
    return app.return_code or 0


async def _check(db: str | None, control: str | None) -> None:
    async with DashboardSource.open(db, control):
        pass
