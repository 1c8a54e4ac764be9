"""The offline export of a recorded log: the same spans as the live export, any slice of it,
and a collector that refuses them is an error, not a silent loss."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from _otlp_receiver import ReceivedSpan, dead_endpoint, otlp_receiver
from _telemetry_db import record
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from soma_runtime import open_event_log
from soma_runtime.telemetry import ExportFailed, export_log

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def live_key(span: ReadableSpan) -> tuple[Any, ...]:
    assert span.context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else ""
    return (span.name, f"{span.context.span_id:016x}", parent, span.start_time, span.end_time)


def wire_key(span: ReceivedSpan) -> tuple[Any, ...]:
    return (span.name, span.span_id, span.parent_span_id, span.start, span.end)


async def test_a_past_log_exports_as_the_same_spans_the_live_export_sent(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    live = InMemorySpanExporter()
    await record(db, live)
    with otlp_receiver() as (endpoint, received):
        async with open_event_log(db, readonly=True) as log:
            report = await export_log(log, endpoint=endpoint)
        wire = received.wait_for_spans(report.exported)
    assert report.failed == 0 and report.incomplete == 0 and report.exported == report.spans == len(wire)
    assert sorted(map(wire_key, wire)) == sorted(map(live_key, live.get_finished_spans()))
    by_id = {s.context.span_id: s for s in live.get_finished_spans() if s.context is not None}
    for span in wire:  # attributes and span events too, value for value
        twin = by_id[int(span.span_id, 16)]
        assert span.attributes == {
            k: list(v) if isinstance(v, tuple) else v for k, v in (twin.attributes or {}).items()
        }
        assert [(n, t) for n, t, _ in span.events] == [(e.name, e.timestamp) for e in twin.events]


async def test_a_slice_gets_the_starts_it_needs_from_before_it(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    await record(db)
    async with open_event_log(db, readonly=True) as log:
        events = await log.query()
        [cut] = [e.seq for e in events if e.type == "tool.started" and e.payload["tool"] == "fail"]
        with otlp_receiver() as (endpoint, received):
            whole = await export_log(log, endpoint=endpoint)
            everything = {wire_key(s) for s in received.wait_for_spans(whole.exported)}
        with otlp_receiver() as (endpoint, received):
            part = await export_log(log, endpoint=endpoint, after_seq=cut)
            sliced = received.wait_for_spans(part.exported)
    # Only spans that end after the cut, each exactly as in the whole export (its start came
    # from before the cut). Vitals recorded before the slice meets their task's next event
    # have no open span to go on: they get a span of their own, in their agent's session.
    names = sorted(s.name for s in sliced)
    assert "execute_tool fail" in names and "invoke_agent lead" in names
    assert "invoke_agent worker" not in names
    assert {wire_key(s) for s in sliced if not s.name.startswith("vitals ")} <= everything
    for lone in (s for s in sliced if s.name.startswith("vitals ")):
        assert [name for name, _, _ in lone.events] in (["vitals.updated"], ["guidance.fired"])
    assert part.events == len([e for e in events if e.seq > cut])


async def test_a_filtered_export_takes_one_run(tmp_path: Path) -> None:
    recorded = await record(tmp_path / "soma.db")
    async with open_event_log(recorded.db, readonly=True) as log:
        with otlp_receiver() as (endpoint, received):
            report = await export_log(log, endpoint=endpoint, run_id=recorded.completed_run)
            spans = received.wait_for_spans(report.exported)
    assert sorted(s.name for s in spans) == ["execute_tool echo", "run plain", "step echo"]


async def test_a_collector_that_refuses_ends_the_export_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "soma.db"
    await record(db)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
    endpoint = dead_endpoint()
    async with open_event_log(db, readonly=True) as log:
        with pytest.raises(ExportFailed, match=f"{endpoint} did not accept the spans") as failed:
            await export_log(log, endpoint=endpoint)
    assert failed.value.report.exported == 0 and failed.value.report.failed > 0
