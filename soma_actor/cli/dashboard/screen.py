"""The main screen: the panels' layout, and the keys that act on what is selected.

A vertical stack — agents, runs, then the event tail, the supervision tree, the guidance
firings and their outcomes (does guidance help?) as tabs — whose panels share the
terminal's rows by what they hold (:func:`share`): a table is never taller than its rows,
the tabs get what the tables leave and at least two fifths, and at 60×15 every panel still
shows. The app hands it each poll
(:meth:`DashboardScreen.show`); the keys act through the app's data source, and ``enter``
opens the detail of the selected row (``detail``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Final

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, TabbedContent, TabPane

from soma_runtime.control import ControlError

from .detail import AgentDetail, GuidanceDetail, RunDetail
from .dialogs import ConfirmScreen, HelpScreen
from .panels import AgentsTable, EventTail, GuidanceTable, OutcomesTable, ProcessTree, RunsTable
from .source import DashboardError, DashboardSource, Poll
from .state import event_matches
from .trace import TraceScreen

NO_TREE: Final = "read-only: no control socket, so no live tree (start with --control PATH)"

MIN_TABLE: Final = 3
"""A table's title line, its header and one row: the least a panel shows."""
MIN_TABS: Final = 4
"""The tab bar (two lines) and two lines of the tail."""
TABS_SHARE: Final = 0.4
"""Of the rows, what the tabs get at least (the event tail is never empty of room)."""
FILTER_HEIGHT: Final = 3


