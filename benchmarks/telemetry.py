"""Telemetry benchmarks (issue 19): what the OpenTelemetry export costs a run, with a
collector that keeps up and with one that hangs (the export must cost the same: spans wait
in a bounded queue and are dropped, never waited for), how far the follower lags, and how
fast the mapping turns events into spans.

Both collectors are local OTLP/HTTP endpoints reached through the standard exporter: one
answers every request at once (reading the body, decoding nothing), the other accepts
connections and never answers. Runs alternate between the configurations, and each figure
is the median of its rounds, so the machine's load moves them alike."""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from soma_runtime import Runtime, open_event_log
from soma_runtime.telemetry import SpanMapper, TelemetryConfig

from ._table import Row
from .core import noop, per_step

PART = "telemetry"
STEPS = 2_000
ROUNDS = 3


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def healthy_collector() -> Iterator[str]:
    """An endpoint that takes every request at once."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def hanging_collector() -> Iterator[str]:
    """An endpoint that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


async def steps_with(db: str, endpoint: str | None) -> tuple[float, float]:
    """Per-step time of a 2,000-step run exported to ``endpoint`` (None: telemetry off), and
    how long the follower then takes to have mapped everything."""
    telemetry = None
    if endpoint is not None:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        telemetry = TelemetryConfig(metrics=False, max_queue_size=512, shutdown_timeout=0.5)
    async with Runtime.open(db=db, tools=[noop], telemetry=telemetry) as rt:
        per = await per_step(rt, STEPS)
        lag = 0.0
        if rt.telemetry is not None:
            start = time.perf_counter()
            events = rt.events
            target = await events.sync()
            pid = rt.node.whereis("soma.telemetry")
            assert pid is not None
            await pid.call(("observed", target), timeout=60.0)
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
    os.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "2"
    results: dict[str, list[float]] = {"off": [], "healthy": [], "hanging": [], "lag": []}
    try:
        with tempfile.TemporaryDirectory() as tmp, healthy_collector() as up, hanging_collector() as down:
            for round in range(ROUNDS):
                for name, endpoint in (("off", None), ("healthy", up), ("hanging", down)):
                    per, lag = await steps_with(os.path.join(tmp, f"{name}-{round}.db"), endpoint)
                    results[name].append(per)
                    if name == "healthy":
                        results["lag"].append(lag)
            rate = await mapping_rate(os.path.join(tmp, "healthy-0.db"))
    finally:
        for k in [k for k in os.environ if k.startswith("OTEL_")]:
            del os.environ[k]
        os.environ.update(saved)
    off, healthy, hanging, lag = (statistics.median(results[k]) for k in ("off", "healthy", "hanging", "lag"))
    rows.append(
        Row(
            PART,
            "per-step, telemetry on (collector keeping up)",
            healthy * 1e6,
            "us",
            off * 1e6,
            "report",
            None,
            "baseline: the same run with telemetry off (vitals on in both); OTLP/HTTP to a local sink",
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
            "baseline: a collector keeping up; one that never answers must cost the runtime nothing more",
        )
    )
    rows.append(
        Row(
            PART,
            "follower lag after a 2,000-step run",
            lag * 1e3,
            "ms",
            None,
            "report",
            None,
            "from run.result() until every event is mapped and its spans queued",
        )
    )
    rows.append(Row(PART, "mapping events to spans", rate, "events/s", None, ">= 50,000", rate >= 50_000))
    return rows
