"""The live export over the wire: the standard OTLP/HTTP exporter, configured by the standard
``OTEL_*`` variables, to a receiver started here that decodes the protobuf it gets; a dead
collector that must not slow or break the runtime; a follower killed mid-run; and
OpenTelemetry not installed at all."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from _otlp_receiver import hanging_endpoint, otlp_receiver
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from soma_actor import Budget, Policy, start_actor
from soma_actor.providers import ScriptedModel, reply, use_tools
from soma_runtime import RunState, Runtime, Step, open_event_log, tool
from soma_runtime.kernel import Supervisor, current_node
from soma_runtime.telemetry import SpanMapper, TelemetryConfig, TelemetryConfigError
from soma_runtime.telemetry.follower import TELEMETRY_NAME, TELEMETRY_SUPERVISOR
from soma_runtime.telemetry.spans import trace_id_for

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean slate of OTEL_* variables (whatever the developer's shell has set)."""
    import os

    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    return monkeypatch


async def test_spans_and_pressure_gauges_reach_a_collector_over_otlp_http(
    otel_env: pytest.MonkeyPatch,
) -> None:
    with otlp_receiver() as (endpoint, received):
        otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        otel_env.setenv("OTEL_SERVICE_NAME", "research-agents")
        otel_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci")
        async with Runtime.open(telemetry=True) as rt:
            model = ScriptedModel([use_tools(("echo", {"value": "otp"})), reply("found it")])
            actor = await start_actor(rt, "research", model, Policy(["echo"]), Budget())
            task_id = await actor.send("find the otp docs")
            result = await actor.task_result(task_id)
            await rt.vitals.caught_up()
            assert rt.telemetry is not None
            stats = await rt.telemetry.flush()
            spans = received.wait_for_spans(stats.spans_exported)
        gauges = received.gauges()  # the meter provider's last export, as the runtime closed
    assert stats.spans_exported == len(spans) == 6 and stats.spans_failed == stats.spans_dropped == 0
    trace = trace_id_for(f"corr:{result.correlation_id}").to_bytes(16, "big").hex()
    task = [s for s in spans if s.trace_id == trace]
    by_id = {s.span_id: s for s in task}
    shape = sorted(
        (s.name, by_id[s.parent_span_id].name if s.parent_span_id in by_id else None) for s in task
    )
    assert shape == [
        ("chat scripted", "invoke_agent research"),
        ("chat scripted", "invoke_agent research"),
        ("execute_tool echo", "step echo"),
        ("invoke_agent research", None),
        ("run research", "invoke_agent research"),
        ("step echo", "run research"),
    ]
    [root] = [s for s in task if s.name == "invoke_agent research"]
    assert root.parent_span_id == "" and root.kind == 1  # SPAN_KIND_INTERNAL
    assert root.attributes["gen_ai.conversation.id"] == result.correlation_id
    assert root.resource["service.name"] == "research-agents"
    assert root.resource["deployment.environment"] == "ci"
    assert root.scope == "soma" and root.schema_url.endswith("/schemas/1.40.0")
    [chat, _] = [s for s in task if s.name == "chat scripted"]
    assert chat.kind == 3 and chat.attributes["gen_ai.operation.name"] == "chat"  # SPAN_KIND_CLIENT
    assert "/v1/traces" in received.paths and "/v1/metrics" in received.paths
    [(labels, value)] = gauges["soma.pressure"][-1:]
    assert labels == {"soma.agent.id": "research"} and 0.0 <= value <= 1.0


