"""Detail views, opened with ``enter`` on a row: everything about one run, one agent or one
guidance firing that a table's row has no room for.

- A run: where it ran (agent, session, task), its state, the whole error, and each step with
  its outcome — read from the log. ``t`` opens its trace, ``c`` cancels it (asking first).
- An agent: its mode and pressures, each signal's pressure as a bar, and its pressure
  trajectory as a chart over its recorded ``vitals.updated`` (``_plot``); its latest guidance.
- A guidance firing: the whole message, and every field the monitor recorded with it.

Each is a modal screen over the dashboard; ``escape`` (or ``q``, or ``enter``) closes it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from soma_runtime.vitals import SIGNALS

from . import _format, _plot

if TYPE_CHECKING:
    from soma_runtime import Event

    from .source import DashboardSource
    from .state import AgentRow, GuidanceRow, RunRow

TRAJECTORY: Final = 400
"""Newest ``vitals.updated`` events read for an agent's chart (a chart shows fewer)."""
BAR: Final = 20


class DetailScreen(ModalScreen[str | None]):
    """A framed, scrollable text over the dashboard; dismissed with the key that closed it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("enter", "close", "Close", show=False),
    ]

    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > VerticalScroll {
        width: 90%;
        max-width: 120;
        height: auto;
        max-height: 90%;
        border: round $primary;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    DetailScreen .keys { color: $text-muted; margin-top: 1; }
    """

    KEYS = "esc close"

    def __init__(self, title: str, source: DashboardSource) -> None:
        super().__init__()
        self.title_text = title
        self.source = source
        self.body = Static(Text("reading…", style="dim italic"), id="body")

    def compose(self) -> ComposeResult:
        frame = VerticalScroll(id="frame")
        frame.border_title = self.title_text
        frame.can_focus = False
        with frame:
            yield self.body
            yield Static(self.KEYS, classes="keys")

    async def on_mount(self) -> None:
        self.body.update(await self.content())

    async def content(self) -> Text:
        raise NotImplementedError

    def action_close(self) -> None:
        self.dismiss(None)

    @property
    def width(self) -> int:
        """Columns for the content (the frame's, less its border and padding)."""
        return max(20, min(120, int(self.app.size.width * 0.9)) - 4)


class RunDetail(DetailScreen):
    """One run: where, how it ended (the whole error), and its steps."""

    BINDINGS = [
        *DetailScreen.BINDINGS,
        Binding("t", "choose('trace')", "Trace"),
        Binding("c", "choose('cancel')", "Cancel run"),
    ]
    KEYS = "t trace · c cancel · esc close"

    def __init__(self, source: DashboardSource, row: RunRow) -> None:
        super().__init__(f"run {row.run_id}", source)
        self.row = row

    def action_choose(self, what: str) -> None:
        self.dismiss(what)

    async def content(self) -> Text:
        row = self.row
        events = await self.source.trace(row.run_id)
        text = Text()
        where = [f"agent {row.agent_id or '?'}"]
        where += [f"session {row.session_id}"] if row.session_id else []
        where += [f"task {row.task_id}"] if row.task_id else []
        text.append(" · ".join(where) + "\n")
        text.append("state ")
        text.append_text(_format.state(row.state))
        if row.live:
            text.append(" (live)", style="dim")
        if events:
            text.append(f" · {_format.offset(events[-1].ts - events[0].ts).lstrip('+')} from accepted")
        text.append("\n")
        if row.note:
            text.append("\nwhy it ended\n", style="bold")
            text.append(row.note + "\n", style="red" if row.state in ("failed", "timeout") else "")
        steps = _steps(events)
        if steps:
            text.append("\nsteps\n", style="bold")
            text.append_text(steps)
        return text


def _steps(events: list[Event]) -> Text:
    lines = Text()
    tools: dict[str, str] = {}
    for event in events:
        p, step = event.payload, event.step_id or ""
        if event.type == "step.started":
            tools[step] = str(p.get("tool", "?"))
            args = "".join(f" {k}={_compact(v)}" for k, v in (p.get("args") or {}).items())
            lines.append(f"  · {step} {tools[step]}{args}\n")
        elif event.type == "step.succeeded":
            lines.append(f"  ✓ {step} → {_compact(p.get('output'))}\n", style="green")
        elif event.type == "step.failed":
            lines.append(f"  ✗ {step}: {p.get('error', '')}\n", style="red")
        elif event.type == "tool.blocked":
            lines.append(f"  ⊘ {step} {p.get('tool', '?')} refused: {p.get('reason', '')}\n", style="red")
    return lines


class AgentDetail(DetailScreen):
    """One agent: pressure and mode, each signal, the trajectory as a chart, its guidance."""

    def __init__(self, source: DashboardSource, row: AgentRow, guidance: list[GuidanceRow]) -> None:
        super().__init__(f"agent {row.agent_id}", source)
        self.row = row
        self.guidance = [g for g in guidance if g.agent_id == row.agent_id]

    async def content(self) -> Text:
        row = self.row
        text = Text()
        text.append_text(_format.mode(row.mode))
        text.append(f"  p={_format.pressure(row.pressure)}")
        if row.own_pressure is not None and row.own_pressure != row.pressure:
            text.append(f" (own {_format.pressure(row.own_pressure)}, raised by the agents it trusts)")
        text.append(f"  · {row.actions} actions · {row.guidance} guidance fired\n\n")
        for name in SIGNALS:
            value = row.signals.get(name)
            filled = round((value or 0.0) * BAR)
            text.append(f"{name:<12} {_format.pressure(value):>5} ")
            text.append("█" * filled, style=_format.MODE_STYLES.get(row.mode or "", ""))
            text.append("·" * (BAR - filled) + "\n", style="dim")
        points = await self.source.trajectory(row.agent_id, TRAJECTORY)
        text.append("\npressure, one column per action (the rows are the mode bands)\n", style="bold")
        text.append_text(_plot.trajectory(points, self.width))
        text.append("\n")
        if self.guidance:
            last = self.guidance[-1]
            text.append(f"\nlatest guidance (#{last.seq}, {last.pattern})\n", style="bold")
            text.append(last.message + "\n")
        return text


class GuidanceDetail(DetailScreen):
    """One guidance firing: the whole message, and what else the monitor recorded with it."""

    def __init__(self, source: DashboardSource, row: GuidanceRow) -> None:
        super().__init__(f"guidance #{row.seq} · {row.pattern}", source)
        self.row = row

    async def content(self) -> Text:
        row = self.row
        text = Text()
        text.append(f"agent {row.agent_id} · ")
        text.append_text(_format.mode(row.mode))
        text.append(f" · pressure {_format.pressure(row.pressure)}\n\n")
        text.append(row.message + "\n")
        event = await self.source.event(row.seq)
        if event is not None:
            shown = ("message", "agent_id", "pattern", "mode", "pressure")
            rest = {k: v for k, v in event.payload.items() if k not in shown}
            if rest:
                text.append("\nrecorded with it\n", style="bold")
                for key, value in rest.items():
                    text.append(f"  {key}: {_compact(value)}\n")
        return text


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
