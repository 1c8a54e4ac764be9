"""OpenTelemetry export of the event log (docs/design.md §10): agent vitals next to service vitals.

- ``mapping``: :class:`SpanMapper`, events → spans (pure: no OpenTelemetry import), with the
  GenAI semantic conventions (``semconv``: which version, and ``OTEL_SEMCONV_STABILITY_OPT_IN``).
- ``follower``: the live export — a follower of the log under the root supervisor, turned on
  by ``Runtime.open(telemetry=True | TelemetryConfig(...))`` — and ``rt.telemetry``.
- ``offline``: :func:`export_log`, a recorded log after the fact (``soma export --otlp``).
- ``config``: :class:`TelemetryConfig` and the ``OTEL_*`` variables it honours.

OpenTelemetry is an optional extra (``pip install 'soma-runtime[telemetry]'``); without it, turning
telemetry on raises :class:`TelemetryUnavailable` and everything else works as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "TelemetryConfig": ".config",
    "TelemetryConfigError": ".errors",
    "TelemetryUnavailable": ".errors",
    "Telemetry": ".follower",
    "TelemetryStats": ".follower",
    "MappingOptions": ".mapping",
    "SpanMapper": ".mapping",
    "ExportFailed": ".offline",
    "ExportReport": ".offline",
    "export_log": ".offline",
    "SEMCONV_VERSION": ".semconv",
    "SemconvMode": ".semconv",
    "SpanRecord": ".spans",
}

__all__ = [
    "SEMCONV_VERSION",
    "ExportFailed",
    "ExportReport",
    "MappingOptions",
    "SemconvMode",
    "SpanMapper",
    "SpanRecord",
    "Telemetry",
    "TelemetryConfig",
    "TelemetryConfigError",
    "TelemetryStats",
    "TelemetryUnavailable",
    "export_log",
]
assert set(__all__) == set(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .config import TelemetryConfig
    from .errors import TelemetryConfigError, TelemetryUnavailable
    from .follower import Telemetry, TelemetryStats
    from .mapping import MappingOptions, SpanMapper
    from .offline import ExportFailed, ExportReport, export_log
    from .semconv import SEMCONV_VERSION, SemconvMode
    from .spans import SpanRecord
