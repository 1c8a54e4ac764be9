"""The bounded export queue between the runtime and a (possibly unreachable) collector.

    follower ─span.end()─▶ on_end: append, never blocks ─▶ [queue ≤ N] ─▶ worker thread ─▶ exporter

A span processor of our own rather than the SDK's ``BatchSpanProcessor``, for one reason: what
it loses must be *counted and visible*. The SDK's processor drops silently unless its internal
metrics are switched on, and does not count batches the exporter failed to send. Here a full
queue drops its oldest span (the newest picture of the agents is the one worth keeping) and
counts it; a failed export counts its spans; both are in :class:`QueueStats` and logged.

``on_end`` runs in the event loop's thread and only appends under a lock: however slow or dead
the collector, the runtime's cost per span is the same. The exporter — which may retry for
its whole timeout against a dead collector — runs only in the worker thread. With
``block=True`` (the offline export of a past database, where nothing may be dropped) a full
queue makes ``on_end`` wait for room instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("soma.telemetry")


@dataclass(frozen=True, slots=True)
class QueueStats:
    exported: int
    dropped: int
    """Spans dropped because the queue was full (the collector too slow, or unreachable)."""
    failed: int
    """Spans in batches the exporter could not send."""
    queued: int
    capacity: int


class QueueProcessor(SpanProcessor):
    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int,
        max_export_batch_size: int,
        schedule_delay: float,
        block: bool = False,
        on_loss: Callable[[str, int], None] | None = None,
    ) -> None:
        self._exporter = exporter
        self._capacity = max_queue_size
        self._batch = max_export_batch_size
        self._delay = schedule_delay
        self._block = block
        self._on_loss = on_loss
        self._queue: deque[ReadableSpan] = deque()
        self._lock = threading.Condition()
        self._in_flight = 0
        self._flush_wanted = False
        self._closing = False
        self._exported = self._dropped = self._failed = 0
        self._next_drop_log = 1
        self._worker = threading.Thread(target=self._work, name="soma-telemetry-export", daemon=True)
        self._worker.start()

    # -- SpanProcessor --------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            if self._block and not self._closing:
                self._lock.wait_for(lambda: self._held() < self._capacity or self._closing)
            if self._closing:
                lost = 1
            elif self._held() < self._capacity:
                lost = 0
                self._queue.append(span)
            elif self._queue:  # full: the oldest waiting span makes room
                self._queue.popleft()
                self._queue.append(span)
                lost = 1
            else:  # the whole capacity is in the exporter's hands
                lost = 1
            if len(self._queue) >= self._batch:
                self._lock.notify_all()
            if not lost:
                return
            self._dropped += lost
            total, noteworthy = self._dropped, self._dropped >= self._next_drop_log
            if noteworthy:
                self._next_drop_log *= 10
        if noteworthy:
            # A log line at 1, 10, 100… drops: visible, without flooding the log.
            log.warning(
                "telemetry export queue full: %d span(s) dropped so far (collector slow or unreachable)",
                total,
            )
        if self._on_loss is not None:
            self._on_loss("dropped", lost)

    def _held(self) -> int:
        """Spans waiting plus spans being exported: what the capacity bounds."""
        return len(self._queue) + self._in_flight

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything queued now; True if it was sent (or failed) within the timeout."""
        deadline = time.monotonic() + timeout_millis / 1000
        with self._lock:
            self._flush_wanted = True
            self._lock.notify_all()
            return self._lock.wait_for(
                lambda: not self._queue and not self._in_flight, max(0.0, deadline - time.monotonic())
            )

    def shutdown(self) -> None:
        self.close(5.0)

    def close(self, timeout: float) -> None:
        """Flush within ``timeout`` seconds, stop the worker, shut the exporter down. What
        could not be sent by then is counted as dropped."""
        deadline = time.monotonic() + timeout
        self.force_flush(int(timeout * 1000))
        with self._lock:
            self._closing = True
            left = len(self._queue)
            self._queue.clear()
            self._dropped += left
            self._lock.notify_all()
        if left:
            log.warning("telemetry closed with %d span(s) not sent (collector slow or unreachable)", left)
            if self._on_loss is not None:
                self._on_loss("dropped", left)
        # Interrupts an exporter still retrying against a dead collector (the OTLP exporters
        # stop waiting between retries once shut down), then gives the worker what time is left.
        self._exporter.shutdown()
        self._worker.join(max(0.0, deadline - time.monotonic()))

    # -- the worker ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(
                    lambda: self._closing or self._flush_wanted or len(self._queue) >= self._batch,
                    self._delay,
                )
                if self._closing:
                    return
                batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
                if not self._queue:
                    self._flush_wanted = False
                self._in_flight = len(batch)
                self._lock.notify_all()  # room for a blocked on_end
            if batch:
                self._send(batch)

    def _send(self, batch: list[ReadableSpan]) -> None:
        try:
            ok = self._exporter.export(batch) is SpanExportResult.SUCCESS
        except Exception:
            log.exception("telemetry exporter raised")
            ok = False
        with self._lock:
            if ok:
                self._exported += len(batch)
            else:
                self._failed += len(batch)
            self._in_flight = 0
            self._lock.notify_all()
        if not ok:
            log.warning("telemetry export failed: %d span(s) not sent", len(batch))
            if self._on_loss is not None:
                self._on_loss("failed", len(batch))

    def stats(self) -> QueueStats:
        with self._lock:
            return QueueStats(
                self._exported,
                self._dropped,
                self._failed,
                len(self._queue) + self._in_flight,
                self._capacity,
            )
