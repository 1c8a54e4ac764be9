"""The dashboard driven by Textual's pilot against a real runtime in the same test: what it
shows comes from the runtime's database and control socket, and its cancel key reaches the
runtime through the control API."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest
from _dashboard_helpers import GATES, hold, import_fixture, shown, until
from textual.widgets.tree import TreeNode

from soma_actor import Policy, ScriptedModel, start_actor
from soma_actor.cli.dashboard import SomaDashboard
from soma_actor.cli.dashboard import source as source_module
from soma_actor.cli.dashboard.detail import RunDetail
from soma_actor.cli.dashboard.dialogs import ConfirmScreen
from soma_actor.cli.dashboard.panels import AgentsTable, GuidanceTable, ProcessTree, RunsTable
from soma_actor.cli.dashboard.trace import TraceScreen
from soma_actor.providers import reply, use_tools
from soma_runtime import Runtime, Step

pytestmark = pytest.mark.anyio

POLL = 0.1


def cell(app: SomaDashboard, table: type[RunsTable | AgentsTable], row: str, column: str) -> str:
    """The text of a cell, or "" while the row is not there."""
    widget = app.main.query_one(table)
    if row not in {key.value for key in widget.rows}:
        return ""
    return str(widget.get_cell(row, column))


def tree_lines(tree: ProcessTree) -> list[str]:
    """Every node's label, depth first."""
    lines: list[str] = []

    def walk(node: TreeNode[str]) -> None:
        for child in node.children:
            lines.append(str(child.label))
            walk(child)

    walk(tree.root)
    return lines


async def test_agents_and_runs_appear_and_a_run_state_changes_on_screen(tmp_path: Path) -> None:
    GATES["state"] = anyio.Event()
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=sock, tools=[hold]) as rt:
        session = await rt.start_session("research", intent="read the design")
        steps = [Step("s1", "echo", {"value": 1}), Step("s2", "hold", {"gate": "state"})]
        run = await session.start_run(steps)
        model = ScriptedModel([use_tools(("echo", {"value": "hi"})), reply("done")])
        helper = await start_actor(rt, "helper", model, Policy(["echo"]))
        assert await helper.ask("say hi") == "done"

        # Only the socket: the dashboard finds the database from the runtime's hello.
        app = SomaDashboard(control=str(sock), interval=POLL)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: cell(app, RunsTable, run.run_id, "state") == "waiting_tool", "waiting")
            assert cell(app, RunsTable, run.run_id, "step") == "2/2 s2 hold"
            assert cell(app, RunsTable, run.run_id, "agent") == "research"
            await until(pilot, lambda: cell(app, AgentsTable, "helper", "mode") != "", "helper's vitals")
            assert cell(app, AgentsTable, "research", "agent") == "research"
            # The header says where it reads and steers (it repaints a moment after a poll).
            await shown(pilot, "soma.db · soma.sock · seq", "waiting_tool", run.run_id, "research", "helper")

            GATES["state"].set()
            await until(pilot, lambda: cell(app, RunsTable, run.run_id, "state") == "completed", "completed")
            await pilot.pause()
            await shown(pilot, "completed")
            assert (await run.result()).state.value == "completed"


async def test_the_cancel_key_cancels_the_selected_live_run(tmp_path: Path) -> None:
    GATES["cancel"] = anyio.Event()
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=sock, tools=[hold]) as rt:
        session = await rt.start_session("ops")
        done = await session.start_run([Step("s1", "echo", {"value": 1})])
        await done.result()
        live = await session.start_run([Step("s1", "hold", {"gate": "cancel"})])

        app = SomaDashboard(db=str(tmp_path / "soma.db"), control=str(sock), interval=POLL)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await until(pilot, lambda: cell(app, RunsTable, live.run_id, "state") == "waiting_tool", "live")
            runs = app.main.query_one(RunsTable)
            # Live runs are listed first; select the finished one, then go up to the live one,
            # so the key acts on the row the user moved to.
            runs.move_cursor(row=runs.get_row_index(done.run_id))
            await pilot.press("up")
            assert runs.selected_key() == live.run_id
            await pilot.press("c")  # it asks first
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            await shown(pilot, f"Cancel {live.run_id}?", "step s1 (hold)")
            await pilot.press("n")  # no: nothing is sent
            assert app.screen is app.main
            await pilot.press("c", "y")
            await until(pilot, lambda: cell(app, RunsTable, live.run_id, "state") == "cancelled", "cancelled")
            cancelled = await rt.events.query(run_id=live.run_id, type="run.cancelled")
            assert len(cancelled) == 1
            await shown(pilot, f"{live.run_id}: cancelled")  # the outcome, notified

            # A finished run is not sent to the runtime again: the key says why instead.
            await pilot.press("c")
            await shown(pilot, "already ended")
            assert len(await rt.events.query(run_id=live.run_id, type="run.cancelled")) == 1
        assert (await live.result()).state.value == "cancelled"
        assert (await session.status()).live_runs == [], "the session keeps serving"


