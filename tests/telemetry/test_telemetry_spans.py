"""The live export, through the SDK's in-memory exporter: exact span trees and attributes.

A real runtime with real actors (scripted models) and real runs; the follower maps the log
as it is written, and every span is compared with the events it came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _span_tree import outline, render
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from soma_actor import Budget, Policy, start_actor
from soma_actor.providers import ScriptedModel, message_actor, reply, use_tools
from soma_runtime import Runtime, Step
from soma_runtime.execution.steering import DestructiveBlock
from soma_runtime.telemetry import SEMCONV_VERSION, TelemetryConfig
from soma_runtime.telemetry.spans import span_id_for, trace_id_for

pytestmark = pytest.mark.anyio


def config(exporter: InMemorySpanExporter, **kw: Any) -> TelemetryConfig:
    return TelemetryConfig(exporter=exporter, metrics=False, **kw)


def in_trace(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def delegating_pair(rt: Runtime) -> str:
    """lead runs a tool, delegates to worker (who runs one too), then replies; returns the
    task's correlation id."""
    worker = ScriptedModel([use_tools(("echo", {"value": "docs"})), reply("docs fetched")])
    lead = ScriptedModel(
        [use_tools(("echo", {"value": "plan"})), message_actor("worker", "fetch the docs"), reply("done")]
    )
    await start_actor(rt, "worker", worker, Policy(["echo"]), Budget())
    actor = await start_actor(rt, "lead", lead, Policy(["echo"], ["worker"]), Budget())
    task_id = await actor.send("write the report")
    result = await actor.task_result(task_id)
    assert result.reply == "done"
    return result.correlation_id


async def test_one_task_is_one_trace_with_the_delegate_inside_it() -> None:
    exporter = InMemorySpanExporter()
    async with Runtime.open(telemetry=config(exporter)) as rt:
        correlation_id = await delegating_pair(rt)
        await rt.vitals.caught_up()
        assert rt.telemetry is not None
        stats = await rt.telemetry.flush()
        flushed = len(exporter.get_finished_spans())
        events = await rt.events.query(correlation_id=correlation_id)
    spans = exporter.get_finished_spans()
    trace = in_trace(spans, trace_id_for(f"corr:{correlation_id}"))
    print(render(trace))
    assert outline(trace) == [
        (0, "invoke_agent lead"),
        (1, "chat scripted"),
        (1, "run lead"),
        (2, "step echo"),
        (3, "execute_tool echo"),
        (1, "chat scripted"),
        (1, "invoke_agent worker"),
        (2, "chat scripted"),
        (2, "run worker"),
        (3, "step echo"),
        (4, "execute_tool echo"),
        (2, "chat scripted"),
        (1, "chat scripted"),
    ]
    # Every span of the task's events is in this one trace, and nothing else is.
    tasks = {e.task_id for e in events}
    assert (
        len(tasks) == 2
        and {s.attributes["soma.task.id"] for s in by_name(trace, "invoke_agent lead")} <= tasks
    )
    assert stats.spans_dropped == stats.spans_failed == 0 and stats.spans_exported == flushed


async def test_span_times_are_the_event_timestamps_and_kinds_follow_the_conventions() -> None:
    exporter = InMemorySpanExporter()
    async with Runtime.open(telemetry=config(exporter)) as rt:
        correlation_id = await delegating_pair(rt)
        assert rt.telemetry is not None
        await rt.telemetry.flush()
        events = await rt.events.query(correlation_id=correlation_id)
    trace = in_trace(exporter.get_finished_spans(), trace_id_for(f"corr:{correlation_id}"))
    ts = {(e.type, e.payload.get("call_id") or e.tool_call_id or e.run_id or e.task_id): e.ts for e in events}
    for span in trace:
        a = span.attributes or {}
        if span.name.startswith("chat "):
            assert span.kind is SpanKind.CLIENT
            call = next(e for e in events if e.type == "llm.started" and e.ts == span.start_time)
            assert span.end_time == ts[("llm.succeeded", call.payload["call_id"])]
        elif span.name.startswith("execute_tool "):
            assert span.kind is SpanKind.INTERNAL
            assert span.start_time == ts[("tool.started", a["gen_ai.tool.call.id"])]
            assert span.end_time == ts[("tool.succeeded", a["gen_ai.tool.call.id"])]
        elif span.name.startswith("run "):
            assert span.start_time == ts[("run.accepted", a["soma.run.id"])]
            assert span.end_time == ts[("run.completed", a["soma.run.id"])]
        elif span.name.startswith("invoke_agent "):
            assert span.kind is SpanKind.INTERNAL
            assert span.start_time == ts[("actor.task.received", a["soma.task.id"])]
            assert span.end_time == ts[("actor.task.completed", a["soma.task.id"])]
        # A parent holds its children in time.
        parent = next((p for p in trace if span.parent and p.context.span_id == span.parent.span_id), None)
        if parent is not None:
            assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time


