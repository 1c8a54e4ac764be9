"""The OpenTelemetry side: span records through the SDK, the exporters, the pressure gauges.

Imported only when telemetry is turned on; a missing SDK is :class:`TelemetryUnavailable`.

A span record becomes the SDK's ``ReadableSpan`` — what span processors and exporters take —
built directly rather than replayed through a ``Tracer``: a tracer is for live code that
starts a span now and ends it later, and it validates every attribute value it is given
(about ten times the cost of the rest, measured), while these spans are finished, with
values the mapping typed itself and times and ids taken from the log. The SDK's span limits
still hold (``OTEL_SPAN_EVENT_COUNT_LIMIT``, ``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``,
``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``…, read by its ``SpanLimits``), and so does the resource
(``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``). Everything is exported — a log export is
complete by design; sample in the collector (tail sampling) if you must.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .config import ResolvedTelemetry
from .errors import TelemetryUnavailable

try:
    from opentelemetry import trace as trace_api
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricReader,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, SpanProcessor
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter
    from opentelemetry.sdk.util import BoundedList
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised by the import-guard test in a subprocess
    raise TelemetryUnavailable(exc.name or "opentelemetry-sdk") from exc

from .._version import __version__
from .semconv import INSTRUMENTATION_NAME, SCHEMA_URL
from .spans import SpanContextRef, SpanRecord

_KINDS = {"internal": SpanKind.INTERNAL, "client": SpanKind.CLIENT}


def resource(service_name: str | None) -> Resource:
    """``OTEL_RESOURCE_ATTRIBUTES`` / ``OTEL_SERVICE_NAME``, with ``service.name`` = ``soma``
    (or ``service_name``) when neither names the service."""
    detected = Resource.create({})
    name = detected.attributes.get("service.name")
    if service_name is not None or not isinstance(name, str) or name.startswith("unknown_service"):
        detected = detected.merge(Resource({"service.name": service_name or "soma"}))
    return detected


# -- exporters, as the standard variables chose them (``config.resolved``) -----------------------


def require_exporters(settings: ResolvedTelemetry) -> None:
    """Fail now — not when the pipeline starts — if a chosen exporter is not installed."""
    needed = []
    if settings.traces_exporter == "otlp":
        needed.append(settings.traces_protocol)
    if settings.metrics_exporter == "otlp":
        needed.append(settings.metrics_protocol)
    for protocol in needed:
        _exporter_module(protocol, "trace_exporter")


_PACKAGES = {
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http",
    "grpc": "opentelemetry.exporter.otlp.proto.grpc",
}


def _exporter_module(protocol: str, signal: str) -> Any:
    package = _PACKAGES[protocol]
    try:
        return importlib.import_module(f"{package}.{signal}")
    except ImportError:
        hint = f"pip install {package.replace('.', '-')}"
        raise TelemetryUnavailable(f"the OTLP exporter ({protocol})", hint) from None


def span_exporter(settings: ResolvedTelemetry, endpoint: str | None = None) -> SpanExporter | None:
    """The exporter ``OTEL_TRACES_EXPORTER`` names (None for ``none``). ``endpoint``
    (``soma export --otlp URL``) is a base URL, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` is; without
    it the exporter reads its endpoint, headers, timeout… from the ``OTEL_*`` variables."""
    kind = "otlp" if endpoint is not None else settings.traces_exporter
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    url = None
    if endpoint is not None:
        base = endpoint.rstrip("/")
        url = (
            base if base.endswith("/v1/traces") or settings.traces_protocol == "grpc" else f"{base}/v1/traces"
        )
    module = _exporter_module(settings.traces_protocol, "trace_exporter")
    exporter: SpanExporter = module.OTLPSpanExporter(endpoint=url) if url else module.OTLPSpanExporter()
    return exporter


def metric_reader(settings: ResolvedTelemetry) -> MetricReader | None:
    """A periodic reader (interval: ``OTEL_METRIC_EXPORT_INTERVAL``, read by the SDK) for the
    exporter ``OTEL_METRICS_EXPORTER`` names; None for ``none``."""
    kind = settings.metrics_exporter
    if kind == "none":
        return None
    if kind == "console":
        return PeriodicExportingMetricReader(ConsoleMetricExporter())
    module = _exporter_module(settings.metrics_protocol, "metric_exporter")
    return PeriodicExportingMetricReader(module.OTLPMetricExporter())


# -- spans ----------------------------------------------------------------------------------------


class SpanWriter:
    """Turns finished span records into ``ReadableSpan`` s and hands them to ``processor``."""

    def __init__(
        self, resource: Resource, processor: SpanProcessor, limits: SpanLimits | None = None
    ) -> None:
        self._resource = resource
        self._processor = processor
        self._limits = limits or SpanLimits()
        self._scope = InstrumentationScope(INSTRUMENTATION_NAME, __version__, SCHEMA_URL)

    def write(self, records: Iterable[SpanRecord]) -> None:
        for record in records:
            self._processor.on_end(self._span(record))

    def _span(self, record: SpanRecord) -> ReadableSpan:
        limits = self._limits
        events = BoundedList.from_seq(
            limits.max_events,
            [
                Event(e.name, self._bounded(e.attributes, limits.max_event_attributes), e.ts)
                for e in record.events
            ],
        )
        links = BoundedList.from_seq(limits.max_links, [Link(_ctx(link)) for link in record.links])
        status = (
            Status(StatusCode.ERROR, record.error) if record.error is not None else Status(StatusCode.UNSET)
        )
        return ReadableSpan(
            record.name,
            context=_ctx(record.context),
            parent=None if record.parent is None else _ctx(record.parent),
            resource=self._resource,
            attributes=self._bounded(record.attributes, limits.max_span_attributes),
            events=events,
            links=links,
            kind=_KINDS[record.kind],
            status=status,
            start_time=record.start,
            end_time=record.end,
            instrumentation_scope=self._scope,
        )

    def _bounded(self, attributes: Mapping[str, Any], count: int | None) -> dict[str, Any]:
        """``attributes`` within the count limit, strings within the length limit, and
        sequences as tuples (immutable, as the SDK's own spans hold them)."""
        items = list(attributes.items())
        if count is not None:
            items = items[:count]
        length = self._limits.max_span_attribute_length
        kept: dict[str, Any] = {}
        for name, value in items:
            if isinstance(value, list):
                value = tuple(value)
            elif length is not None and isinstance(value, str) and len(value) > length:
                value = value[:length]
            kept[name] = value
        return kept


def _ctx(ref: SpanContextRef) -> trace_api.SpanContext:
    return trace_api.SpanContext(
        ref.trace_id,
        ref.span_id,
        is_remote=False,
        trace_flags=trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED),
    )


# -- metrics --------------------------------------------------------------------------------------


class VitalsGauges:
    """``soma.pressure`` and ``soma.pressure.effective`` per agent (gauges, unit 1), and the
    counters of spans telemetry could not deliver."""

    def __init__(self, provider: MeterProvider) -> None:
        self.provider = provider
        meter = provider.get_meter(INSTRUMENTATION_NAME, __version__, schema_url=SCHEMA_URL)
        self._pressure = meter.create_gauge(
            "soma.pressure", unit="1", description="An agent's vitals pressure (0 to 1), as last recorded"
        )
        self._effective = meter.create_gauge(
            "soma.pressure.effective",
            unit="1",
            description="An agent's pressure including what it picks up through the trust graph",
        )
        self._lost = meter.create_counter(
            "soma.telemetry.spans.lost",
            unit="{span}",
            description="Spans not delivered: dropped from the full export queue, or in a failed export",
        )

    def record(self, payload: Mapping[str, Any]) -> None:
        agent = payload.get("agent_id")
        pressure = payload.get("pressure")
        if not isinstance(agent, str) or not isinstance(pressure, int | float):
            return
        attributes = {"soma.agent.id": agent}
        self._pressure.set(float(pressure), attributes)
        effective = payload.get("effective_pressure")
        if isinstance(effective, int | float):
            self._effective.set(float(effective), attributes)

    def lost(self, why: str, count: int) -> None:
        self._lost.add(count, {"error.type": why})


def meter_provider(resource: Resource, reader: MetricReader) -> MeterProvider:
    return MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)


LossCallback = Callable[[str, int], None]
