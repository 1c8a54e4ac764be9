"""The mapping from events to spans, alone: no runtime, no OpenTelemetry.

Events are written by hand here, the way other recorders (a hook, a wrapped client, an
import) would put them in the log, to pin down what the mapping does with each kind.
"""

from __future__ import annotations

from typing import Any

import pytest

from soma_runtime.store.events import Event
from soma_runtime.telemetry import MappingOptions, SemconvMode, SpanMapper
from soma_runtime.telemetry.spans import SpanRecord, span_id_for, trace_id_for

T0 = 1_700_000_000_000_000_000


def ev(seq: int, type: str, payload: dict[str, Any] | None = None, **ids: Any) -> Event:
    return Event(
        seq=seq, event_id=f"ev-{seq}", ts=T0 + seq * 1_000_000, type=type, payload=payload or {}, **ids
    )


RUN = {"session_id": "sess-1", "run_id": "run-1", "agent_id": "coder"}


def plain_run() -> list[Event]:
    return [
        ev(1, "session.started", session_id="sess-1", agent_id="coder"),
        ev(2, "run.accepted", {"steps": [{}, {}]}, **RUN),
        ev(3, "run.started", **RUN),
        ev(4, "step.started", {"tool": "echo"}, step_id="s1", **RUN),
        ev(
            5,
            "tool.started",
            {"tool": "echo", "args": {"value": 1}},
            step_id="s1",
            tool_call_id="tc-1",
            **RUN,
        ),
        ev(6, "tool.succeeded", {"tool": "echo", "output": 1}, step_id="s1", tool_call_id="tc-1", **RUN),
        ev(7, "step.succeeded", {"output": 1}, step_id="s1", **RUN),
        ev(8, "run.completed", **RUN),
        ev(9, "session.stopped", {"reason": "normal"}, session_id="sess-1", agent_id="coder"),
    ]


def feed(mapper: SpanMapper, events: list[Event]) -> list[SpanRecord]:
    out: list[SpanRecord] = []
    for event in events:
        out += mapper.observe(event)
    return out


def test_a_run_maps_to_nested_spans_ended_by_their_end_events() -> None:
    spans = {s.name: s for s in feed(SpanMapper(), plain_run())}
    assert list(spans) == ["execute_tool echo", "step echo", "run coder", "session coder"]
    tool, step, run, session = spans.values()
    trace = trace_id_for("session:sess-1")
    assert {s.trace_id for s in spans.values()} == {trace}
    assert tool.parent == step.context and step.parent == run.context and run.parent == session.context
    assert session.parent is None
    assert (run.start, run.end) == (T0 + 2_000_000, T0 + 8_000_000)  # run.accepted → run.completed
    assert [e.name for e in run.events] == ["run.started"]
    assert run.attributes["soma.run.steps"] == 2
    assert tool.context.span_id == span_id_for(("tool", "tc-1"))


def test_ids_are_the_same_in_every_process() -> None:
    first = [s.context for s in feed(SpanMapper(), plain_run())]
    again = [s.context for s in feed(SpanMapper(), plain_run())]
    assert first == again


def test_a_log_read_from_the_middle_looks_up_the_starts_it_missed() -> None:
    log = plain_run()
    mapper = SpanMapper()
    out: list[SpanRecord] = []
    for event in log[5:]:  # from tool.succeeded on: a restarted follower, an --after slice
        for lookup in mapper.lookups(event):
            starts = [e for e in log if e.seq < event.seq and lookup.match(e) and _matches(e, lookup.query)]
            for start in starts:
                out += mapper.observe(start)
        out += mapper.observe(event)
    assert [s.name for s in out] == ["execute_tool echo", "step echo", "run coder", "session coder"]
    whole = {s.name: s for s in feed(SpanMapper(), log)}
    for span in out:
        twin = whole[span.name]
        assert (span.context, span.parent, span.start, span.end) == (
            twin.context,
            twin.parent,
            twin.start,
            twin.end,
        )