async def test_genai_attributes_of_agent_chat_and_tool_spans() -> None:
    exporter = InMemorySpanExporter()
    async with Runtime.open(telemetry=config(exporter, capture_content=True)) as rt:
        correlation_id = await delegating_pair(rt)
        assert rt.telemetry is not None
        await rt.telemetry.flush()
        events = await rt.events.query(correlation_id=correlation_id)
    trace = in_trace(exporter.get_finished_spans(), trace_id_for(f"corr:{correlation_id}"))
    [lead] = by_name(trace, "invoke_agent lead")
    received = next(e for e in events if e.type == "actor.task.received" and e.agent_id == "lead")
    assert dict(lead.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "lead",
        "gen_ai.agent.id": "lead",
        "gen_ai.conversation.id": correlation_id,
        "gen_ai.provider.name": "scripted",
        "gen_ai.system": "scripted",
        "gen_ai.request.model": "scripted",
        "soma.session.id": received.session_id,
        "soma.task.id": received.task_id,
        "soma.task.state": "completed",
        "soma.task.model_calls": 3,
        "soma.task.steps": 1,
        "gen_ai.usage.input_tokens": lead.attributes["gen_ai.usage.input_tokens"],
        "gen_ai.usage.output_tokens": lead.attributes["gen_ai.usage.output_tokens"],
        "soma.cost_usd": 0.0,
        "soma.pressure": lead.attributes["soma.pressure"],
        "soma.pressure.effective": lead.attributes["soma.pressure.effective"],
        "soma.mode": lead.attributes["soma.mode"],
    }
    assert lead.status.status_code is StatusCode.UNSET
    assert lead.instrumentation_scope is not None
    assert lead.instrumentation_scope.schema_url == f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

    chat = by_name(trace, "chat scripted")[0]
    done = next(e for e in events if e.type == "llm.succeeded" and e.ts == chat.end_time)
    usage = done.payload["usage"]
    assert {k: v for k, v in (chat.attributes or {}).items() if not k.startswith("soma.")} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        "gen_ai.system": "scripted",
        "gen_ai.request.model": "scripted",
        "gen_ai.response.model": "scripted",
        "gen_ai.response.finish_reasons": ("tool_use",),
        "gen_ai.conversation.id": correlation_id,
        "gen_ai.usage.input_tokens": usage["input_tokens"],
        "gen_ai.usage.output_tokens": usage["output_tokens"],
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_creation.input_tokens": 0,
    }

    tool = by_name(trace, "execute_tool echo")[0]
    started = next(e for e in events if e.type == "tool.started" and e.ts == tool.start_time)
    assert {k: v for k, v in (tool.attributes or {}).items() if not k.startswith("soma.")} == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "echo",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": started.tool_call_id,
        "gen_ai.tool.call.arguments": json.dumps(started.payload["args"]),
        "gen_ai.tool.call.result": "plan",  # text as it is; structured values as JSON
    }


async def test_content_stays_out_unless_opted_in_and_is_redacted_when_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "sk-" + "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV"
    for capture in (False, True):
        exporter = InMemorySpanExporter()
        async with Runtime.open(telemetry=config(exporter, capture_content=capture)) as rt:
            session = await rt.start_session("plain")
            run = await session.start_run([Step("s1", "echo", {"value": f"key {secret} inside"})])
            await run.result()
            assert rt.telemetry is not None
            await rt.telemetry.flush()
        [tool] = by_name(list(exporter.get_finished_spans()), "execute_tool echo")
        attributes = dict(tool.attributes or {})
        if not capture:
            assert (
                "gen_ai.tool.call.arguments" not in attributes and "gen_ai.tool.call.result" not in attributes
            )
        else:
            assert "[REDACTED]" in attributes["gen_ai.tool.call.arguments"]
            assert "[REDACTED]" in attributes["gen_ai.tool.call.result"]
        assert all(secret not in s.to_json() for s in exporter.get_finished_spans())

    # The standard switch of the GenAI instrumentations turns it on too.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    assert TelemetryConfig().resolved().capture_content
    assert not TelemetryConfig(capture_content=False).resolved().capture_content


