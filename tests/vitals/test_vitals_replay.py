"""Replay: a recorded log through a fresh engine reproduces the recorded trajectory bit for bit.

The log is recorded the way the monitor records it: after each event, the engine's updates
are appended as ``vitals.updated`` / ``guidance.fired`` events with ``update.payload()`` as
payload, validated and JSON-encoded by the core append path, and read back from JSON."""

from __future__ import annotations

import json
import math

from _vitals_events import INTENT, Log, healthy_cycles
from test_vitals_engine import rich_log, trust

from soma_runtime.store.events import Event, prepare_event
from soma_runtime.vitals import (
    TrustGraph,
    VitalsEngine,
    first_divergence,
    recorded_trajectory,
    replay,
)


def record(source: list[Event], engine: VitalsEngine) -> list[Event]:
    log: list[Event] = []
    for event in source:
        event = event.model_copy(update={"seq": len(log) + 1})
        log.append(event)
        for update in engine.observe(event):
            kind = update.event_type
            ids = {"agent_id": update.agent_id, "session_id": update.session_id}
            prepared = prepare_event(kind, update.payload(), ids)
            seq = len(log) + 1
            stored = json.loads(prepared.row_json(seq))  # what the store writes and reads back
            log.append(Event(seq=seq, event_id=stored[1], ts=stored[2], type=kind, payload=stored[-1], **ids))
    return log


def storm_log() -> Log:
    log = Log()
    log.start_session(INTENT)
    healthy_cycles(log, 20)
    for i in range(10):
        log.llm("Maybe the mirror is down? I'm not sure; let me try again.", input_tokens=2000 + 500 * i)
        log.command("pip_install", {"package": "parserlib"}, failed=True, error="connection refused")
    healthy_cycles(log, 15)
    return log


def test_replay_of_a_recorded_log_is_bit_identical() -> None:
    own = [e for e in rich_log().events if e.type != "vitals.updated"]  # not another monitor's output
    for source, graph in ((storm_log().events, None), (own, trust())):
        recorded = record(source, VitalsEngine(trust=graph))
        trajectory = recorded_trajectory(recorded)
        assert len(trajectory) > 10
        replayed = [u.payload() for u in replay(recorded, trust=graph)]
        assert replayed == trajectory
        for mine, theirs in zip(replayed, trajectory, strict=True):  # every float, bit for bit
            for key in ("signals", "z", "signal_pressures"):
                assert [v.hex() for v in mine[key].values()] == [float(v).hex() for v in theirs[key].values()]
            assert mine["pressure"].hex() == float(theirs["pressure"]).hex()
        assert first_divergence(recorded, trust=graph) is None


def test_first_divergence_points_at_the_first_difference() -> None:
    recorded = record(storm_log().events, VitalsEngine())
    at = [i for i, e in enumerate(recorded) if e.type == "vitals.updated"]
    tampered = list(recorded)
    victim = tampered[at[17]]
    payload = {**victim.payload, "pressure": math.nextafter(victim.payload["pressure"], 2.0)}  # one ulp
    tampered[at[17]] = victim.model_copy(update={"payload": payload})
    assert first_divergence(tampered) == 17
    assert first_divergence([e for i, e in enumerate(recorded) if i != at[-1]]) == len(at) - 1
    assert first_divergence(recorded, trust=TrustGraph([("agent-1", "nobody", 1.0)])) is None


def test_any_slice_replays_deterministically_and_vitals_events_are_ignored() -> None:
    recorded = record(storm_log().events, VitalsEngine())
    tail = recorded[len(recorded) // 3 :]
    assert replay(tail) == replay(tail)
    plain = [e for e in tail if not e.type.startswith(("vitals.", "guidance."))]
    assert [u.payload() for u in replay(tail)] == [u.payload() for u in replay(plain)]
