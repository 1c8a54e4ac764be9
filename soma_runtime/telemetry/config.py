"""What ``Runtime.open(telemetry=...)`` takes, and how the ``OTEL_*`` variables fill it in.

``telemetry=True`` is ``TelemetryConfig()``: the standard OTLP exporters (traces and metrics),
configured entirely by the standard variables — ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), ``…_HEADERS``, ``…_TIMEOUT``, ``…_COMPRESSION``,
``…_PROTOCOL`` (``http/protobuf``, the default, or ``grpc``), ``OTEL_TRACES_EXPORTER`` /
``OTEL_METRICS_EXPORTER`` (``otlp``, ``console`` or ``none``), ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``, the batching variables ``OTEL_BSP_MAX_QUEUE_SIZE``,
``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` and ``OTEL_BSP_SCHEDULE_DELAY``, and
``OTEL_SEMCONV_STABILITY_OPT_IN`` (see ``semconv``). Content capture follows
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (off unless ``true``), as the GenAI
instrumentations do. An argument given here wins over its variable.

This module imports nothing from OpenTelemetry: the config can be written, checked and passed
around without the optional extra installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .errors import TelemetryConfigError
from .semconv import SemconvMode

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter

CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# The OpenTelemetry SDK's defaults for its batch span processor (same variables, same values).
DEFAULT_MAX_QUEUE_SIZE: Final = 2048
DEFAULT_MAX_EXPORT_BATCH_SIZE: Final = 512
DEFAULT_SCHEDULE_DELAY: Final = 5.0


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """How a runtime exports its log to OpenTelemetry (every field optional)."""

    exporter: SpanExporter | None = None
    """Where spans go; None: the standard OTLP exporter configured by ``OTEL_*``."""
    metric_reader: MetricReader | None = None
    """Where the ``soma.pressure`` gauges go; None: OTLP (periodic), configured by ``OTEL_*``."""
    metrics: bool = True
    """False: export spans only."""
    capture_content: bool | None = None
    """Tool arguments and results on ``execute_tool`` spans (always redacted)."""
    max_queue_size: int | None = None
    """Spans held for the exporter, waiting or being sent: the memory telemetry may take. Past
    it the oldest waiting span is dropped, and counted."""
    max_export_batch_size: int | None = None
    schedule_delay: float | None = None
    """Seconds between exports when the queue is not full enough to send a batch at once."""
    shutdown_timeout: float = 5.0
    """How long closing the runtime waits for the last spans to be sent."""
    max_content_chars: int = 4096
    service_name: str | None = None
    """``service.name``; None: ``OTEL_SERVICE_NAME``, else ``soma``."""
    semconv: SemconvMode | None = None
    """None: from ``OTEL_SEMCONV_STABILITY_OPT_IN``."""

    def __post_init__(self) -> None:
        for name in ("max_queue_size", "max_export_batch_size", "max_content_chars"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"TelemetryConfig.{name} must be a positive int, got {value!r}")
        for name in ("schedule_delay", "shutdown_timeout"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise ValueError(f"TelemetryConfig.{name} must be seconds >= 0, got {value!r}")

    def resolved(self, environ: Mapping[str, str] | None = None) -> ResolvedTelemetry:
        """The settings in force: each field, else its ``OTEL_*`` variable, else the default.
        A malformed variable is a :class:`TelemetryConfigError` naming it."""
        env = os.environ if environ is None else environ
        queue = self.max_queue_size or _env_int(env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE)
        batch = self.max_export_batch_size or _env_int(
            env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_MAX_EXPORT_BATCH_SIZE
        )
        delay = self.schedule_delay
        if delay is None:
            delay = _env_int(env, "OTEL_BSP_SCHEDULE_DELAY", int(DEFAULT_SCHEDULE_DELAY * 1000)) / 1000
        capture = self.capture_content
        if capture is None:
            capture = env.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
        return ResolvedTelemetry(
            max_queue_size=queue,
            max_export_batch_size=min(batch, queue),
            schedule_delay=delay,
            capture_content=capture,
            semconv=self.semconv or SemconvMode.from_env(env),
            traces_exporter=_exporter(env, "OTEL_TRACES_EXPORTER") if self.exporter is None else "given",
            metrics_exporter=(
                "none"
                if not self.metrics
                else "given"
                if self.metric_reader is not None
                else _exporter(env, "OTEL_METRICS_EXPORTER")
            ),
            traces_protocol=_protocol(env, "TRACES"),
            metrics_protocol=_protocol(env, "METRICS"),
        )


@dataclass(frozen=True, slots=True)
class ResolvedTelemetry:
    max_queue_size: int
    max_export_batch_size: int
    schedule_delay: float
    capture_content: bool
    semconv: SemconvMode
    traces_exporter: str
    """``otlp``, ``console``, ``none``, or ``given`` (``TelemetryConfig.exporter``)."""
    metrics_exporter: str
    traces_protocol: str
    """``http/protobuf`` or ``grpc``."""
    metrics_protocol: str


EXPORTERS: Final = ("otlp", "console", "none")
PROTOCOLS: Final = ("http/protobuf", "grpc")


def _choice(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, "").strip().lower() or default


def _exporter(env: Mapping[str, str], name: str) -> str:
    # The SDK allows a list ("otlp,console"); Soma sends to one exporter.
    kind = _choice(env, name, "otlp")
    if kind not in EXPORTERS:
        raise TelemetryConfigError(f"{name}={kind!r} is not supported ({', '.join(EXPORTERS)})")
    return kind


def _protocol(env: Mapping[str, str], signal: str) -> str:
    name = f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"
    protocol = _choice(env, name, _choice(env, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
    if protocol not in PROTOCOLS:
        raise TelemetryConfigError(
            f"OTLP protocol {protocol!r} ({name} or OTEL_EXPORTER_OTLP_PROTOCOL) is not supported "
            f"({' or '.join(PROTOCOLS)})"
        )
    return protocol


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TelemetryConfigError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise TelemetryConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value
