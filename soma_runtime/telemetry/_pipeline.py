"""One export pipeline: span records → SDK spans → bounded queue → exporter; vitals → gauges.

Built from a :class:`TelemetryConfig` when telemetry starts (by the live follower, or by the
offline export), closed once. All of it is synchronous: the follower calls ``write`` from the
event loop (it only enqueues), and ``flush`` / ``close`` — which may wait on the network —
from a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from ._otel import (
    SpanWriter,
    VitalsGauges,
    meter_provider,
    metric_reader,
    require_exporters,
    resource,
    span_exporter,
)
from ._queue import QueueProcessor, QueueStats
from .config import ResolvedTelemetry, TelemetryConfig
from .spans import SpanRecord


def check(settings: ResolvedTelemetry) -> None:
    """Everything the settings need is installed (``TelemetryUnavailable`` otherwise)."""
    require_exporters(settings)


class Pipeline:
    def __init__(
        self,
        config: TelemetryConfig,
        settings: ResolvedTelemetry,
        *,
        endpoint: str | None = None,
        block: bool = False,
        metrics: bool = True,
    ) -> None:
        res = resource(config.service_name)
        exporter = config.exporter if config.exporter is not None else span_exporter(settings, endpoint)
        self.gauges: VitalsGauges | None = None
        if metrics and config.metrics:
            reader = config.metric_reader if config.metric_reader is not None else metric_reader(settings)
            if reader is not None:
                self.gauges = VitalsGauges(meter_provider(res, reader))
        self.processor: QueueProcessor | None = None
        self.writer: SpanWriter | None = None
        if exporter is not None:
            self.processor = QueueProcessor(
                exporter,
                max_queue_size=settings.max_queue_size,
                max_export_batch_size=settings.max_export_batch_size,
                schedule_delay=settings.schedule_delay,
                block=block,
                on_loss=self._lost,
            )
            self.writer = SpanWriter(res, self.processor)
        self.closed = False

    def write(self, records: Iterable[SpanRecord]) -> None:
        if self.writer is not None and not self.closed:
            self.writer.write(records)

    def record_vitals(self, payload: Mapping[str, Any]) -> None:
        if self.gauges is not None and not self.closed:
            self.gauges.record(payload)

    def _lost(self, why: str, count: int) -> None:
        if self.gauges is not None:
            self.gauges.lost(why, count)

    def flush(self, timeout: float) -> bool:
        """Export what is queued; False if the timeout passed first. Blocks: call it from a
        worker thread."""
        if self.processor is None:
            return True
        return self.processor.force_flush(int(timeout * 1000))

    def close(self, timeout: float) -> None:
        """Send what is left within ``timeout`` seconds, then stop (spans, then metrics).
        Blocks: call it from a worker thread."""
        if self.closed:
            return
        self.closed = True
        deadline = time.monotonic() + timeout
        if self.processor is not None:
            self.processor.close(timeout)
        if self.gauges is not None:
            left = max(0.0, deadline - time.monotonic())
            self.gauges.provider.shutdown(timeout_millis=max(1.0, left * 1000))

    def stats(self) -> QueueStats:
        if self.processor is None:
            return QueueStats(0, 0, 0, 0, 0)
        return self.processor.stats()