async def test_a_plain_session_is_a_trace_of_runs_steps_and_tools_with_errors_typed(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with Runtime.open(root=tmp_path, telemetry=config(exporter)) as rt:
        session = await rt.start_session("plain")
        run = await session.start_run(
            [Step("s1", "echo", {"value": 1}), Step("s2", "fail", {"message": "boom"})]
        )
        await run.result()
        slow = await session.start_run([Step("s1", "sleep", {"seconds": 30})], timeout=0.05)
        await slow.result()
        await session.stop()
        assert rt.telemetry is not None
        await rt.telemetry.flush()
    trace = in_trace(exporter.get_finished_spans(), trace_id_for(f"session:{session.session_id}"))
    print(render(trace, ["error.type", "soma.run.state"]))
    assert outline(trace) == [
        (0, "session plain"),
        (1, "run plain"),
        (2, "step echo"),
        (3, "execute_tool echo"),
        (2, "step fail"),
        (3, "execute_tool fail"),
        (1, "run plain"),
        (2, "step sleep"),
        (3, "execute_tool sleep"),
    ]
    failed_run, timed_out = by_name(trace, "run plain")
    assert failed_run.status.status_code is StatusCode.ERROR
    assert (
        failed_run.attributes["error.type"] == "ToolFailed"
        and failed_run.attributes["soma.run.state"] == "failed"
    )
    [failing_tool] = by_name(trace, "execute_tool fail")
    assert failing_tool.status.status_code is StatusCode.ERROR and failing_tool.status.description
    assert failing_tool.attributes["error.type"] == "ToolFailed"
    assert (
        timed_out.attributes["soma.run.state"] == "timeout"
        and timed_out.attributes["error.type"] == "timeout"
    )
    [echo] = by_name(trace, "execute_tool echo")
    assert echo.status.status_code is StatusCode.UNSET


async def test_vitals_guidance_and_a_blocked_tool_are_soma_attributes_and_span_events(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    telemetry = TelemetryConfig(exporter=exporter, metric_reader=reader)
    async with Runtime.open(root=tmp_path, telemetry=telemetry) as rt:
        script = [use_tools(("fail", {"message": f"boom {i}"})) for i in range(6)] + [reply("gave up")]
        flaky = await start_actor(rt, "flaky", ScriptedModel(script), Policy(["fail"]), Budget.unlimited())
        task_id = await flaky.send("deploy")
        correlation_id = (await flaky.task_result(task_id)).correlation_id
        await rt.vitals.caught_up()
        # BLOCK, sent as the monitor sends it: the next destructive tool is refused.
        session = await rt.start_session("coder")
        await session.pid.send(DestructiveBlock("coder", True, 0.83, "retry storm"))
        blocked = await session.start_run([Step("w", "file_write", {"path": "x.txt", "content": "x"})])
        await blocked.result()
        assert rt.telemetry is not None
        await rt.telemetry.flush()
        events = await rt.events.query(type=["vitals.updated", "guidance.fired"])
    spans = list(exporter.get_finished_spans())
    [task] = by_name(in_trace(tuple(spans), trace_id_for(f"corr:{correlation_id}")), "invoke_agent flaky")
    updates = [e for e in task.events if e.name == "vitals.updated"]
    firings = [e for e in task.events if e.name == "guidance.fired"]
    assert updates, "vitals.updated are span events on the task they were caused in"
    recorded = {e.seq: e for e in events if e.payload.get("agent_id") == "flaky"}
    first = next(e for e in recorded.values() if e.type == "vitals.updated")
    assert updates[0].timestamp == first.ts
    assert dict(updates[0].attributes or {}) == {
        "soma.agent.id": "flaky",
        "soma.pressure": first.payload["pressure"],
        "soma.pressure.effective": first.payload["effective_pressure"],
        "soma.mode": first.payload["mode"],
        "soma.cause_seq": first.payload["cause_seq"],
        **{f"soma.signal.{k}.pressure": v for k, v in first.payload["signal_pressures"].items()},
    }
    fired = [e for e in recorded.values() if e.type == "guidance.fired"]
    assert fired and firings, "the flaky agent drew guidance"
    assert {f.attributes["soma.firing_id"] for f in firings} <= {e.payload["firing_id"] for e in fired}
    assert firings[0].attributes["soma.guidance.pattern"] == fired[0].payload["pattern"]
    assert task.attributes["soma.mode"] in ("guide", "warn", "block")

    [refused] = [
        s for s in spans if s.attributes and s.attributes.get("soma.blocked") and s.name.startswith("exec")
    ]
    assert refused.name == "execute_tool file_write" and refused.status.status_code is StatusCode.ERROR
    assert (
        refused.attributes["error.type"] == "blocked"
        and refused.attributes["soma.pressure.effective"] == 0.83
    )
    [step] = by_name(spans, "step file_write")
    assert refused.parent is not None and refused.parent.span_id == step.context.span_id
    assert step.attributes["soma.blocked"] is True

    # Pressure as a metric: a gauge per agent, at the last recorded value.
    points = {
        (m.name, dp.attributes["soma.agent.id"]): dp.value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for dp in m.data.data_points
        if m.name.startswith("soma.pressure")
    }
    last = [e for e in events if e.type == "vitals.updated" and e.payload["agent_id"] == "flaky"][-1]
    assert points[("soma.pressure", "flaky")] == last.payload["pressure"]
    assert points[("soma.pressure.effective", "flaky")] == last.payload["effective_pressure"]


async def test_an_actor_run_links_to_the_actor_session() -> None:
    exporter = InMemorySpanExporter()
    async with Runtime.open(telemetry=config(exporter)) as rt:
        model = ScriptedModel([use_tools(("echo", {"value": 1})), reply("ok")])
        actor = await start_actor(rt, "solo", model, Policy(["echo"]), Budget())
        assert await actor.ask("go") == "ok"
        session_id = (await actor.info()).session_id
        assert rt.telemetry is not None
        await rt.telemetry.flush()
    [run] = by_name(list(exporter.get_finished_spans()), "run solo")
    [link] = run.links
    assert link.context.trace_id == trace_id_for(f"session:{session_id}")
    assert link.context.span_id == span_id_for(("session", str(session_id)))


async def test_the_stability_opt_in_drops_the_deprecated_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http, gen_ai_latest_experimental")
    exporter = InMemorySpanExporter()
    async with Runtime.open(telemetry=config(exporter)) as rt:
        actor = await start_actor(rt, "solo", ScriptedModel([reply("ok")]), Policy(), Budget())
        assert await actor.ask("go") == "ok"
        assert rt.telemetry is not None
        await rt.telemetry.flush()
    spans = list(exporter.get_finished_spans())
    [chat] = by_name(spans, "chat scripted")
    assert chat.attributes["gen_ai.provider.name"] == "scripted"
    assert all("gen_ai.system" not in (s.attributes or {}) for s in spans)


async def test_spans_are_only_from_events_after_the_open(tmp_path: Path) -> None:
    db = str(tmp_path / "soma.db")
    async with Runtime.open(db=db) as rt:
        session = await rt.start_session("before")
        await (await session.start_run([Step("s1", "echo", {"value": 1})])).result()
    exporter = InMemorySpanExporter()
    async with Runtime.open(db=db, telemetry=config(exporter)) as rt:
        session = await rt.start_session("after")
        await (await session.start_run([Step("s1", "echo", {"value": 2})])).result()
        assert rt.telemetry is not None
        await rt.telemetry.flush()
    names = {s.name for s in exporter.get_finished_spans()}
    assert "session before" not in names and "run before" not in names
    assert {"session after", "run after", "execute_tool echo"} <= names


async def test_the_sdk_span_limits_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "12")
    exporter = InMemorySpanExporter()
    async with Runtime.open(telemetry=config(exporter, capture_content=True)) as rt:
        script = [use_tools(("echo", {"value": "a long value, longer than twelve"})) for _ in range(4)]
        agent = await start_actor(
            rt, "busy", ScriptedModel([*script, reply("ok")]), Policy(["echo"]), Budget()
        )
        assert await agent.ask("go") == "ok"
        await rt.vitals.caught_up()
        assert rt.telemetry is not None
        await rt.telemetry.flush()
    spans = list(exporter.get_finished_spans())
    [task] = by_name(spans, "invoke_agent busy")
    assert len(task.events) == 3 and task.dropped_events > 0, "the latest events are kept, the rest counted"
    tool = by_name(spans, "execute_tool echo")[0]
    assert tool.attributes["gen_ai.tool.call.result"] == "a long value"