def _matches(event: Event, query: dict[str, Any]) -> bool:
    types = query["type"] if isinstance(query["type"], list) else [query["type"]]
    return event.type in types and all(getattr(event, k) == v for k, v in query.items() if k != "type")


def test_each_missing_start_is_looked_up_once() -> None:
    mapper = SpanMapper()
    end = plain_run()[7]  # run.completed
    assert len(mapper.lookups(end)) == 1
    assert mapper.lookups(end) == []


def test_what_is_still_open_where_the_log_ends_is_closed_as_incomplete() -> None:
    mapper = SpanMapper()
    assert feed(mapper, plain_run()[:5]) == []  # up to tool.started: all open
    left = mapper.close_all()
    assert [s.name for s in left] == ["execute_tool echo", "step echo", "run coder", "session coder"]
    assert all(s.attributes["soma.incomplete"] is True and s.end == T0 + 5_000_000 for s in left)


def test_a_step_started_again_ends_the_first_attempt_and_gets_a_new_span_id() -> None:
    log = plain_run()[:5]
    again = ev(20, "step.started", {"tool": "echo"}, step_id="s1", **RUN)  # re-run after a resume
    mapper = SpanMapper()
    feed(mapper, log)
    [first] = mapper.observe(again)
    assert first.name == "step echo" and first.attributes["soma.incomplete"] is True
    [second] = [s for s in mapper.open_spans() if s.key == ("step", "run-1", "s1")]
    assert second.span_id != first.span_id


def test_model_calls_without_a_task_belong_to_their_session() -> None:
    # What a wrapped client or a hook records: llm.* with a session, no task.
    ids = {"session_id": "sess-w", "agent_id": "script"}
    log = [
        ev(1, "session.started", **ids),
        ev(2, "llm.started", {"model": "gpt-4o", "provider": "openai", "call_id": "c1"}, **ids),
        ev(
            3,
            "llm.failed",
            {
                "model": "gpt-4o",
                "provider": "openai",
                "call_id": "c1",
                "error": "rate limited",
                "kind": "rate_limit",
            },
            **ids,
        ),
    ]
    [chat] = feed(SpanMapper(), log)
    assert chat.name == "chat gpt-4o" and chat.kind == "client"
    assert chat.parent is not None and chat.parent.span_id == span_id_for(("session", "sess-w"))
    assert chat.error == "rate limited" and chat.attributes["error.type"] == "rate_limit"


def test_vitals_go_on_the_innermost_open_span_of_their_cause_or_a_span_of_their_own() -> None:
    task = {"agent_id": "a", "task_id": "t1", "correlation_id": "c1", "session_id": "s"}
    log = [
        ev(1, "actor.task.received", {"message": "go"}, **task),
        ev(2, "llm.started", {"model": "m", "call_id": "k"}, **task),
        ev(3, "llm.succeeded", {"model": "m", "call_id": "k"}, **task),
        ev(
            4,
            "vitals.updated",
            {
                "agent_id": "a",
                "pressure": 0.3,
                "effective_pressure": 0.3,
                "mode": "guide",
                "cause_seq": 3,
                "signal_pressures": {"drift": 0.5},
            },
            agent_id="a",
            session_id="s",
        ),
        ev(
            5,
            "guidance.fired",
            {
                "agent_id": "a",
                "message": "slow down",
                "pattern": "pressure",
                "firing_id": "gf-1",
                "arm": "control",
                "mode": "guide",
                "pressure": 0.3,
                "cause_seq": 3,
            },
            agent_id="a",
            session_id="s",
        ),
        ev(6, "actor.task.completed", {"usage": {"input_tokens": 5}}, **task),
        ev(
            7,
            "vitals.updated",
            {"agent_id": "b", "pressure": 0.1, "effective_pressure": 0.1, "mode": "observe", "cause_seq": 99},
            agent_id="b",
        ),
    ]
    spans = feed(SpanMapper(), log)
    task_span = next(s for s in spans if s.name == "invoke_agent a")
    assert [e.name for e in task_span.events] == ["vitals.updated", "guidance.fired"]
    update, firing = task_span.events
    assert update.attributes["soma.signal.drift.pressure"] == 0.5 and update.ts == T0 + 4_000_000
    assert firing.attributes["soma.ab.arm"] == "control" and firing.attributes["soma.firing_id"] == "gf-1"
    assert task_span.attributes["soma.mode"] == "guide" and task_span.attributes["soma.pressure"] == 0.3
    lone = next(s for s in spans if s.name == "vitals b")
    assert lone.start == lone.end == T0 + 7_000_000 and [e.name for e in lone.events] == ["vitals.updated"]


