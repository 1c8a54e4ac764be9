"""What resume decides from a run's journal (``_journal.decide``): one rule per test, on
journals written event by event, so every branch is seen without a runtime to kill."""

from __future__ import annotations

import time
from itertools import count
from typing import Any

from soma_runtime import Step
from soma_runtime.execution._journal import Continue, End, decide, read_journals
from soma_runtime.store.events import Event
from soma_runtime.tools.spec import ToolSpec, tool

RUN = "run-1"
_seq = count(1)


def ev(
    type: str,
    payload: dict[str, Any] | None = None,
    step: str | None = None,
    call: str | None = None,
    ts: int | None = None,
) -> Event:
    seq = next(_seq)
    return Event(
        seq=seq,
        event_id=f"e{seq}",
        ts=time.time_ns() if ts is None else ts,
        type=type,
        session_id="sess-1",
        run_id=RUN,
        step_id=step,
        tool_call_id=call,
        agent_id="a",
        payload=payload or {},
    )


@tool(effect="state")
async def charge(amount: int) -> int:
    return amount


@tool(effect="state", idempotent=True)
async def upsert(amount: int) -> int:
    return amount


TOOLS: dict[str, ToolSpec] = {"charge": charge, "upsert": upsert}
PLAN = [Step("s1", "upsert", {"amount": 1}).to_json(), Step("s2", "charge", {"amount": 2}).to_json()]


def started(timeout: float | None = None, ts: int | None = None) -> list[Event]:
    return [
        ev("run.accepted", {"steps": PLAN, "timeout": timeout}),
        ev(
            "run.started",
            {"steps": PLAN, "options": {"timeout": timeout, "root": "/", "cancel_grace": 1.0}},
            ts=ts,
        ),
    ]


def call(step: str, tool: str, call_id: str, **journal: Any) -> Event:
    return ev("tool.started", {"tool": tool, "args": {}, **journal}, step, call_id)


def step_done(step: str, call_id: str, output: Any) -> list[Event]:
    return [
        ev("tool.succeeded", {"tool": "t", "output": output}, step, call_id),
        ev("step.succeeded", {"output": output}, step),
    ]


def decided(events: list[Event], tools: dict[str, ToolSpec] = TOOLS, **flags: Any) -> Continue | End:
    journal = read_journals(events)[RUN]
    options = {"resume": True, "task_ended": False, "now_ns": time.time_ns(), **flags}
    return decide(journal, tools, **options)


def test_committed_outputs_are_reused_and_the_run_continues_after_them() -> None:
    events = [
        *started(),
        call("s1", "upsert", "tc1", effect="state", idempotent=True),
        *step_done("s1", "tc1", 7),
    ]
    outcome = decided(events)
    assert isinstance(outcome, Continue) and outcome.point is not None
    assert (outcome.point.cursor, outcome.point.outputs, outcome.point.rerun) == (1, {"s1": 7}, False)
    assert outcome.drafts == []


def test_an_accepted_run_that_never_started_starts() -> None:
    outcome = decided([ev("run.accepted", {"steps": PLAN, "timeout": 5.0})])
    assert isinstance(outcome, Continue) and outcome.point is None
    assert [s.id for s in outcome.steps] == ["s1", "s2"]


def test_an_in_flight_idempotent_call_runs_again_once_closed_as_interrupted() -> None:
    outcome = decided([*started(), call("s1", "upsert", "tc1", effect="state", idempotent=True)])
    assert isinstance(outcome, Continue) and outcome.point is not None and outcome.point.rerun
    [closed] = outcome.drafts
    assert (closed.type, closed.tool_call_id, closed.payload["interrupted"]) == ("tool.failed", "tc1", True)
    assert closed.payload["idempotent"] is True  # the next recovery judges it by the same journal


