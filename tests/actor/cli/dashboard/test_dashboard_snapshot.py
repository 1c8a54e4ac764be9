"""One snapshot of the main screen (pytest-textual-snapshot), on a recorded log: ids, times
and numbers are fixed, and nothing on screen reads the clock, so the picture is stable.

After an intended change of the screen: ``pytest --snapshot-update`` this file, and look at
the new SVG before committing it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
from _dashboard_helpers import import_fixture, shown, until
from textual.pilot import Pilot

from soma_actor.cli.dashboard import SomaDashboard
from soma_actor.cli.dashboard.panels import AgentsTable, RunsTable
from soma_actor.cli.dashboard.screen import share


def test_the_main_screen_at_80_by_24(snap_compare: Callable[..., bool], tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    anyio.run(import_fixture, db, backend="asyncio")
    # One poll draws everything; a long interval keeps a second one from racing the picture.
    app = SomaDashboard(db=str(db), interval=60.0)

    async def loaded(pilot: Pilot[None]) -> None:
        # Drawn, not just polled: panels repaint a moment after the poll, and take their
        # share of the rows after that (see screen.share).
        agents, runs = app.main.query_one(AgentsTable), app.main.query_one(RunsTable)
        laid_out = share(24 - 2, 4, 7)[:2]  # 4 agents, 7 runs: all rows but the header and footer
        await until(pilot, lambda: (agents.outer_size.height, runs.outer_size.height) == laid_out, "layout")
        await shown(pilot, "seq 82", "builder", "waiting_tool", "hold gate=scout", "q Quit")

    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)
