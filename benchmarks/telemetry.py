"""Telemetry benchmarks (issue 19): what the OpenTelemetry export costs a run, with a
collector that keeps up and with one that hangs (the export must cost the same: spans wait
in a bounded queue and are dropped, never waited for), how far the follower lags, and how
fast the mapping turns events into spans."""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from soma_runtime import Runtime, open_event_log
from soma_runtime.telemetry import SpanMapper, TelemetryConfig

from ._table import Row
from .core import noop, per_step

PART = "telemetry"
STEPS = 2_000


@asynccontextmanager
async def hanging_collector() -> AsyncIterator[str]:
    """An endpoint that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


async def steps_with(db: str, telemetry: TelemetryConfig | None) -> tuple[float, float]:
    """Median per-step time of three 2,000-step runs, and the follower's lag after the last."""
    async with Runtime.open(db=db, tools=[noop], telemetry=telemetry) as rt:
        per = statistics.median([await per_step(rt, STEPS) for _ in range(3)])
        lag = 0.0
        if rt.telemetry is not None:
            start = time.perf_counter()
            await rt.telemetry.flush(timeout=0.0 if telemetry and telemetry.exporter is None else 30.0)
            lag = time.perf_counter() - start
    return per, lag


async def mapping_rate(db: str) -> float:
    async with open_event_log(db, readonly=True) as log:
        events = await log.query()
    start = time.perf_counter()
    mapper = SpanMapper()
    for event in events:
        mapper.observe(event)
    return len(events) / (time.perf_counter() - start)


async def run() -> list[Row]:
    rows: list[Row] = []
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("OTEL_")}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            off, _ = await steps_with(os.path.join(tmp, "off.db"), None)
            kept_up = TelemetryConfig(exporter=InMemorySpanExporter(), metrics=False)
            healthy, lag = await steps_with(os.path.join(tmp, "healthy.db"), kept_up)
            async with hanging_collector() as endpoint:
                os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
                os.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "2"
                stuck = TelemetryConfig(metrics=False, max_queue_size=512, shutdown_timeout=0.5)
                hanging, _ = await steps_with(os.path.join(tmp, "hanging.db"), stuck)
            rate = await mapping_rate(os.path.join(tmp, "healthy.db"))
    finally:
        for k in [k for k in os.environ if k.startswith("OTEL_")]:
            del os.environ[k]
        os.environ.update(saved)
    rows.append(
        Row(
            PART,
            "per-step, telemetry on (collector keeping up)",
            healthy * 1e6,
            "us",
            off * 1e6,
            "report",
            None,
            "baseline: the same run with telemetry off (vitals on in both)",
        )
    )
    rows.append(
        Row(
            PART,
            "per-step, telemetry on, collector hanging",
            hanging * 1e6,
            "us",
            healthy * 1e6,
            "<= 1.3x",
            hanging <= 1.3 * healthy,
            "baseline: a collector keeping up; a hanging one must cost the runtime nothing more",
        )
    )
    rows.append(Row(PART, "follower lag after a 2,000-step run", lag * 1e3, "ms", None, "report"))
    rows.append(Row(PART, "mapping events to spans", rate, "events/s", None, ">= 50,000", rate >= 50_000))
    return rows
