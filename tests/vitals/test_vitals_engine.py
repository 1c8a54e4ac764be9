"""The engine as a whole: determinism (also across processes), state export → import →
continue, seq handling, never feeding on its own output, trust propagation, payloads that the
core event models accept, and the snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _vitals_events import INTENT, Log, firings, healthy_cycles, pressures, run

from soma_runtime.store._query import EventQuery
from soma_runtime.store.events import Event, prepare_event
from soma_runtime.vitals import (
    DEFAULT_BASELINES,
    SIGNALS,
    AgentVitals,
    GuidanceFiring,
    Mode,
    PressureUpdate,
    SignalReading,
    TrustGraph,
    VitalsConfig,
    VitalsEngine,
    aggregate,
)
from soma_runtime.vitals.config import ADDED_IN_2

HERE = Path(__file__).parent


def rich_log() -> Log:
    """Two agents in two sessions (one with a budget), retries, a storm, writes, failures, a
    session without intent, a tool call still open at the end, and a session that stops."""
    log = Log()
    log.start_session(INTENT, budget={"tokens": 60_000, "cost_usd": 0.5})
    log.start_session(None, session_id="s-2", agent_id="helper")
    log.add(
        "actor.task.started", {"prompt": "Review the parser changes"}, session_id="s-2", agent_id="helper"
    )
    healthy_cycles(log, 6)
    for i in range(6):
        log.llm("Reviewing the parser diff.", session_id="s-2", agent_id="helper", input_tokens=900 + i)
        log.tool("file_read", {"path": "parser.py"}, session_id="s-2", agent_id="helper")
        log.llm("Maybe the network is down? Let me try again.", input_tokens=3000 + 700 * i)
        log.command("pip_install", {"package": "parserlib"}, failed=True, error="connection refused")
    log.tool("file_write", {"path": "parser.py", "content": "x"}, session_id="s-2", agent_id="helper")
    log.add("vitals.updated", {"pressure": 0.5, "mode": "warn", "signals": {}})
    healthy_cycles(log, 4, start=2)
    log.add("session.stopped", {"reason": "normal"}, session_id="s-2", agent_id="helper")
    log.llm("Done with the review.", session_id="s-2", agent_id="helper")
    log.add("tool.started", {"tool": "file_read", "args": {"path": "late.py"}}, tool_call_id="open-call")
    return log


def trust() -> TrustGraph:
    return TrustGraph([("agent-1", "helper", 0.8)])


def test_same_events_give_identical_updates() -> None:
    events = rich_log().events
    first = VitalsEngine(trust=trust()).observe_many(events)
    second = VitalsEngine(trust=trust()).observe_many(events)
    assert first == second
    assert [u.payload() for u in first] == [u.payload() for u in second]
    assert any(isinstance(u, GuidanceFiring) for u in first)


def test_bit_identical_across_processes_and_hash_seeds() -> None:
    """``hash()`` is salted per process; the engine must not depend on it anywhere."""
    script = (
        "import json, sys\n"
        "from test_vitals_engine import rich_log, trust\n"
        "from soma_runtime.vitals import VitalsEngine\n"
        "updates = VitalsEngine(trust=trust()).observe_many(rich_log().events)\n"
        "json.dump([u.payload() for u in updates], sys.stdout)\n"
    )
    expected = [u.payload() for u in VitalsEngine(trust=trust()).observe_many(rich_log().events)]
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == expected


def test_state_export_import_continues_exactly() -> None:
    events = rich_log().events
    whole = VitalsEngine(trust=trust())
    expected = [whole.observe(e) for e in events]
    for cut in range(0, len(events) + 1, 7):
        engine = VitalsEngine(trust=trust())
        engine.observe_many(events[:cut])
        state = json.loads(json.dumps(engine.state()))  # it must survive JSON as is
        resumed = VitalsEngine.from_state(state)
        assert resumed.state() == engine.state()
        assert [resumed.observe(e) for e in events[cut:]] == expected[cut:], f"cut at {cut}"
        assert resumed.snapshot() == whole.snapshot()


def test_state_carries_config_and_trust() -> None:
    config = VitalsConfig(alpha=0.1, window=8, prices={})
    engine = VitalsEngine(config, trust=trust())
    resumed = VitalsEngine.from_state(json.loads(json.dumps(engine.state())))
    assert resumed.config == config and resumed.trust.edges() == [("agent-1", "helper", 0.8)]
    with pytest.raises(ValueError, match="version"):
        VitalsEngine.from_state({**engine.state(), "version": 99})


def test_events_at_or_below_the_last_seq_are_ignored() -> None:
    events = rich_log().events
    engine = VitalsEngine()
    engine.observe_many(events[:30])
    assert engine.last_seq == 30
    state = engine.state()
    assert engine.observe_many(events[:30]) == []  # re-delivered after a restart: no effect
    assert engine.state() == state
    fresh = VitalsEngine()
    fresh.observe_many(events[:30])
    assert engine.observe_many(events[20:]) == fresh.observe_many(events[30:])


def test_own_output_and_agentless_events_are_not_fed_on() -> None:
    log = Log()
    log.llm("Working on it.")
    engine = VitalsEngine()
    engine.observe_many(log.events)
    before = engine.state()
    for update in run(log.events):
        kind = update.event_type
        assert engine.observe(log.add(kind, update.payload())) == []
    log.llm("No agent here.", agent_id=None)
    assert engine.observe(log.events[-1]) == []
    log.add("tool.failed", {"tool": "x", "error": "e"}, agent_id=None)
    assert engine.observe(log.events[-1]) == []
    assert {**engine.state(), "last_seq": 0} == {**before, "last_seq": 0}


def test_only_actions_produce_updates_one_pressure_update_first() -> None:
    log = Log()
    log.start_session(INTENT)
    for kind in ("run.started", "step.started", "llm.started", "llm.timeout", "supervisor.shutdown"):
        log.add(kind, {})
    log.add("tool.started", {"tool": "file_read", "args": {"path": "a"}}, tool_call_id="c1")
    assert run(log.events) == []
    log.add("tool.succeeded", {"tool": "file_read", "output": "x"}, tool_call_id="c1")
    (update,) = run(log.events)
    assert isinstance(update, PressureUpdate) and update.action == 1 and update.seq == log.events[-1].seq


def test_a_tool_end_without_its_start_still_counts() -> None:
    log = Log()
    log.add("tool.failed", {"tool": "make", "error": "boom", "isolation": "command", "args": {"t": 1}})
    log.add("tool.failed", {"tool": "make", "error": "boom", "isolation": "command", "args": {"t": 1}})
    assert len(pressures(run(log.events))) == 2
    assert firings(run(log.events), "bash_retry")  # the terminal payload's args and isolation


def test_trust_leaks_pressure_to_the_dependant() -> None:
    log = Log()
    log.start_session(INTENT)
    log.llm("Reviewing.", agent_id="reviewer")
    healthy_cycles(log, 12)
    for _ in range(6):
        log.llm("Maybe it is the network? I'm not sure, perhaps try again.", input_tokens=9000)
        log.command("pip_install", {"package": "x"}, failed=True, error="connection refused")
    updates = run(log.events, VitalsEngine(trust=TrustGraph([("agent-1", "reviewer", 1.0)])))
    theirs = [u for u in pressures(updates) if u.agent_id == "reviewer"]
    mine = {u.seq: u for u in pressures(updates) if u.agent_id == "agent-1"}
    leaked = [u for u in theirs if u.seq in mine]  # updates caused by agent-1's actions
    assert leaked and all(u.action == 1 for u in leaked)  # its own state did not move
    top = max(leaked, key=lambda u: u.effective_pressure)
    assert top.effective_pressure == pytest.approx(0.6 * mine[top.seq].pressure)
    assert top.effective_pressure > top.pressure and top.mode is Mode.for_pressure(top.effective_pressure)
    assert firings(updates, "pressure") and any(
        f.agent_id == "reviewer" for f in firings(updates, "pressure")
    )


def test_payloads_are_accepted_by_the_core_models_and_survive_the_store_round_trip() -> None:
    for update in run(rich_log().events, VitalsEngine(trust=trust())):
        prepared = prepare_event(update.event_type, update.payload(), {"agent_id": update.agent_id})
        assert json.loads(prepared.payload_json) == update.payload()


def test_pressure_update_shape() -> None:
    log = Log()
    log.llm("Looking.")
    (update,) = pressures(run(log.events))
    payload = update.payload()
    assert set(payload) == {
        "agent_id", "session_id", "cause_seq", "action", "pressure", "effective_pressure", "mode",
        "signals", "z", "signal_pressures",
    }  # fmt: skip
    assert list(payload["signals"]) == list(SIGNALS)
    # A model call only: no call that could fail yet, no intent — two signals without a
    # reading, left out of the aggregate and of the payload's z and pressures.
    assert update.signals["error_rate"] == SignalReading(0.0, 0.0, 0.0, measured=False)
    assert list(payload["z"]) == list(payload["signal_pressures"]) == ["uncertainty", "token_usage", "cost"]
    assert update.pressure == aggregate(payload["signal_pressures"].values())
    with pytest.raises(AttributeError):
        update.pressure = 1.0  # type: ignore[misc]


def test_snapshot() -> None:
    log = rich_log()
    engine = VitalsEngine(trust=trust())
    updates = engine.observe_many(log.events)
    snapshot = engine.snapshot()
    assert set(snapshot) == {"agent-1", "helper"}
    last = next(u for u in reversed(updates) if isinstance(u, PressureUpdate) and u.agent_id == "agent-1")
    assert snapshot["agent-1"] == AgentVitals(
        "agent-1",
        "session-1",
        last.action,
        last.seq,
        last.pressure,
        last.effective_pressure,
        last.mode,
        last.signals,
    )


def test_memory_stays_bounded_on_open_tool_calls() -> None:
    engine = VitalsEngine()
    for seq in range(1, 6001):
        engine.observe(
            Event(
                seq=seq,
                event_id=str(seq),
                ts=seq,
                type="tool.started",
                tool_call_id=f"c{seq}",
                payload={"tool": "t"},
            )
        )
    assert len(engine.state()["pending"]) == 4096


def test_only_signals_with_a_reading_make_the_pressure() -> None:
    """Native runs of a failing command: no model call, so no tokens and no cost to judge.
    Averaging their zeros in would cap a storm at 0.72 (3 of 5 signals): it is 2 of 2."""
    log = Log()
    log.start_session(INTENT)
    for _ in range(12):
        log.command("install", {}, failed=True, error="exit status 2: could not resolve host")
    last = pressures(run(log.events))[-1]
    assert last.measured == (True, False, True, False, False)  # one call, over and over: no drift
    assert last.pressures[0] == last.pressures[2] == 1.0
    assert last.pressure == 1.0 and last.mode is Mode.BLOCK


def test_drift_starts_afresh_with_each_new_intent() -> None:
    log = Log()
    log.start_session("Summarise the quarterly revenue report for the board")
    for i in range(40):  # its work shares next to nothing with this intent: that is its normal
        log.tool("file_read", {"path": f"src/parser{i % 7}.py"})
    engine = VitalsEngine()
    engine.observe_many(log.events)
    drift = SIGNALS.index("drift")
    assert engine._agents["agent-1"].baseline.mean[drift] > 0.9
    log.start_session("Fix the parser", session_id="s-2")
    log.tool("file_read", {"path": "src/parser1.py"}, session_id="s-2")
    engine.observe_many(log.events[-3:])
    baseline = engine._agents["agent-1"].baseline
    assert baseline.n[drift] == 1 and baseline.mean[drift] < 0.6  # from the prior again


def test_nothing_is_learnt_while_the_agent_is_stuck() -> None:
    """From the second identical failure on (a stuck call in the window), no signal learns —
    not even from the model calls in between, whose growing context is the storm's."""

    def baseline_after(retries: int) -> tuple[list[float], list[float]]:
        log = Log()
        log.start_session(INTENT)
        healthy_cycles(log, 20)
        for i in range(retries):
            log.llm("Running the build again.", input_tokens=2000 + 400 * i)
            log.command("build", {}, failed=True, error="exit status 1")
        engine = VitalsEngine()
        engine.observe_many(log.events)
        baseline = engine._agents["agent-1"].baseline
        return baseline.mean, baseline.var

    assert baseline_after(1) != baseline_after(0)  # the first failure is not a retry yet
    assert baseline_after(2) == baseline_after(10) == baseline_after(40)