def test_semconv_mode_follows_the_stability_opt_in() -> None:
    assert SemconvMode.from_env({}) is SemconvMode.DEFAULT
    assert SemconvMode.from_env({"OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup"}) is SemconvMode.DEFAULT
    assert SemconvMode.from_env({"OTEL_SEMCONV_STABILITY_OPT_IN": "http, gen_ai_latest_experimental"}) is (
        SemconvMode.LATEST
    )
    task = {"agent_id": "a", "task_id": "t", "correlation_id": "c"}
    log = [
        ev(1, "llm.started", {"provider": "anthropic", "call_id": "x"}, **task),
        ev(2, "llm.succeeded", {"provider": "anthropic", "call_id": "x"}, **task),
    ]
    [old] = feed(SpanMapper(MappingOptions(semconv=SemconvMode.DEFAULT)), log)
    [new] = feed(SpanMapper(MappingOptions(semconv=SemconvMode.LATEST)), log)
    assert old.attributes["gen_ai.system"] == old.attributes["gen_ai.provider.name"] == "anthropic"
    assert "gen_ai.system" not in new.attributes and new.attributes["gen_ai.provider.name"] == "anthropic"


def test_content_is_cut_at_the_limit() -> None:
    big = {"text": "x" * 500}
    log = [
        ev(1, "tool.started", {"tool": "echo", "args": big}, tool_call_id="tc", step_id="s", **RUN),
        ev(2, "tool.succeeded", {"tool": "echo", "output": "y" * 500}, tool_call_id="tc", step_id="s", **RUN),
    ]
    [tool] = feed(SpanMapper(MappingOptions(capture_content=True, max_content_chars=100)), log)
    assert str(tool.attributes["gen_ai.tool.call.arguments"]).endswith("[truncated 412 chars]")
    assert str(tool.attributes["gen_ai.tool.call.result"]).startswith("y" * 100 + "…")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("step 's2' (fail): ToolFailed: failed", "ToolFailed"),
        ("ValueError: bad", "ValueError"),
        ("timed out after 0.5s", "timeout"),
        ("the model said no", "_OTHER"),
    ],
)
def test_error_types_are_low_cardinality(text: str, expected: str) -> None:
    log = [
        ev(1, "step.started", {"tool": "t"}, step_id="s", **RUN),
        ev(2, "step.failed", {"error": text}, step_id="s", **RUN),
    ]
    [step] = feed(SpanMapper(), log)
    assert step.attributes["error.type"] == expected and step.error == text


def test_calls_in_a_session_the_log_never_started_are_roots_of_its_trace() -> None:
    # A hook records a Claude Code session's calls without a session.started: a parent that
    # never comes would leave the span orphaned in a backend.
    ids = {"session_id": "claude-123", "agent_id": "claude"}
    log = [
        ev(1, "llm.started", {"model": "claude-sonnet-4", "call_id": "c1"}, **ids),
        ev(2, "llm.succeeded", {"model": "claude-sonnet-4", "call_id": "c1"}, **ids),
    ]
    mapper = SpanMapper()
    assert [lookup.key for lookup in mapper.lookups(log[0])] == [("session", "claude-123")]
    [chat] = feed(mapper, log)  # the lookup found nothing
    assert chat.parent is None and chat.trace_id == trace_id_for("session:claude-123")
