"""Export a recorded log as spans, after the fact (``soma export --otlp ENDPOINT``).

The same mapping as the live follower, over a database read from the start (or a slice of
it): a past run, a crashed runtime's database, a log a hook recorded. Nothing is dropped —
when the exporter falls behind, reading waits — and the first batch the collector refuses
ends the export with :class:`ExportFailed`, rather than retrying a dead endpoint batch after
batch. Spans still open where the slice ends (work in flight when it was taken, or when a
runtime died) are exported too, ended at the last event and marked ``soma.incomplete``.
Metrics are not exported: a gauge is a reading of *now*, not of the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import anyio
import anyio.to_thread

from ..store.log import EventLog
from .config import TelemetryConfig
from .mapping import MappingOptions, SpanMapper, observe_looking_back
from .spans import SpanRecord

_PAGE: Final = 1000


@dataclass(frozen=True, slots=True)
class ExportReport:
    events: int
    """Events read from the log."""
    spans: int
    """Spans produced (``incomplete`` of them were still open where the log ended)."""
    incomplete: int
    exported: int
    failed: int


class ExportFailed(Exception):
    """The collector did not accept the spans (unreachable, or it refused them)."""

    def __init__(self, report: ExportReport, endpoint: str | None) -> None:
        self.report = report
        where = endpoint or "the configured OTLP endpoint"
        super().__init__(
            f"{where} did not accept the spans: {report.failed} of {report.spans} failed "
            f"({report.exported} exported before it)"
        )


async def export_log(
    log: EventLog,
    *,
    endpoint: str | None = None,
    config: TelemetryConfig | None = None,
    run_id: str | None = None,
    session_id: str | None = None,
    agent_id: str | None = None,
    after_seq: int = 0,
) -> ExportReport:
    """Map the log (or the slice the filters select) to spans and export them; returns what
    was done. ``endpoint`` is an OTLP base URL (``http://collector:4318``), as
    ``OTEL_EXPORTER_OTLP_ENDPOINT``; without it the ``OTEL_*`` variables decide. Raises
    :class:`ExportFailed` when the collector does not take them."""
    from ._pipeline import Pipeline

    cfg = config or TelemetryConfig()
    settings = cfg.resolved()
    mapper = SpanMapper(MappingOptions(settings.semconv, settings.capture_content, cfg.max_content_chars))
    pipeline = Pipeline(cfg, settings, endpoint=endpoint, block=True, metrics=False)
    events = spans = incomplete = 0
    try:
        upto = await log.last_seq()
        cursor = after_seq
        while cursor < upto:
            page = [
                e
                for e in await log.query(
                    run_id=run_id, session_id=session_id, agent_id=agent_id, after_seq=cursor, limit=_PAGE
                )
                if e.seq <= upto
            ]
            if not page:
                break
            records: list[SpanRecord] = []
            for event in page:
                records += await observe_looking_back(mapper, event, log.query)
            events += len(page)
            spans += len(records)
            await anyio.to_thread.run_sync(pipeline.write, records)
            cursor = page[-1].seq
            if pipeline.stats().failed:
                break
        if not pipeline.stats().failed:
            left = mapper.close_all()
            incomplete = len(left)
            spans += incomplete
            await anyio.to_thread.run_sync(pipeline.write, left)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(pipeline.close, cfg.shutdown_timeout)
    stats = pipeline.stats()
    report = ExportReport(events, spans, incomplete, stats.exported, stats.failed + stats.dropped)
    if report.failed:
        raise ExportFailed(report, endpoint)
    return report
