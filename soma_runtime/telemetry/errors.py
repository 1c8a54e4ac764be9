"""Typed errors of the telemetry layer."""

from __future__ import annotations


class TelemetryUnavailable(ImportError):
    """OpenTelemetry (the optional ``telemetry`` extra) is not installed, or a part of it a
    setting asks for (the gRPC exporter, say) is not."""

    def __init__(self, missing: str, hint: str = "pip install 'soma-runtime[telemetry]'") -> None:
        self.missing = missing
        super().__init__(f"OpenTelemetry export needs {missing}, which is not installed: {hint}")


class TelemetryConfigError(ValueError):
    """An ``OTEL_*`` setting Soma cannot honour (an unknown exporter or protocol)."""