async def test_the_tree_shows_the_runtime_processes_with_queue_depths(tmp_path: Path) -> None:
    GATES["tree"] = anyio.Event()
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=sock, tools=[hold]) as rt:
        session = await rt.start_session("ops")
        run = await session.start_run([Step("s1", "hold", {"gate": "tree"})])
        app = SomaDashboard(control=str(sock), interval=POLL)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("2")
            tree = app.main.query_one(ProcessTree)

            def run_line() -> str:
                return next((line for line in tree_lines(tree) if line.startswith(run.run_id)), "")

            await until(pilot, lambda: run_line() != "", "the run in the tree")
            # The run's process: named by its run id, its gen_statem state without the enum's
            # repr, and its queue depth.
            assert "gen_statem" in run_line() and "waiting:waiting_tool" in run_line() and "q=0" in run_line()
            lines = tree_lines(tree)
            for name in ("soma_sup", "soma.event_store", "soma.session_sup", "soma.run_sup", "soma.control"):
                assert any(line.startswith(name) for line in lines), name
            await shown(pilot, "soma.run_sup", "q=0")
            GATES["tree"].set()
            await until(pilot, lambda: run_line() == "", "the run gone from the tree")
        await run.result()


async def test_trace_filter_and_guidance_keys(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=sock) as rt:
        builder = await rt.start_session("builder")
        failed = []
        for steps in (
            [Step("s1", "fail", {"message": "compiler exited 1"})],
            [Step("s1", "file_read", {"path": "missing.txt"})],
            [Step("s1", "fail", {"message": "linker exited 1"})],
        ):
            handle = await builder.start_run(steps)
            await handle.result()
            failed.append(handle.run_id)
        other = await rt.start_session("other")
        ok = await other.start_run([Step("s1", "echo", {"value": 1})])
        await ok.result()
        await rt.vitals.caught_up()

        app = SomaDashboard(control=str(sock), interval=POLL)
        async with app.run_test(size=(80, 24)) as pilot:
            runs = app.main.query_one(RunsTable)
            await until(pilot, lambda: runs.row_count == 4, "four runs")

            # Guidance: the error cascade fired for the builder, and its count shows.
            await pilot.press("3")
            firings = app.main.query_one(GuidanceTable)
            await until(pilot, lambda: firings.row_count > 0, "guidance")
            await shown(pilot, "error_cascade")
            assert cell(app, AgentsTable, "builder", "guidance") != ""

            # Filter: only what mentions "other".
            await pilot.press("slash", *"other")
            await until(pilot, lambda: runs.row_count == 1, "the filtered runs")
            assert runs.selected_key() == ok.run_id
            await shown(pilot, "filter 'other'")
            await pilot.press("enter")  # keeps the filter, back to the runs
            await pilot.press("enter")  # on the runs table: the selected run's detail
            await until(pilot, lambda: isinstance(app.screen, RunDetail), "the run's detail")
            await shown(pilot, f"run {ok.run_id}", "completed", "✓ s1 → 1")
            await pilot.press("t")  # and from there its trace
            await until(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace screen")
            trace = app.screen
            assert isinstance(trace, TraceScreen) and trace.run_id == ok.run_id
            await shown(pilot, "run.completed", "run.started", "+0.0ms", "echo value=1")
            await pilot.press("escape")
            assert app.screen is app.main
            await pilot.press("escape")  # clears the filter
            await until(pilot, lambda: runs.row_count == 4, "all runs again")

            # The trace key on a failed run shows why it failed.
            runs.move_cursor(row=runs.get_row_index(failed[0]))
            await pilot.press("t")
            await shown(pilot, "compiler exited 1")
            await pilot.press("escape")
            # So does its detail, whole: the error with the step and tool it names.
            await pilot.press("enter")
            await shown(pilot, "step 's1' (fail): ToolFailed: tool 'fail' failed: compiler exited 1")
            await pilot.press("escape")
            await pilot.press("t")
            await pilot.press("q")  # q on the trace screen goes back; it does not quit
            assert app.screen is app.main and app.is_running


async def test_read_only_on_a_database_alone(any_db: str) -> None:
    GATES["readonly"] = anyio.Event()
    db = any_db
    async with Runtime.open(db=db, tools=[hold]) as rt:  # no control socket at all
        session = await rt.start_session("solo")
        live = await session.start_run([Step("s1", "hold", {"gate": "readonly"})])

        app = SomaDashboard(db=str(db), interval=POLL)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            # The state comes from the log alone: the run is waiting on its tool.
            await until(pilot, lambda: cell(app, RunsTable, live.run_id, "state") == "waiting_tool", "wait")
            label = "soma.db" if db.endswith("soma.db") else f"postgres {urlsplit(db).path[1:]}"
            await shown(pilot, f"{label} · read-only · seq")
            await pilot.press("c")
            await shown(pilot, "read-only: no control socket")
            await pilot.press("2")
            await shown(pilot, "no live tree")

            GATES["readonly"].set()
            await until(pilot, lambda: cell(app, RunsTable, live.run_id, "state") == "completed", "completed")
        assert await rt.events.query(run_id=live.run_id, type="run.cancelled") == []


async def test_the_dashboard_outlives_its_runtime_and_reconnects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_module, "RECONNECT_EVERY", 0.05)
    db, sock = tmp_path / "soma.db", tmp_path / "soma.sock"
    async with AsyncExitStack() as runtime:
        # Suspending: its run stays live in the log, for the next runtime to resume.
        rt = await runtime.enter_async_context(Runtime.open(db=db, control=sock, on_shutdown="suspend"))
        session = await rt.start_session("ops")
        run = await session.start_run([Step("s1", "sleep", {"seconds": 60})])

        app = SomaDashboard(db=str(db), control=str(sock), interval=POLL)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            tree = app.main.query_one(ProcessTree)
            await until(pilot, lambda: cell(app, RunsTable, run.run_id, "state") == "waiting_tool", "waiting")
            await runtime.aclose()  # the runtime stops; its database stays
            await shown(pilot, "control lost")  # in the header
            await until(pilot, lambda: cell(app, RunsTable, run.run_id, "state") == "suspended", "suspended")
            # Cancel now says why it cannot, rather than failing or hanging.
            await pilot.press("c")
            await shown(pilot, "does not answer")
            await pilot.press("2")
            await until(pilot, lambda: any("not answer" in line for line in tree_lines(tree)), "the note")
            assert app.is_running, "the dashboard goes on showing the database"

            # A runtime serving the same socket again is picked up, and resumes the run.
            async with Runtime.open(db=db, control=sock) as again:
                assert again.recovery.resumed == [run.run_id]
                await shown(pilot, "soma.db · soma.sock")  # reconnected
                await until(
                    pilot, lambda: cell(app, RunsTable, run.run_id, "state") == "waiting_tool", "resumed"
                )
                await until(
                    pilot, lambda: any(line.startswith("soma_sup") for line in tree_lines(tree)), "tree"
                )
                later = await (await again.start_session("ops")).start_run([Step("s1", "echo", {"value": 2})])
                await until(
                    pilot, lambda: cell(app, RunsTable, later.run_id, "state") == "completed", "new run"
                )


async def test_the_screen_fits_80_by_24_and_grows(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    await import_fixture(db)
    for width, height in ((80, 24), (160, 48)):
        app = SomaDashboard(db=str(db), interval=POLL)
        async with app.run_test(size=(width, height)) as pilot:
            panels = ("Agents", "Runs", "1 Events", "2 Tree", "3 Guidance")
            footer = "q Quit  ? Help  / Filter  t Trace  c Cancel run  v Vitals in tail"
            # The header, every panel, an agent row with its mode, a run row with its state.
            text = await shown(
                pilot, "read-only · seq 82", *panels, "builder", "guide", "waiting_tool", footer
            )
            lines = text.splitlines()
            assert len(lines) == height and all(len(line) <= width for line in lines)
            assert lines[-1].strip() == footer, "the keys, on the last line"
            runs = app.main.query_one(RunsTable)
            visible = runs.scrollable_content_region.height - 1  # minus the header row
            if height == 24:
                assert visible >= 3, "at 80×24 the runs panel still shows several runs"
            else:
                assert visible >= runs.row_count, "a taller terminal shows every run"
