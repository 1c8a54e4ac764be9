"""Helpers for the dashboard tests: a tool that holds a run in flight, the screen as text,
and waiting on the pilot for a condition (never a fixed sleep)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import anyio
from rich.console import Console
from textual.pilot import Pilot

from soma_runtime import open_event_log, tool

FIXTURE = Path(__file__).with_name("dashboard_fixture.jsonl")
"""A recorded log (``_make_dashboard_fixture.py``): fixed ids and times for the snapshot."""

GATES: dict[str, anyio.Event] = {}


@tool
async def hold(gate: str) -> str:
    """Blocks until the test sets ``GATES[gate]``: a run that stays in ``waiting_tool``."""
    await GATES[gate].wait()
    return f"{gate} released"


def screen_text(pilot: Pilot[object]) -> str:
    """The current screen as plain text, one line per terminal row.

    Textual exports screenshots only as SVG; this renders the same compositor update
    (``App.export_screenshot`` does exactly this) to a recording console and keeps the text.
    """
    app = pilot.app
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def until(
    pilot: Pilot[object], condition: Callable[[], bool], what: str, timeout: float = 15.0
) -> None:
    """Let the app run until ``condition()`` holds; fail naming ``what`` after ``timeout`` s
    (generous: CI machines are shared, and a passing wait returns as soon as it holds)."""
    with anyio.move_on_after(timeout):
        while not condition():
            await pilot.pause(0.02)
        return
    raise AssertionError(f"timed out waiting for {what}\n{screen_text(pilot)}")


async def shown(pilot: Pilot[object], *texts: str, timeout: float = 15.0) -> str:
    """Wait until every one of ``texts`` is on screen (a change repaints a moment after it is
    made); returns the screen's text."""
    await until(pilot, lambda: all(t in screen_text(pilot) for t in texts), f"{texts} on screen", timeout)
    return screen_text(pilot)


async def import_fixture(db: Path) -> None:
    async with open_event_log(db) as log:
        await log.import_jsonl(FIXTURE)
