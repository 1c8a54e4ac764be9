"""The dashboard's panels: agents, runs, guidance (tables), the event tail and the tree.

Each panel is handed the rows to show on every poll and changes only what changed: a table
whose rows are the same, in the same order, gets its cells updated in place, so the cursor
and the scroll position stay where the user put them; only a new row, a removed one or a new
order rebuilds it (keeping the cursor on the same row key).

A table's last column (a run's note, a firing's message) takes whatever width the others
leave, so a wider terminal shows more of an error; the whole of it is in the detail view
(``enter``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable, RichLog, Tree
from textual.widgets.data_table import ColumnKey
from textual.widgets.tree import TreeNode

from soma_runtime import Event
from soma_runtime.control.protocol import ProcessView
from soma_runtime.vitals import SIGNALS

from . import _format
from .state import AgentRow, GuidanceRow, RunRow

if TYPE_CHECKING:
    from soma_runtime.vitals.report import ArmStats, PatternReport

TREND_WIDTH: Final = 9
MIN_LAST_WIDTH: Final = 12
"""The last column (note, message) never narrower than this, even on a small terminal."""
TAIL_LINES: Final = 500
TAIL_WIDTH: Final = 240

Cells = tuple[Any, ...]


class SyncedTable(DataTable[Any]):
    """A row-cursor table kept in step with a list of keyed rows.

    Columns have fixed widths, except the last, which takes the rest of the table's width:
    the layout never shifts as values change, and a long value is cut at its column's edge
    (``…``). Measuring cells to fit them would also be redone on every poll that changes one.
    ``home`` / ``end`` move the cursor to the first / last row.
    """

    COLUMNS: tuple[tuple[str, str, int], ...] = ()
    """(key, label, width) of each column; the last one's width is its minimum."""

    BINDINGS = [
        Binding("home", "first_row", "First", show=False),
        Binding("end", "last_row", "Last", show=False),
    ]

    DEFAULT_CSS = "SyncedTable { overflow-x: hidden; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        # From on_mount, or from the first sync if that comes first (a screen's children
        # may mount after the screen itself).
        if not self.columns:
            for key, label, width in self.COLUMNS:
                self.add_column(label, key=key, width=width)
            self._fit_last_column()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_last_column()

    def _fit_last_column(self) -> None:
        if not self.columns or not self.COLUMNS:
            return
        key = self.COLUMNS[-1][0]
        fixed = sum(width for _, _, width in self.COLUMNS[:-1])
        padding = 2 * self.cell_padding * len(self.COLUMNS)
        scrollbar = 1  # the vertical scrollbar, when the rows overflow
        width = max(MIN_LAST_WIDTH, self.size.width - fixed - padding - scrollbar)
        column = self.columns.get(ColumnKey(key))
        if column is not None and column.width != width:
            column.width = width
            # DataTable has no public way to resize a column: drop its rendered lines and
            # have it measure itself again, as adding a column does.
            self._clear_caches()
            self._require_update_dimensions = True
            self.refresh()

    def sync(self, rows: Sequence[tuple[str, Cells]]) -> None:
        self._add_columns()
        keys = [key for key, _ in rows]
        if keys == [row_key.value for row_key in self.rows]:
            for key, cells in rows:
                shown = self.get_row(key)
                for (column, _, _), old, new in zip(self.COLUMNS, shown, cells, strict=True):
                    if old != new:
                        self.update_cell(key, column, new)
            return
        selected = self.selected_key()
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False)

    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def action_first_row(self) -> None:
        self.move_cursor(row=0, animate=False)

    def action_last_row(self) -> None:
        self.move_cursor(row=max(0, self.row_count - 1), animate=False)


def _line(text: str) -> Text:
    """Text for a last column: one line, cut with an ellipsis at the column's edge."""
    return Text(" ".join(text.split()), no_wrap=True, overflow="ellipsis")


