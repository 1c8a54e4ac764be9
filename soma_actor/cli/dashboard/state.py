"""What the dashboard shows, folded from the event log: agents, runs, guidance, outcomes, the tail.

``DashboardState.apply(events)`` is pure and incremental — the source feeds it each batch of
new events once, in seq order, so a poll costs only what is new. Everything it keeps is
bounded (history per agent, finished runs, the tail, guidance), so a dashboard left open on
a busy runtime does not grow.

Live runs can also be overlaid from the control API (``overlay_live``): the runtime's own
view of where each live run is, which the log reaches a group commit later.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from soma_runtime import Event
from soma_runtime.control.protocol import RunView
from soma_runtime.execution.run_records import TERMINAL_EVENTS
from soma_runtime.vitals import SIGNALS
from soma_runtime.vitals.report import EXCLUDED_SOURCES, HORIZON

if TYPE_CHECKING:
    from soma_runtime.vitals.report import PatternReport

HISTORY: Final = 60
"""Pressure values kept per agent for its sparkline."""
MAX_FINISHED_RUNS: Final = 500
TAIL: Final = 500
GUIDANCE: Final = 200
OUTCOMES: Final = 50_000
"""Outcomes (at the report's horizon) kept for the outcomes tab: its verdicts are those of
``soma outcomes`` over the newest this many."""

TERMINAL_STATES: Final = frozenset(state.value for state in TERMINAL_EVENTS.values())

# Run state as the events tell it (the Run gen_statem's states, and "accepted" before it runs).
_RUN_STATE_OF: Final = {
    "run.accepted": "accepted",
    "run.started": "executing",
    "run.resumed": "executing",
    "run.suspended": "suspended",  # stopped with its runtime; the next open resumes it
    "step.started": "executing",
    "tool.started": "waiting_tool",
    "tool.succeeded": "executing",
    "tool.failed": "executing",
    "tool.blocked": "executing",
    "step.succeeded": "executing",
    "step.failed": "executing",
    **{type_: state.value for type_, state in TERMINAL_EVENTS.items()},
}


@dataclass
class AgentRow:
    agent_id: str
    pressure: float | None = None
    """Effective pressure (own, raised by the trust graph): the one the mode is cut from."""
    own_pressure: float | None = None
    mode: str | None = None
    signals: dict[str, float] = field(default_factory=dict)
    """Each signal's pressure in [0, 1], by name (what drives the aggregate)."""
    history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    actions: int = 0
    guidance: int = 0
    last_seq: int = 0

    def matches(self, needle: str) -> bool:
        return needle in self.agent_id.lower() or (self.mode is not None and needle == self.mode)


@dataclass
class RunRow:
    run_id: str
    first_seq: int
    agent_id: str | None = None
    session_id: str | None = None
    task_id: str | None = None
    state: str = "accepted"
    step_ids: tuple[str, ...] = ()
    step_id: str | None = None
    step_index: int | None = None
    """Zero-based index of the current (or last) step."""
    steps: int | None = None
    tool: str | None = None
    note: str | None = None
    """Why a run failed, was cancelled or timed out."""
    live: bool = False
    """Listed as live by the control API at the last poll."""
    last_seq: int = 0

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def matches(self, needle: str) -> bool:
        fields = (self.run_id, self.agent_id, self.session_id, self.task_id, self.state, self.tool)
        return any(needle in value.lower() for value in fields if value)


@dataclass(frozen=True, slots=True)
class GuidanceRow:
    seq: int
    agent_id: str
    pattern: str
    mode: str | None
    pressure: float | None
    message: str

    def matches(self, needle: str) -> bool:
        return any(needle in value.lower() for value in (self.agent_id, self.pattern, self.message))


def event_matches(event: Event, needle: str) -> bool:
    """Whether a filter (lower-cased text) matches an event's type or any of its ids."""
    if not needle:
        return True
    fields = (
        event.type,
        event.agent_id,
        event.run_id,
        event.session_id,
        event.task_id,
        event.step_id,
        event.correlation_id,
    )
    return any(needle in value.lower() for value in fields if value)


class DashboardState:
    def __init__(self) -> None:
        self.agents: dict[str, AgentRow] = {}
        self.runs: dict[str, RunRow] = {}
        self.tail: deque[Event] = deque(maxlen=TAIL)
        self.guidance: deque[GuidanceRow] = deque(maxlen=GUIDANCE)
        self.outcomes: deque[Mapping[str, Any]] = deque(maxlen=OUTCOMES)
        self._reports: list[PatternReport] | None = []  # None: to be recomputed
        self.last_seq = 0
        self._agent_of_session: dict[str, str] = {}

    # -- folding ----------------------------------------------------------------------------

    def apply(self, events: Iterable[Event]) -> None:
        for event in events:
            self._apply(event)
            self.tail.append(event)
            self.last_seq = max(self.last_seq, event.seq)
        self._prune_runs()

    def _apply(self, event: Event) -> None:
        agent_id = event.agent_id
        if agent_id is None and event.session_id is not None:
            agent_id = self._agent_of_session.get(event.session_id)
        if event.session_id is not None and event.agent_id is not None:
            self._agent_of_session[event.session_id] = event.agent_id
        if agent_id is not None:
            self._agent(agent_id)  # every agent the log mentions, with vitals or not yet
        if event.type == "vitals.updated":
            self._vitals(event, str(event.payload.get("agent_id") or agent_id or "?"))
        elif event.type == "guidance.fired":
            self._guidance(event, str(event.payload.get("agent_id") or agent_id or "?"))
        elif (
            event.type == "guidance.outcome"
            and event.payload.get("horizon") == HORIZON
            and event.source not in EXCLUDED_SOURCES
        ):
            self.outcomes.append(event.payload)
            self._reports = None
        if event.run_id is not None:
            self._run(event, agent_id)

    def _agent(self, agent_id: str) -> AgentRow:
        row = self.agents.get(agent_id)
        if row is None:
            row = self.agents[agent_id] = AgentRow(agent_id)
        return row

    def _vitals(self, event: Event, agent_id: str) -> None:
        payload = event.payload
        row = self._agent(agent_id)
        own = _number(payload.get("pressure"))
        effective = _number(payload.get("effective_pressure"))
        row.own_pressure = own
        row.pressure = effective if effective is not None else own
        row.mode = str(payload["mode"]) if payload.get("mode") is not None else None
        pressures = payload.get("signal_pressures")
        if isinstance(pressures, Mapping):
            row.signals = {name: v for name in SIGNALS if (v := _number(pressures.get(name))) is not None}
        action = payload.get("action")
        row.actions = action if isinstance(action, int) else row.actions + 1
        if row.pressure is not None:
            row.history.append(row.pressure)
        row.last_seq = event.seq

    def _guidance(self, event: Event, agent_id: str) -> None:
        payload = event.payload
        self._agent(agent_id).guidance += 1
        mode = payload.get("mode")
        self.guidance.append(
            GuidanceRow(
                event.seq,
                agent_id,
                str(payload.get("pattern") or "?"),
                str(mode) if mode is not None else None,
                _number(payload.get("pressure")),
                str(payload.get("message") or ""),
            )
        )

    def _run(self, event: Event, agent_id: str | None) -> None:
        run_id = event.run_id
        assert run_id is not None
        row = self.runs.get(run_id)
        if row is None:
            # The first event seen of a run may be a later one (the dashboard read only the
            # recent part of a long log): the row fills in from what follows.
            row = self.runs[run_id] = RunRow(run_id, event.seq)
        row.last_seq = event.seq
        row.agent_id = row.agent_id or agent_id
        row.session_id = row.session_id or event.session_id
        row.task_id = row.task_id or event.task_id
        if row.terminal:
            return  # nothing after the end changes how it ended
        new_state = _RUN_STATE_OF.get(event.type)
        if new_state is not None:
            row.state = new_state
        payload = event.payload
        if event.type in ("run.accepted", "run.started"):
            row.step_ids = _step_ids(payload.get("steps"))
            row.steps = len(row.step_ids)
        elif event.type == "step.started" and event.step_id is not None:
            row.step_id = event.step_id
            row.tool = str(payload.get("tool") or "") or None
            if event.step_id in row.step_ids:
                row.step_index = row.step_ids.index(event.step_id)
        if row.terminal:
            row.live = False
            reason = payload.get("error") or payload.get("reason")
            row.note = str(reason) if reason else None

    def _prune_runs(self) -> None:
        finished = [row for row in self.runs.values() if row.terminal]
        excess = len(finished) - MAX_FINISHED_RUNS
        if excess > 0:
            for row in sorted(finished, key=lambda r: r.last_seq)[:excess]:
                del self.runs[row.run_id]

    # -- the runtime's own view -------------------------------------------------------------

    def overlay_live(self, live: Iterable[RunView]) -> None:
        """Where each live run is, as the runtime itself says (``ControlClient.runs``)."""
        listed = set()
        for view in live:
            if not view["live"]:
                continue
            run_id = view["run_id"]
            listed.add(run_id)
            row = self.runs.get(run_id)
            if row is None:
                row = self.runs[run_id] = RunRow(run_id, self.last_seq + 1)
            if row.terminal:
                continue  # its end is already in the log; the listing is a moment older
            row.live = True
            row.state = view["state"]
            row.agent_id = row.agent_id or view["agent_id"]
            row.session_id = row.session_id or view["session_id"]
            if view["step_id"] is not None:
                row.step_id = view["step_id"]
                row.step_index = view["step_index"]
            if view["steps"] is not None:
                row.steps = view["steps"]
        for row in self.runs.values():
            if row.run_id not in listed:
                row.live = False

    # -- views ------------------------------------------------------------------------------

    def agent_rows(self, needle: str = "") -> list[AgentRow]:
        rows = sorted(self.agents.values(), key=lambda r: r.agent_id)
        return [r for r in rows if r.matches(needle)] if needle else rows

    def run_rows(self, needle: str = "") -> list[RunRow]:
        """Runs still going first, then finished ones; newest first within each."""
        rows = sorted(self.runs.values(), key=lambda r: (r.terminal, -r.first_seq))
        return [r for r in rows if r.matches(needle)] if needle else rows

    def guidance_rows(self, needle: str = "") -> list[GuidanceRow]:
        return [g for g in self.guidance if g.matches(needle)] if needle else list(self.guidance)

    def outcome_reports(self, needle: str = "") -> list[PatternReport]:
        """Per pattern, what ``soma outcomes`` says (recomputed only after new outcomes)."""
        if self._reports is None:
            from soma_runtime.vitals.report import outcome_report

            self._reports = outcome_report(self.outcomes)
        return [r for r in self._reports if needle in r.pattern.lower() or needle in r.verdict]

    def tail_events(self, needle: str = "", *, vitals: bool = True) -> list[Event]:
        return [e for e in self.tail if (vitals or e.type != "vitals.updated") and event_matches(e, needle)]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _step_ids(steps: Any) -> tuple[str, ...]:
    if not isinstance(steps, list):
        return ()
    return tuple(str(s["id"]) for s in steps if isinstance(s, dict) and "id" in s)