def test_an_in_flight_call_that_is_not_idempotent_ends_the_run_resume_unsafe() -> None:
    events = [*started(), call("s1", "upsert", "tc1", idempotent=True), *step_done("s1", "tc1", 1)]
    outcome = decided([*events, call("s2", "charge", "tc2", effect="state", idempotent=False)])
    assert isinstance(outcome, End) and outcome.kind == "resume_unsafe"
    types = [d.type for d in outcome.drafts]
    assert types == ["tool.failed", "step.failed", "run.failed"]
    failed = outcome.drafts[-1].payload
    assert failed["kind"] == "resume_unsafe" and "'s2'" in failed["error"] and "'charge'" in failed["error"]


def test_the_journal_decides_not_todays_registry() -> None:
    # Registered idempotent today, but the call started when it was not: unsafe.
    now_idempotent = {
        "charge": ToolSpec("charge", charge.fn, charge.args_model, idempotent=True),
        "upsert": upsert,
    }
    events = [*started(), call("s1", "charge", "tc1", effect="state", idempotent=False)]
    assert isinstance(decided(events, now_idempotent), End)
    # Journalled pure: safe, whatever it is now.
    pure = [*started(), call("s1", "upsert", "tc1", effect="pure", idempotent=False)]
    assert isinstance(decided(pure), Continue)


def test_a_journal_without_idempotent_counts_only_pure_as_safe() -> None:
    old = [*started(), call("s1", "upsert", "tc1", effect="read")]  # written before the field existed
    outcome = decided(old)
    assert isinstance(outcome, End) and outcome.kind == "resume_unsafe"


def test_a_step_still_to_run_whose_tool_is_gone_ends_resume_unavailable() -> None:
    events = [*started(), call("s1", "upsert", "tc1", idempotent=True), *step_done("s1", "tc1", 1)]
    outcome = decided(events, {"upsert": upsert})
    assert isinstance(outcome, End) and outcome.kind == "resume_unavailable"
    assert "'s2'" in outcome.drafts[-1].payload["error"] and "'charge'" in outcome.drafts[-1].payload["error"]


def test_every_step_committed_but_no_end_completes_with_the_outputs() -> None:
    events = [*started(), call("s1", "upsert", "tc1"), *step_done("s1", "tc1", 1)]
    events += [call("s2", "charge", "tc2"), *step_done("s2", "tc2", 2)]
    outcome = decided(events, resume=False)  # the outcome is in the journal: resume or not
    assert isinstance(outcome, End) and outcome.kind == "completed"
    assert outcome.drafts[-1].payload == {"outputs": {"s1": 1, "s2": 2}}


def test_a_failed_step_ends_the_run_in_the_outcome_it_journalled() -> None:
    events = [
        *started(),
        call("s1", "upsert", "tc1"),
        ev("tool.failed", {"tool": "upsert", "error": "x"}, "s1", "tc1"),
    ]
    events.append(ev("step.failed", {"error": "cancelled", "outcome": "cancelled"}, "s1"))
    outcome = decided(events)
    assert isinstance(outcome, End) and [d.type for d in outcome.drafts] == ["run.cancelled"]


def test_resume_false_ends_the_run_interrupted_and_closes_its_call() -> None:
    outcome = decided([*started(), call("s1", "upsert", "tc1", idempotent=True)], resume=False)
    assert isinstance(outcome, End) and outcome.kind == "interrupted"
    assert [d.type for d in outcome.drafts] == ["tool.failed", "step.failed", "run.failed"]
    assert outcome.drafts[-1].payload["kind"] == "interrupted"


def test_a_run_of_an_ended_task_ends_interrupted() -> None:
    outcome = decided(started(), task_ended=True)
    assert isinstance(outcome, End) and outcome.kind == "interrupted"
    assert "actor task" in outcome.drafts[-1].payload["error"]


def test_the_run_timeout_counts_the_downtime_on_the_wall_clock() -> None:
    ten_seconds_ago = time.time_ns() - 10 * 10**9
    late = decided(started(timeout=5.0, ts=ten_seconds_ago))
    assert isinstance(late, End) and late.kind == "timeout" and late.drafts[-1].type == "run.timeout"
    on_time = decided(started(timeout=30.0, ts=ten_seconds_ago))
    assert isinstance(on_time, Continue) and on_time.point is not None and on_time.point.timeout is not None
    assert 19.0 < on_time.point.timeout < 20.5