def test_config_json_round_trip_older_configs_and_unknown_fields() -> None:
    config = VitalsConfig(control_limit=3.5, anchor=0.5, sigma_max=1.1, scale_floor=0.3)
    assert VitalsConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    # A config saved before the learning rule of state version 2 loads, taking the new defaults.
    older = {k: v for k, v in VitalsConfig().to_json().items() if k not in ADDED_IN_2}
    assert VitalsConfig.from_json(older) == VitalsConfig()
    with pytest.raises(ValueError, match=r"unknown field.*'cusum_h'"):
        VitalsConfig.from_json({**VitalsConfig().to_json(), "cusum_h": 5})
    with pytest.raises(ValueError, match="control_limit"):
        VitalsConfig(control_limit=-1.0)
    with pytest.raises(ValueError, match="token_usage"):
        VitalsConfig(baselines={**DEFAULT_BASELINES, "token_usage": (0.0, 1.0)})


def test_an_engine_fed_only_its_observed_types_gives_the_same_updates() -> None:
    """``observed_types`` is exact: a follower that reads only those (the monitor does)
    gets the very updates an engine fed every event gets — the rest only move ``last_seq``."""
    log = Log()
    log.add("actor.task.started", {"prompt": INTENT})
    log.add("run.accepted", {"plan": []}, run_id="r1")
    for i in range(40):
        log.add("step.started", {"tool": "pytest", "args": {}}, run_id="r1", step_id=f"s{i}")
        if i % 3 == 0:
            log.llm("I am not sure; maybe the parser, or perhaps the tests are wrong.")
        log.command("pytest", {"cmd": "pytest -x"}, failed=i > 12, run_id="r1")
        log.add("step.failed" if i > 12 else "step.succeeded", {}, run_id="r1", step_id=f"s{i}")
        log.add("vitals.updated", {"pressure": 0.1}, run_id="r1")
    log.add("run.failed", {"error": "gave up"}, run_id="r1")
    every = VitalsEngine()
    wanted = EventQuery(type=VitalsEngine().observed_types)
    chosen = VitalsEngine()
    kept = [e for e in log.events if wanted.matches(e)]
    assert len(kept) < len(log.events) // 2 + 1  # most of a run's events are nothing to it
    assert chosen.observe_many(kept) == every.observe_many(log.events)
    assert chosen.snapshot() == every.snapshot()