class AgentsTable(SyncedTable):
    # Fits 80 columns: 12 + 5 + 7 + 5×4 + 9 + 4, each with a cell of padding either side.
    # What each column means is on the help screen (?).
    COLUMNS = (
        ("agent", "agent", 12),
        ("pressure", "press", 5),
        ("mode", "mode", 7),
        *((name, _format.SIGNAL_LABELS[name], 4) for name in SIGNALS),
        ("trend", "trend", TREND_WIDTH),
        ("guidance", "guid", 4),
    )

    def show(self, agents: Iterable[AgentRow]) -> None:
        self.sync([(a.agent_id, _agent_cells(a)) for a in agents])


def _agent_cells(agent: AgentRow) -> Cells:
    signals = tuple(_format.pressure(agent.signals.get(name)) for name in SIGNALS)
    style = _format.MODE_STYLES.get(agent.mode or "", "")
    trend = Text(_format.sparkline(agent.history, TREND_WIDTH), style=style)
    return (
        Text(agent.agent_id, style="bold"),
        _format.pressure(agent.pressure),
        _format.mode(agent.mode),
        *signals,
        trend,
        str(agent.guidance) if agent.guidance else "",
    )


class RunsTable(SyncedTable):
    COLUMNS = (
        ("run", "run", 18),
        ("agent", "agent", 9),
        ("state", "state", 12),
        ("step", "step", 14),
        ("note", "note", MIN_LAST_WIDTH),
    )

    def show(self, runs: Iterable[RunRow]) -> None:
        self.sync([(r.run_id, _run_cells(r)) for r in runs])


def _run_cells(run: RunRow) -> Cells:
    return (
        run.run_id,
        run.agent_id or "",
        _format.state(run.state),
        _step(run),
        _line(_note(run)),
    )


def _note(run: RunRow) -> str:
    """Why the run ended, else its task. The step and tool are in the step column already,
    so the note starts at what went wrong: ``compiler exited 1``, not ``step 's1' (fail):
    ToolFailed: tool 'fail' failed: compiler exited 1`` (the detail view has it whole)."""
    if run.note is None:
        return run.task_id or ""
    note = run.note
    if run.step_id is not None:
        note = note.removeprefix(f"step {run.step_id!r} ({run.tool}): ")
    return note.removeprefix(f"ToolFailed: tool {run.tool!r} failed: ")


def _step(run: RunRow) -> str:
    if run.step_id is None:
        return f"0/{run.steps}" if run.steps else ""
    at = f"{run.step_index + 1}/{run.steps} " if run.step_index is not None and run.steps else ""
    return f"{at}{run.step_id}" + (f" {run.tool}" if run.tool else "")


class GuidanceTable(SyncedTable):
    COLUMNS = (
        ("seq", "seq", 6),
        ("agent", "agent", 10),
        ("pattern", "pattern", 17),
        ("mode", "mode", 7),
        ("message", "message", MIN_LAST_WIDTH),
    )

    def show(self, firings: Iterable[GuidanceRow]) -> None:
        # Newest first: a firing that just happened is the one to read.
        rows = sorted(firings, key=lambda g: -g.seq)
        self.sync([(str(g.seq), _guidance_cells(g)) for g in rows])


def _guidance_cells(g: GuidanceRow) -> Cells:
    return (str(g.seq), g.agent_id, g.pattern, _format.mode(g.mode), _line(g.message))


class OutcomesTable(SyncedTable):
    """Does guidance help? Per pattern: its verdict, n per arm, the recovery rate of each arm
    with its Wilson interval, and Fisher's p (``soma outcomes`` has the rest)."""

    COLUMNS = (
        ("pattern", "pattern", 17),
        ("verdict", "verdict", 11),
        ("n", "n T/C", 8),
        ("treatment", "treated (95%)", 17),
        ("control", "control (95%)", 17),
        ("p", "Fisher p", MIN_LAST_WIDTH),
    )

    def show(self, reports: Iterable[PatternReport]) -> None:
        self.sync([(r.pattern, _outcome_cells(r)) for r in reports])


def _arm_cell(arm: ArmStats | None) -> str:
    if arm is None or arm.rate is None or arm.low is None or arm.high is None:
        return "-"
    return f"{arm.rate:.2f} [{arm.low:.2f},{arm.high:.2f}]"