def share(rows: int, agents: int, runs: int) -> tuple[int, int, int]:
    """Split ``rows`` between the agents table, the runs table and the tabs, for tables that
    hold ``agents`` and ``runs`` rows: each table gets what it holds (its title line and
    header included) up to its share, the tabs the rest — at least :data:`TABS_SHARE`."""
    agents_need, runs_need = agents + 2, runs + 2
    tabs = max(MIN_TABS, round(rows * TABS_SHARE))
    upper = max(2 * MIN_TABLE, rows - tabs)
    # The agents table takes what it holds, unless the runs then get less than half.
    agents_rows = max(MIN_TABLE, min(agents_need, max(upper - runs_need, upper // 2)))
    runs_rows = max(MIN_TABLE, min(runs_need, upper - agents_rows))
    return agents_rows, runs_rows, max(1, rows - agents_rows - runs_rows)


class DashboardScreen(Screen[None]):
    """Agents, runs, and the event tail / tree / guidance tabs; the header says where the
    data comes from (base names only) and how far the log has been read."""

    SUB_TITLE = "opening…"

    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter", "Filter"),
        Binding("t", "trace", "Trace"),
        Binding("c", "cancel_run", "Cancel run"),
        Binding("v", "toggle_vitals", "Vitals in tail"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("1", "pane('events')", "Events", show=False),
        Binding("2", "pane('tree')", "Tree", show=False),
        Binding("3", "pane('guidance')", "Guidance", show=False),
        Binding("4", "pane('outcomes')", "Outcomes", show=False),
    ]

    DEFAULT_CSS = """
    DashboardScreen #agents, DashboardScreen #runs {
        height: 5;
        border-top: solid $primary;
        border-title-color: $text;
    }
    DashboardScreen #lower { height: 1fr; }
    DashboardScreen #lower TabPane { padding: 0; }
    DashboardScreen #filter { dock: bottom; display: none; }
    DashboardScreen #filter.shown { display: block; }
    """

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        """Seconds between polls (a trace screen follows its run as often)."""
        self.source: DashboardSource | None = None
        """The app's source while it is open (the keys act through it)."""
        self.problem: str | None = None
        self.filter = ""
        """The filter as typed (matched case-insensitively)."""
        self.show_vitals = False
        """Whether the tail lists ``vitals.updated`` (the agents panel shows them already)."""
        self.ready = asyncio.Event()
        """Set once the panels exist: the app's first poll may well be done before."""

    def compose(self) -> ComposeResult:
        # No icon: Textual's default one opens a command palette this app does not have.
        yield Header(icon="")
        agents = AgentsTable(id="agents")
        agents.border_title = "Agents"
        yield agents
        runs = RunsTable(id="runs")
        runs.border_title = "Runs"
        yield runs
        with TabbedContent(id="lower", initial="events"):
            with TabPane("1 Events", id="events"):
                yield EventTail(id="tail")
            with TabPane("2 Tree", id="tree"):
                yield ProcessTree(id="processes")
            with TabPane("3 Guidance", id="guidance"):
                yield GuidanceTable(id="firings")
            with TabPane("4 Outcomes", id="outcomes"):
                yield OutcomesTable(id="outcomes-table")
        yield Input(placeholder="filter by agent, run, type… (enter: keep, esc: clear)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()
        self.relayout()
        self.ready.set()

    # -- drawing ----------------------------------------------------------------------------

    def show(self, source: DashboardSource, found: Poll, problem: str | None = None) -> None:
        """Draw a poll: the tables from the state, the new events onto the tail.
        ``problem``: why the poll could not read the database, if it could not."""
        self.source, self.problem = source, problem
        state = source.state
        needle = self.filter.lower()
        self.query_one(AgentsTable).show(state.agent_rows(needle))
        self.query_one(RunsTable).show(state.run_rows(needle))
        self.query_one(GuidanceTable).show(state.guidance_rows(needle))
        self.query_one(OutcomesTable).show(state.outcome_reports(needle))
        self.query_one(EventTail).append(
            e for e in found.events if self._tail_shows(e.type) and event_matches(e, needle)
        )
        names = {v["pid"]: v["run_id"] for v in source.live_runs if v["pid"] is not None}
        names.update({s["pid"]: f"{s['session_id']} ({s['agent_id']})" for s in source.sessions})
        lost = f"the control socket does not answer: {source.control_problem}"
        self.query_one(ProcessTree).show(source.tree, names, NO_TREE if source.readonly else lost)
        self.sub_title = self._status(source, problem)
        self.relayout()

    def on_resize(self, event: events.Resize) -> None:
        self.relayout()

    def relayout(self) -> None:
        """Give each panel its share of the rows (see :func:`share`)."""
        agents, runs = self.query_one(AgentsTable), self.query_one(RunsTable)
        rows = self.size.height - 2  # the header and the footer
        if self.query_one("#filter", Input).has_class("shown"):
            rows -= FILTER_HEIGHT
        agents_rows, runs_rows, tabs_rows = share(rows, agents.row_count, runs.row_count)
        for widget, height in ((agents, agents_rows), (runs, runs_rows)):
            if widget.styles.height is None or widget.styles.height.cells != height:
                widget.styles.height = height
        lower = self.query_one("#lower", TabbedContent)
        if lower.styles.height is None or lower.styles.height.cells != tabs_rows:
            lower.styles.height = tabs_rows

    def _tail_shows(self, type_: str) -> bool:
        return self.show_vitals or type_ != "vitals.updated"

    def _status(self, source: DashboardSource, problem: str | None) -> str:
        # Base names only: the full paths are the user's own, and the header must read the
        # same wherever the files are (the snapshot test depends on it).
        parts = [_db_label(source.db)]
        if source.readonly:
            parts.append("read-only")
        elif not source.connected:
            parts.append("control lost")
        elif source.control_problem is not None:
            parts.append(f"control error: {source.control_problem}")
        else:
            parts.append(os.path.basename(source.control or ""))
        parts.append(f"seq {source.state.last_seq}")
        if self.filter:
            parts.append(f"filter {self.filter!r}")
        if problem:
            parts.append(f"read failed: {problem}")
        return " · ".join(parts)

    def redraw(self) -> None:
        """Everything again from the state (after the filter or the tail's scope changed)."""
        source = self.source
        if source is None:
            return
        tail = source.state.tail_events(self.filter.lower(), vitals=self.show_vitals)
        self.query_one(EventTail).replace(tail)
        self.show(source, Poll(), self.problem)

    # -- keys -------------------------------------------------------------------------------

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.add_class("shown")
        field.focus()
        self.relayout()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = event.value.strip()
        self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("shown")
        self.query_one(RunsTable).focus()
        self.relayout()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.remove_class("shown")
        if field.value:
            field.value = ""  # its Input.Changed redraws
        self.query_one(RunsTable).focus()
        self.relayout()

    def action_toggle_vitals(self) -> None:
        self.show_vitals = not self.show_vitals
        self.redraw()
        where = "shown in" if self.show_vitals else "hidden from"
        self.notify(f"vitals.updated events {where} the tail")

    def action_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """``enter`` on a row: its detail."""
        source, key = self.source, event.row_key.value
        if source is None or key is None:
            return
        state = source.state
        if isinstance(event.data_table, RunsTable) and key in state.runs:
            self.app.push_screen(RunDetail(source, state.runs[key]), self._after_run_detail)
        elif isinstance(event.data_table, AgentsTable) and key in state.agents:
            self.app.push_screen(AgentDetail(source, state.agents[key], list(state.guidance)))
        elif isinstance(event.data_table, GuidanceTable):
            firing = next((g for g in state.guidance if str(g.seq) == key), None)
            if firing is not None:
                self.app.push_screen(GuidanceDetail(source, firing))

    def _after_run_detail(self, choice: str | None) -> None:
        if choice == "trace":
            self.action_trace()
        elif choice == "cancel":
            self.action_cancel_run()

    def action_trace(self) -> None:
        run_id = self.query_one(RunsTable).selected_key()
        source = self.source
        if run_id is None or source is None:
            self.notify("no run selected", severity="warning")
            return
        self.app.push_screen(TraceScreen(source, run_id, self.interval))

    def action_cancel_run(self) -> None:
        run_id = self.query_one(RunsTable).selected_key()
        source = self.source
        if run_id is None or source is None:
            self.notify("no run selected", severity="warning")
            return
        if source.readonly:
            self.notify("read-only: no control socket", severity="warning")
            return
        if not source.connected:
            # Asking first would promise something the runtime cannot be told.
            self.notify(f"cannot cancel: the control socket does not answer: {source.control_problem}")
            return
        row = source.state.runs.get(run_id)
        if row is not None and row.terminal:
            self.notify(f"{run_id} already ended: {row.state}", severity="warning")
            return
        where = "" if row is None else f"agent {row.agent_id or '?'} · {row.state}"
        if row is not None and row.step_id is not None:
            where += f" · step {row.step_id}" + (f" ({row.tool})" if row.tool else "")

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._cancel(source, run_id), group="cancel")

        question = f"Cancel {run_id}? Its active tool is stopped and the run ends cancelled."
        self.app.push_screen(ConfirmScreen(question, where), answered)

    async def _cancel(self, source: DashboardSource, run_id: str) -> None:
        self.notify(f"cancelling {run_id}…")
        try:
            result = await source.cancel_run(run_id)
        except (DashboardError, ControlError) as exc:
            self.notify(f"cannot cancel {run_id}: {exc}", severity="error")
            return
        self.notify(f"{run_id}: {result['state']}", title="cancel")


def _db_label(db: str) -> str:
    """A database as the header names it: a file's base name; a PostgreSQL database's name."""
    if db.startswith(("postgresql://", "postgres://")):
        from urllib.parse import urlsplit

        return f"postgres {urlsplit(db).path.lstrip('/') or '(default)'}"
    return os.path.basename(db)
