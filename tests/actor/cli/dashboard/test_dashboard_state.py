"""What the dashboard folds from events (pure: no runtime, no app), and how it writes it."""

from __future__ import annotations

import itertools
from typing import Any

from soma_actor.cli.dashboard import _format
from soma_actor.cli.dashboard.state import HISTORY, MAX_FINISHED_RUNS, DashboardState
from soma_runtime import Event
from soma_runtime.control.protocol import RunView

_seq = itertools.count(1)


def ev(type_: str, payload: dict[str, Any] | None = None, **ids: Any) -> Event:
    seq = next(_seq)
    return Event(seq=seq, event_id=f"ev-{seq}", ts=seq * 1_000_000, type=type_, payload=payload or {}, **ids)


def run_events(run_id: str, session_id: str = "sess-1", agent_id: str | None = "research") -> list[Event]:
    ids = {"run_id": run_id, "session_id": session_id, "agent_id": agent_id}
    steps = [{"id": "s1", "tool": "echo"}, {"id": "s2", "tool": "hold"}]
    return [
        ev("run.accepted", {"steps": steps}, **ids),
        ev("run.started", {"steps": steps}, **ids),
        ev("step.started", {"tool": "echo"}, step_id="s1", **ids),
        ev("tool.started", {"tool": "echo"}, step_id="s1", **ids),
        ev("tool.succeeded", {"tool": "echo"}, step_id="s1", **ids),
        ev("step.succeeded", {"output": 1}, step_id="s1", **ids),
        ev("step.started", {"tool": "hold"}, step_id="s2", **ids),
        ev("tool.started", {"tool": "hold"}, step_id="s2", **ids),
    ]


def test_a_runs_state_and_step_follow_its_events() -> None:
    state = DashboardState()
    events = run_events("run-1")
    seen = []
    for event in events:
        state.apply([event])
        seen.append(state.runs["run-1"].state)
    assert seen == [
        "accepted",
        "executing",
        "executing",
        "waiting_tool",
        "executing",
        "executing",
        "executing",
        "waiting_tool",
    ]
    row = state.runs["run-1"]
    assert (row.step_id, row.step_index, row.steps, row.tool) == ("s2", 1, 2, "hold")
    assert row.agent_id == "research" and not row.terminal

    ids = {"run_id": "run-1", "session_id": "sess-1"}
    state.apply([ev("run.cancelled", {"reason": "step 's2' (hold): cancelled"}, **ids)])
    assert row.state == "cancelled" and row.terminal and row.note == "step 's2' (hold): cancelled"
    # Nothing after the end changes how it ended.
    state.apply([ev("step.failed", {"error": "late"}, step_id="s2", **ids)])
    assert row.state == "cancelled"
    assert state.last_seq == events[-1].seq + 2
    assert [e.type for e in state.tail][-2:] == ["run.cancelled", "step.failed"]


def test_an_event_without_an_agent_takes_its_sessions_agent() -> None:
    state = DashboardState()
    state.apply([ev("session.started", {}, session_id="sess-9", agent_id="scout")])
    state.apply(run_events("run-9", session_id="sess-9", agent_id=None))
    assert state.runs["run-9"].agent_id == "scout"
    assert list(state.agents) == ["scout"]


def vitals(agent: str, pressure: float, mode: str, **extra: Any) -> Event:
    signals = {"uncertainty": 0.1, "drift": 0.2, "error_rate": 0.9, "token_usage": 0.0, "cost": 0.0}
    payload = {
        "agent_id": agent,
        "pressure": pressure,
        "effective_pressure": extra.pop("effective", pressure),
        "mode": mode,
        "signals": {"uncertainty": 3.0, "drift": 0.5, "error_rate": 1.0, "token_usage": 900.0, "cost": 0.01},
        "signal_pressures": signals,
        **extra,
    }
    return ev("vitals.updated", payload, agent_id=agent)


def test_vitals_give_each_agent_its_pressure_mode_signals_and_a_bounded_history() -> None:
    state = DashboardState()
    state.apply(vitals("builder", 0.1 * (i % 10), "observe", action=i) for i in range(HISTORY + 5))
    state.apply([vitals("builder", 0.3, "guide", effective=0.55, action=99)])
    row = state.agents["builder"]
    assert (row.pressure, row.own_pressure, row.mode, row.actions) == (0.55, 0.3, "guide", 99)
    assert row.signals == {
        "uncertainty": 0.1,
        "drift": 0.2,
        "error_rate": 0.9,
        "token_usage": 0.0,
        "cost": 0.0,
    }
    assert len(row.history) == HISTORY and row.history[-1] == 0.55

    state.apply(
        [ev("guidance.fired", {"agent_id": "builder", "pattern": "error_cascade", "message": "step back"})]
    )
    assert row.guidance == 1
    [firing] = state.guidance_rows()
    assert (firing.agent_id, firing.pattern, firing.message) == ("builder", "error_cascade", "step back")