def _outcome_cells(r: PatternReport) -> Cells:
    if r.randomized:
        t, c = r.arms.get("treatment"), r.arms.get("control")
        n = f"{t.n if t else 0}/{c.n if c else 0}"
    else:  # not randomized: a descriptive rate, under "treated" (every firing was delivered)
        t, c = r.arms.get("unrandomized"), None
        n = f"{t.n if t else 0}/-"
    p = "-" if r.fisher_p is None else f"{r.fisher_p:.3g}"
    return (r.pattern, r.verdict, n, _arm_cell(t), _arm_cell(c), p)


class EventTail(RichLog):
    """The newest events, one line each, following the end of the log.

    Lines are rendered once, at a fixed width, and the panel hides what does not fit: a
    wider terminal shows more of each line without anything being rendered again.
    """

    DEFAULT_CSS = "EventTail { overflow-x: hidden; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=TAIL_LINES, wrap=False, markup=False, auto_scroll=True)

    def append(self, events: Iterable[Event]) -> None:
        for event in events:
            self.write(_format.event_line(event, TAIL_WIDTH), width=TAIL_WIDTH)

    def replace(self, events: Iterable[Event]) -> None:
        self.clear()
        self.append(events)


class ProcessTree(Tree[str]):
    """The runtime's supervision tree: every process, its state and its queue depth.

    Rebuilt only when something shown changed; nodes the user collapsed stay collapsed.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("soma", id=id)
        self.show_root = False
        self._structure: tuple[Any, ...] | None = None
        self._by_pid: dict[str, TreeNode[str]] = {}
        self._collapsed: set[str] = set()

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[str]) -> None:
        if event.node.data is not None:
            self._collapsed.add(event.node.data)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        if event.node.data is not None:
            self._collapsed.discard(event.node.data)

    def show(self, roots: Sequence[ProcessView] | None, names: dict[str, str], note: str) -> None:
        """``names``: what to call a process by pid (runs and sessions have no registered
        name); ``note``: what to say when there is no tree (``roots`` is None)."""
        lines: list[tuple[int, str, Text]] = []
        for root in roots or ():
            _flatten(root, 0, names, lines)
        structure = (note,) if roots is None else tuple((depth, pid) for depth, pid, _ in lines)
        if structure == self._structure:
            # The same processes in the same places: relabel (states and queue depths move
            # all the time) without rebuilding, so the cursor stays put.
            for _, pid, label in lines:
                node = self._by_pid[pid]
                if node.label != label:
                    node.set_label(label)
            return
        self._structure = structure
        self._by_pid = {}
        self.clear()
        if roots is None:
            self.root.add_leaf(Text(note, style="dim italic"))
            return
        parents = [self.root]
        for index, (depth, pid, label) in enumerate(lines):
            del parents[depth + 1 :]
            has_children = index + 1 < len(lines) and lines[index + 1][0] > depth
            node = parents[depth].add(
                label, data=pid, expand=pid not in self._collapsed, allow_expand=has_children
            )
            self._by_pid[pid] = node
            parents.append(node)


def _flatten(view: ProcessView, depth: int, names: dict[str, str], out: list[tuple[int, str, Text]]) -> None:
    out.append((depth, view["pid"], _process_label(view, names)))
    for child in view["children"]:
        _flatten(child, depth + 1, names, out)


def _process_label(view: ProcessView, names: dict[str, str]) -> Text:
    """``name · kind · pid · status:state · q=N · ⟳ message`` (the help screen says what each
    part means). A pid is shown without the registered name the line already starts with."""
    label = Text(no_wrap=True, overflow="ellipsis")
    label.append(names.get(view["pid"]) or view["name"] or view["module"], style="bold")
    label.append(f" · {view['behaviour']} · {_bare_pid(view['pid'])}", style="dim")
    state = _format.process_state(view["state"])
    label.append(f" · {view['status']}" + (f":{state}" if state else ""))
    depth = view["queue_depth"]
    label.append(f" · q={depth}", style="bold red" if depth else "dim")
    if view["current_message"]:
        label.append(f" · ⟳ {_format.clip(view['current_message'], 40)}", style="yellow")
    return label


def _bare_pid(pid: str) -> str:
    """``<0.2.0 soma.event_store>`` → ``<0.2.0>``."""
    number, _, _ = pid.removeprefix("<").removesuffix(">").partition(" ")
    return f"<{number}>"
