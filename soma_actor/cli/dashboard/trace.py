"""The trace screen: every event of one run, in order, following it while it is live.

Times are offsets from the run's first event, read from the events themselves (never the
clock), so a trace reads the same today and next week.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from soma_runtime import Event

from . import _format

if TYPE_CHECKING:
    from .source import DashboardSource

COLUMNS: Final = (("seq", 5), ("time", 8), ("event", 14), ("step", 10))
MIN_DETAIL_WIDTH: Final = 24
DETAIL_LIMIT: Final = 600
"""Characters of an event's detail shown (an output can be long; the store has it all)."""
SCROLLBAR: Final = 2


class TraceScreen(Screen[None]):
    """One run's events; ``escape`` (or ``q``) goes back to the dashboard."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    DEFAULT_CSS = """
    TraceScreen #trace { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, source: DashboardSource, run_id: str, interval: float) -> None:
        super().__init__()
        self.source = source
        self.run_id = run_id
        self.interval = interval
        self.sub_title = run_id
        self._first_ts: int | None = None
        self._after = 0

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[str | Text] = DataTable(id="trace", cursor_type="row")
        yield table
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one("#trace", DataTable)
        # The detail takes what the other columns leave and wraps inside it: a trace is
        # read line by line, and an error cut at the screen's edge would be no use.
        fixed = sum(width for _, width in COLUMNS)
        padding = 2 * table.cell_padding * (len(COLUMNS) + 1)
        detail = max(MIN_DETAIL_WIDTH, self.app.size.width - fixed - padding - SCROLLBAR)
        for key, width in (*COLUMNS, ("detail", detail)):
            table.add_column(key, key=key, width=width)
        await self.follow()
        self.set_interval(self.interval, self.follow)

    async def follow(self) -> None:
        """Add the run's events that are new since the last look."""
        events = await self.source.trace(self.run_id, self._after)
        if not events or not self.is_running:
            return  # nothing new, or the screen was closed while the query ran
        table = self.query_one("#trace", DataTable)
        for event in events:
            table.add_row(*self._cells(event), key=str(event.seq), height=None)
        self._after = events[-1].seq

    def _cells(self, event: Event) -> tuple[str | Text, ...]:
        if self._first_ts is None:
            self._first_ts = event.ts
        return (
            str(event.seq),
            _format.offset(event.ts - self._first_ts),
            Text(event.type, style=_format.type_style(event.type)),
            event.step_id or "",
            _format.clip(_format.detail(event), DETAIL_LIMIT),
        )