def view(run_id: str, state: str, step_id: str | None = None, index: int | None = None) -> RunView:
    return {
        "run_id": run_id,
        "state": state,
        "live": True,
        "session_id": "sess-1",
        "agent_id": "research",
        "pid": "<0.9.0>",
        "step_id": step_id,
        "step_index": index,
        "steps": 2,
        "tool_call_id": None,
        "error": None,
    }


def test_the_runtimes_view_of_live_runs_overlays_the_log() -> None:
    state = DashboardState()
    state.apply(run_events("run-a")[:2])  # the log has reached run.started only
    state.apply([*run_events("run-b")[:2], ev("run.completed", {}, run_id="run-b")])
    state.overlay_live(
        [view("run-a", "waiting_tool", "s1", 0), view("run-b", "executing"), view("run-c", "executing")]
    )
    a, b, c = state.runs["run-a"], state.runs["run-b"], state.runs["run-c"]
    assert (a.state, a.step_id, a.step_index, a.live) == ("waiting_tool", "s1", 0, True)
    assert (b.state, b.live) == ("completed", False), "an end in the log outranks an older listing"
    assert (c.state, c.agent_id, c.live) == ("executing", "research", True), "a run older than the log window"
    state.overlay_live([])
    assert not a.live and not c.live


def test_runs_are_listed_live_first_newest_first_and_finished_ones_are_bounded() -> None:
    state = DashboardState()
    for n in range(MAX_FINISHED_RUNS + 3):
        state.apply([ev("run.started", {}, run_id=f"done-{n}"), ev("run.completed", {}, run_id=f"done-{n}")])
    state.apply([ev("run.started", {}, run_id="old-live")])
    state.apply([ev("run.started", {}, run_id="new-live")])
    rows = state.run_rows()
    assert [r.run_id for r in rows[:3]] == ["new-live", "old-live", f"done-{MAX_FINISHED_RUNS + 2}"]
    assert len(rows) == MAX_FINISHED_RUNS + 2, "the oldest finished runs were dropped, no live one"
    assert "done-0" not in state.runs and "done-3" in state.runs


def test_filters_match_ids_and_types_case_insensitively() -> None:
    state = DashboardState()
    state.apply(run_events("run-x", agent_id="Builder"))
    state.apply(run_events("run-y", session_id="sess-2", agent_id="scout"))
    assert [r.run_id for r in state.run_rows("builder")] == ["run-x"]
    assert [r.run_id for r in state.run_rows("waiting")] == ["run-y", "run-x"]
    assert [a.agent_id for a in state.agent_rows("sco")] == ["scout"]
    assert state.agents["scout"].pressure is None, "listed before its first vitals"
    assert {e.run_id for e in state.tail_events("run-y")} == {"run-y"}
    assert all(e.type == "tool.started" for e in state.tail_events("tool.started"))
    state.apply([vitals("scout", 0.2, "observe")])
    assert len(state.tail_events("scout", vitals=False)) == 8, "vitals.updated left out on request"
    assert len(state.tail_events("scout")) == 9


def test_formats() -> None:
    assert _format.sparkline([0.0, 0.5, 1.0, 2.0, -1.0], 4) == "▅██▁"
    assert _format.sparkline([0.2] * 30, 12) == "▂" * 12
    assert _format.pressure(None) == "-" and _format.pressure(0.456) == "0.46"
    assert _format.process_state("<RunState.WAITING_TOOL: 'waiting_tool'>") == "waiting_tool"
    assert _format.process_state("idle") == "idle" and _format.process_state(None) is None
    assert [_format.offset(ns) for ns in (0, 12_345_000, 4_210_000_000, 125_000_000_000)] == [
        "+0.0ms",
        "+12.3ms",
        "+4.21s",
        "+2m05s",
    ]
    assert _format.clip("a  b\nc", 10) == "a b c" and _format.clip("abcdef", 4) == "abc…"
    step = ev("step.started", {"tool": "echo", "args": {"value": [1, 2]}}, run_id="run-1")
    assert _format.detail(step) == "echo value=[1,2]"
    failed = ev("run.failed", {"error": "boom"}, run_id="run-1")
    assert _format.detail(failed) == "boom"
    assert _format.detail(ev("tool.started", {"unexpected": True})) == "?", "an odd payload still reads"
    line = _format.event_line(failed).plain
    assert line.split() == [str(failed.seq), "run.failed", "run-1", "boom"]