async def test_a_hanging_collector_costs_the_runtime_nothing_and_every_lost_span_is_counted(
    otel_env: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with hanging_endpoint() as endpoint:
        await _against_a_hanging_collector(otel_env, tmp_path, caplog, endpoint)


async def _against_a_hanging_collector(
    otel_env: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture, endpoint: str
) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    reader = InMemoryMetricReader()
    capacity = 8
    config = TelemetryConfig(
        max_queue_size=capacity,
        max_export_batch_size=4,
        schedule_delay=0.01,
        shutdown_timeout=0.5,
        metric_reader=reader,
    )
    db = str(tmp_path / "soma.db")
    caplog.set_level(logging.WARNING, logger="soma.telemetry")
    async with Runtime.open(db=db, telemetry=config) as rt:
        session = await rt.start_session("busy")
        for i in range(15):
            run = await session.start_run([Step("s1", "echo", {"value": i})])
            assert (await run.result()).state is RunState.COMPLETED  # the work is not held up
        assert rt.telemetry is not None
        await rt.telemetry.flush(timeout=0.2)  # the exporter is stuck: only the follower catches up
        lost_counted = sum(
            dp.value
            for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "soma.telemetry.spans.lost"
            for dp in m.data.data_points
        )
        live = rt.telemetry.stats()
        assert live.running and live.queue_capacity == capacity
        assert live.queued <= capacity, "the queue is bounded"
        assert live.spans_dropped > 0, "a full queue drops, and counts"
        assert 0 < lost_counted <= live.spans_dropped + live.spans_failed
    with anyio.fail_after(10):  # the export in flight when it closed ends at its timeout
        # The exporter thread finishes on its own timeout; no event crosses from it.
        while (final := rt.telemetry.stats()).queued:  # noqa: ASYNC110
            await anyio.sleep(0.05)
    assert any("dropped so far" in r.getMessage() for r in caplog.records)
    # Accounting: every span the log makes was exported, dropped or failed — none vanished.
    async with open_event_log(db, readonly=True) as log:
        mapper = SpanMapper()
        made = sum(len(mapper.observe(e)) for e in await log.query())
    assert final.spans_exported == 0
    assert final.spans_dropped + final.spans_failed == made
    assert final.queued == 0


@tool
async def hold(gate: str) -> str:
    STARTED[gate].set()
    await GATES[gate].wait()
    return gate


GATES: dict[str, anyio.Event] = {}
STARTED: dict[str, anyio.Event] = {}


async def test_a_killed_follower_is_restarted_and_finishes_the_spans_it_had_open() -> None:
    GATES["g"], STARTED["g"] = anyio.Event(), anyio.Event()
    exporter = InMemorySpanExporter()
    async with Runtime.open(tools=[hold], telemetry=TelemetryConfig(exporter=exporter, metrics=False)) as rt:
        assert rt.telemetry is not None
        session = await rt.start_session("patient")
        run = await session.start_run([Step("s1", "hold", {"gate": "g"})])
        await STARTED["g"].wait()
        await rt.telemetry.flush()  # the follower has taken run.accepted … tool.started
        first = current_node().whereis(TELEMETRY_NAME)
        assert first is not None
        first.kill()
        await first.wait()
        # Its supervisor handled the exit (and started a successor) before this call.
        [child] = await Supervisor.which_children(TELEMETRY_SUPERVISOR)
        successor = current_node().whereis(TELEMETRY_NAME)
        assert not first.is_alive() and successor is not None and successor.is_alive()
        assert child.pid == successor
        GATES["g"].set()
        assert (await run.result()).state is RunState.COMPLETED
        await rt.telemetry.flush()
        events = await rt.events.query(run_id=run.run_id)
    names = [
        s.name for s in exporter.get_finished_spans() if s.attributes and s.attributes.get("soma.run.id")
    ]
    assert sorted(names) == ["execute_tool hold", "run patient", "step hold"], "each exactly once"
    ts = {e.type: e.ts for e in events}
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert (spans["run patient"].start_time, spans["run patient"].end_time) == (
        ts["run.accepted"],
        ts["run.completed"],
    )
    assert spans["execute_tool hold"].start_time == ts["tool.started"]
    assert spans["step hold"].parent.span_id == spans["run patient"].context.span_id


async def test_a_malformed_otel_variable_is_refused_before_anything_starts(
    otel_env: pytest.MonkeyPatch,
) -> None:
    otel_env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "lots")
    with pytest.raises(
        TelemetryConfigError, match="OTEL_BSP_MAX_QUEUE_SIZE must be a positive integer, got 'lots'"
    ):
        async with Runtime.open(telemetry=True):
            pass
    otel_env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")
    otel_env.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(TelemetryConfigError, match="OTEL_TRACES_EXPORTER='zipkin' is not supported"):
        async with Runtime.open(telemetry=True):
            pass


def test_without_opentelemetry_installed_telemetry_says_which_extra_and_the_rest_works() -> None:
    # A fresh interpreter where every opentelemetry import fails, as without the extra.
    code = """
import sys, anyio
sys.modules["opentelemetry"] = None
from soma_runtime import Runtime, Step
from soma_runtime.telemetry import TelemetryUnavailable

async def main():
    async with Runtime.open() as rt:                       # no telemetry: works as before
        s = await rt.start_session("a")
        print((await (await s.start_run([Step("s1", "echo", {"value": 1})])).result()).state.value)
    try:
        async with Runtime.open(telemetry=True):
            pass
    except TelemetryUnavailable as e:
        print("refused:", e)

anyio.run(main)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "completed"
    assert lines[1].startswith("refused: OpenTelemetry export needs opentelemetry")
    assert "pip install 'soma-runtime[telemetry]'" in lines[1]
