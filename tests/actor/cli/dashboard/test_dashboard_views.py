"""The dashboard on the recorded fixture, through Textual's pilot: every panel shows at 60×15,
80×24 and 200×60, panels share the rows by what they hold, ``enter`` opens the whole of a run,
an agent (with its pressure chart) and a guidance firing, ``?`` explains every column and
mark, ``home``/``end`` move, and ``soma dashboard --control`` reads the runtime's database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _dashboard_helpers import import_fixture, screen_text, shown, until

from soma_actor.cli import main
from soma_actor.cli.dashboard import SomaDashboard
from soma_actor.cli.dashboard.detail import AgentDetail, GuidanceDetail, RunDetail
from soma_actor.cli.dashboard.dialogs import HelpScreen
from soma_actor.cli.dashboard.panels import AgentsTable, GuidanceTable, RunsTable
from soma_actor.cli.dashboard.screen import MIN_TABLE, share

pytestmark = pytest.mark.anyio

RUNS = 7  # in the fixture
AGENTS = 4
FAILED_RUN = "run-c4f57764744b8"  # file_read of a missing file
GUIDANCE = (
    "3 tool calls in a row have failed, across 2 tools (fail, file_read). Step back: one root cause is "
    "probably breaking them all; find it before calling more tools."
)


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    path = tmp_path / "soma.db"
    await import_fixture(path)
    return path


@pytest.mark.parametrize(("width", "height"), [(60, 15), (80, 24), (200, 60)])
async def test_every_panel_shows_at_every_size(db: Path, width: int, height: int) -> None:
    app = SomaDashboard(db=str(db), interval=60.0)
    async with app.run_test(size=(width, height)) as pilot:
        agents, runs = app.main.query_one(AgentsTable), app.main.query_one(RunsTable)
        expected = share(height - 2, AGENTS, RUNS)  # all rows but the header and the footer
        heights = lambda: (agents.outer_size.height, runs.outer_size.height)  # noqa: E731
        await until(pilot, lambda: heights() == expected[:2], "the layout")
        text = await shown(pilot, "seq 82", "Agents", "Runs", "1 Events", "builder", "waiting_tool", "q Quit")
        lines = text.splitlines()
        assert len(lines) == height and all(len(line) <= width for line in lines)
        assert lines[-1].lstrip().startswith("q Quit  ? Help"), "the keys, on the last line"
        visible_agents = agents.outer_size.height - 2  # minus its title line and its header
        visible_runs = runs.outer_size.height - 2
        assert visible_agents >= 1 and visible_runs >= 1, "no panel disappears"
        assert agents.outer_size.height <= AGENTS + 2, "never taller than what it holds"
        if height >= 24:
            assert visible_agents == AGENTS, "every agent, and no empty rows"
        if height >= 60:
            assert visible_runs == RUNS and "FileNotFoundError: [Errno 2] No such file" in text
        if width >= 80:
            assert "linker exited 1" in text, "the note says what went wrong, not where"


def test_panels_share_the_rows_by_what_they_hold() -> None:
    # The 160×48 with 4 agents and 44 runs: no empty agent rows, most rows for runs.
    agents, runs, tabs = share(46, 4, 44)
    assert agents == 6 and runs >= 20 and tabs >= round(46 * 0.4) and agents + runs + tabs == 46
    # Few runs: what the tables do not need goes to the tabs.
    assert share(46, 4, 2) == (6, 4, 36)
    # Small: every panel keeps its title, its header and a row.
    agents, runs, tabs = share(13, 4, 44)
    assert agents >= MIN_TABLE and runs >= MIN_TABLE and tabs >= 4 and agents + runs + tabs == 13
    # Many agents do not push the runs out.
    agents, runs, _ = share(22, 50, 50)
    assert runs >= agents - 1


async def test_enter_opens_the_whole_of_a_run_an_agent_and_a_firing(db: Path) -> None:
    app = SomaDashboard(db=str(db), interval=60.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot, "seq 82", "builder")
        runs = app.main.query_one(RunsTable)
        runs.move_cursor(row=runs.get_row_index(FAILED_RUN))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetail), "the run's detail")
        text = await shown(pilot, f"run {FAILED_RUN}", "agent builder", "why it ended", "✗ s1:")
        assert "No such file or directory:" in text and "missing.txt" in text, "the whole error, wrapped"
        await pilot.press("escape")
        assert app.screen is app.main

        agents = app.main.query_one(AgentsTable)
        agents.focus()
        agents.move_cursor(row=agents.get_row_index("builder"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AgentDetail), "the agent's detail")
        text = await shown(pilot, "agent builder", "error_rate", "pressure, one column per action", "0.75 ┤")
        chart = [line for line in text.splitlines() if "┤" in line]
        assert any("▁" in line or "█" in line or "▆" in line for line in chart), "the trajectory is drawn"
        detail = app.screen
        assert isinstance(detail, AgentDetail)
        body = str(detail.body.render())  # the whole view, below the fold too
        assert "latest guidance (#41, pressure)" in body and "Slow down and check your approach" in body
        await pilot.press("escape")

        await pilot.press("3")
        firings = app.main.query_one(GuidanceTable)
        firings.focus()
        firings.move_cursor(row=firings.get_row_index("40"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, GuidanceDetail), "the firing's detail")
        await shown(pilot, "guidance #40 · error_cascade", "calling more tools.")  # wrapped, on screen
        firing = app.screen
        assert isinstance(firing, GuidanceDetail)
        assert GUIDANCE in str(firing.body.render()), "the whole message"
        await pilot.press("escape")
        assert app.screen is app.main


async def test_help_explains_the_columns_and_marks(db: Path) -> None:
    app = SomaDashboard(db=str(db), interval=60.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot, "seq 82")
        assert "⭘" not in screen_text(pilot), "no icon that does nothing"
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        text = await shown(pilot, "keys", "enter", "cancel the selected run; it asks first")
        assert all(len(line) <= 80 for line in text.splitlines())
        help_text = app.screen.query_one("Static").render()
        for words in ("guid    guidance messages fired", "name · kind · pid · status:state · q=N", "press"):
            assert words in str(help_text), words
        await pilot.press("escape")
        assert app.screen is app.main


async def test_home_and_end_move_the_cursor(db: Path) -> None:
    app = SomaDashboard(db=str(db), interval=60.0)
    async with app.run_test(size=(80, 24)) as pilot:
        runs = app.main.query_one(RunsTable)
        await until(pilot, lambda: runs.row_count == RUNS, "the runs")
        await pilot.press("end")
        assert runs.cursor_row == RUNS - 1
        await pilot.press("home")
        assert runs.cursor_row == 0


def test_dashboard_with_a_socket_alone_reads_the_runtimes_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import soma_actor.cli.dashboard as package

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(package, "run_dashboard", lambda db, control: calls.append((db, control)) or 0)
    monkeypatch.chdir(tmp_path)
    assert main(["dashboard", "--control", "live.sock"]) == 0
    assert main(["dashboard"]) == 0
    assert main(["dashboard", "--db", "x.db", "--control", "live.sock"]) == 0
    # No --db with a socket: the database is the one the runtime says it writes (its hello).
    assert calls == [(None, "live.sock"), ("soma.db", None), ("x.db", "live.sock")]
