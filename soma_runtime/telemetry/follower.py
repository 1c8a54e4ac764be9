"""The live exporter: a follower of the log under the root supervisor, and ``rt.telemetry``.

    Runtime (soma_sup)
    ├── EventStore
    ├── TelemetrySupervisor  (temporary: a telemetry that keeps crashing stops; the runtime does not)
    │   └── TelemetryFollower   EventStore ──subscription──▶ SpanMapper ──▶ Pipeline ──▶ collector
    ├── ToolRegistry, VitalsMonitor, sessions, runs …

Started right after the event store, so it stops right before it: by the time the follower's
``terminate`` runs in an orderly shutdown, every other child has recorded its last events
(runs cancelled, sessions stopped, tasks ended), and the follower maps them all before the
pipeline sends what is left (within ``shutdown_timeout``).

Nothing here waits on the collector. The subscription never blocks the store's writers; the
follower only enqueues spans; the export queue is bounded and drops (counting) when the
collector cannot keep up. The export begins with the events committed after the open — what
the database already held is history, exported with ``soma export --otlp``. A restarted
follower resumes after the last event its predecessor took (the cursor lives in the
:class:`Telemetry` handle), looking up in the store the starts of spans that were open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.to_thread

from ..kernel import (
    NOREPLY,
    ONE_FOR_ONE,
    SUPERVISOR,
    TEMPORARY,
    Call,
    ChildSpec,
    GenServer,
    NoProc,
    Pid,
    Process,
    ProcessDied,
    Supervisor,
    current_node,
)
from ..kernel.reasons import ExitReason, is_orderly
from ..store.errors import StoreClosed
from ..store.events import Event
from ..store.log import EventLog
from .config import TelemetryConfig
from .mapping import MappingOptions, SpanMapper, observe_looking_back

if TYPE_CHECKING:
    from ._pipeline import Pipeline

TELEMETRY_NAME: Final = "soma.telemetry"
TELEMETRY_SUPERVISOR: Final = "soma.telemetry_sup"
_PAGE: Final = 1000

log = logging.getLogger("soma.telemetry")


@dataclass(frozen=True, slots=True)
class TelemetryStats:
    """What the live export has done (``rt.telemetry.stats()``, the ``telemetry`` control op)."""

    running: bool
    """Whether the follower is alive (False once a crash-looping telemetry was given up)."""
    observed_seq: int
    """The last event the follower has taken."""
    spans_exported: int
    spans_dropped: int
    """Dropped from the full export queue (collector slow or unreachable), or left at close."""
    spans_failed: int
    """In batches the exporter could not send."""
    queued: int
    queue_capacity: int

    def to_json(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "observed_seq": self.observed_seq,
            "spans_exported": self.spans_exported,
            "spans_dropped": self.spans_dropped,
            "spans_failed": self.spans_failed,
            "queued": self.queued,
            "queue_capacity": self.queue_capacity,
        }


class Telemetry:
    """``rt.telemetry``: the live export of a runtime's log (None when telemetry is off).

    Constructed by ``Runtime.open(telemetry=...)``, which fails at once — before anything
    starts — if the OpenTelemetry extra is missing (``TelemetryUnavailable``) or an ``OTEL_*``
    variable is malformed (``TelemetryConfigError``).
    """

    def __init__(self, config: TelemetryConfig, events: str) -> None:
        self.config = config
        self.settings = config.resolved()
        from . import _pipeline  # the extra is there (TelemetryUnavailable otherwise) …

        _pipeline.check(self.settings)  # … and the exporters the OTEL_* variables chose

        self.options = MappingOptions(
            semconv=self.settings.semconv,
            capture_content=self.settings.capture_content,
            max_content_chars=config.max_content_chars,
        )
        self.events_name = events
        self.cursor: int | None = None
        self._pipeline: Pipeline | None = None

    def pipeline(self) -> Pipeline:
        """The export pipeline, started on first use and kept across follower restarts."""
        if self._pipeline is None or self._pipeline.closed:
            from ._pipeline import Pipeline

            self._pipeline = Pipeline(self.config, self.settings)
        return self._pipeline

    def child_spec(self) -> ChildSpec:
        """The telemetry supervisor, a temporary child of the root: when its follower crashes
        over and over it gives up and the runtime goes on without telemetry."""
        follower = ChildSpec(
            "follower",
            partial(TelemetryFollower.start_link, name=TELEMETRY_NAME),
            (self,),
            shutdown=self.config.shutdown_timeout + 10.0,  # draining the log, then sending
        )
        return ChildSpec(
            "telemetry",
            partial(
                Supervisor.start_link,
                strategy=ONE_FOR_ONE,
                intensity=5,
                period=10.0,
                name=TELEMETRY_SUPERVISOR,
            ),
            ([follower],),
            restart=TEMPORARY,
            kind=SUPERVISOR,
        )

    def stats(self) -> TelemetryStats:
        pipeline = self._pipeline
        queue = pipeline.stats() if pipeline is not None else None
        try:
            running = current_node().whereis(TELEMETRY_NAME) is not None
        except RuntimeError:  # asked after the runtime (and its node) closed
            running = False
        return TelemetryStats(
            running=running,
            observed_seq=self.cursor or 0,
            spans_exported=queue.exported if queue else 0,
            spans_dropped=queue.dropped if queue else 0,
            spans_failed=queue.failed if queue else 0,
            queued=queue.queued if queue else 0,
            queue_capacity=queue.capacity if queue else self.settings.max_queue_size,
        )

    async def flush(self, timeout: float | None = 10.0) -> TelemetryStats:
        """Wait until every event committed before this call is mapped and its spans are
        exported (or counted as dropped or failed); returns the stats. For tests and tools."""
        events = EventLog(self.events_name)
        target = await events.sync()
        pid = current_node().whereis(TELEMETRY_NAME)
        if pid is not None:
            await pid.call(("observed", target), timeout=timeout)
        pipeline = self._pipeline
        if pipeline is not None:
            wait = 30.0 if timeout is None else timeout
            await anyio.to_thread.run_sync(pipeline.flush, wait, abandon_on_cancel=True)
        return self.stats()

    async def aclose(self) -> None:
        """Send what is left (within ``shutdown_timeout``) and stop exporting. Idempotent;
        the runtime calls it as it closes."""
        pipeline = self._pipeline
        if pipeline is not None and not pipeline.closed:
            await anyio.to_thread.run_sync(
                pipeline.close, self.config.shutdown_timeout, abandon_on_cancel=True
            )

    async def control_op(self, params: dict[str, Any]) -> dict[str, Any]:
        """The ``telemetry`` op of the control API: the stats, as JSON."""
        return self.stats().to_json()


@dataclass(frozen=True, slots=True)
class _Observed:
    event: Event


async def _feed(proc: Process, follower: Pid, events: EventLog, from_seq: int) -> None:
    """Follow the log into the follower's mailbox (its bound gives backpressure; the store's
    subscription never blocks writers, so the runtime never waits on telemetry)."""
    async for event in events.subscribe(from_seq=from_seq):
        await follower.send(_Observed(event))


class TelemetryFollower(GenServer):
    async def init(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.events = EventLog(telemetry.events_name)
        self.pipeline = telemetry.pipeline()
        self.mapper = SpanMapper(telemetry.options)
        self.waiting: list[tuple[int, Call]] = []
        if telemetry.cursor is None:
            telemetry.cursor = await self.events.sync()
        current_node().spawn(_feed, self.pid, self.events, telemetry.cursor + 1, link=True)

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, _Observed):
            event = message.event
            if event.seq <= (self.telemetry.cursor or 0):
                return  # taken while draining
            # The cursor moves first: should mapping this event crash the follower, its
            # successor goes past it instead of crashing on it again.
            self.telemetry.cursor = event.seq
            await self._take(event)
            if self.waiting:
                self._answer_waiting()

    async def handle_call(self, request: Any, caller: Call) -> Any:
        match request:
            case ("observed", int() as seq):
                if (self.telemetry.cursor or 0) >= seq:
                    return self.telemetry.cursor
                self.waiting.append((seq, caller))
                return NOREPLY
        raise ValueError(f"unknown telemetry request {request!r}")

    def _answer_waiting(self) -> None:
        seen = self.telemetry.cursor or 0
        still = []
        for seq, caller in self.waiting:
            if seen >= seq:
                caller.reply(seen)
            else:
                still.append((seq, caller))
        self.waiting = still

    async def _take(self, event: Event) -> None:
        self.pipeline.write(await observe_looking_back(self.mapper, event, self.events.query))
        if event.type == "vitals.updated":
            self.pipeline.record_vitals(event.payload)

    async def terminate(self, reason: ExitReason) -> None:
        if not is_orderly(reason):
            return  # a crash: the successor takes over the pipeline and the cursor
        try:
            await self._drain()
        except (StoreClosed, NoProc, ProcessDied) as exc:  # the store is gone: send what we have
            log.warning("telemetry could not read the last events: %s", exc)
        await self.telemetry.aclose()

    async def _drain(self) -> None:
        """Map everything committed but not yet taken: the last events of the shutdown."""
        last = await self.events.sync()
        while (self.telemetry.cursor or 0) < last:
            page = await self.events.query(after_seq=self.telemetry.cursor or 0, limit=_PAGE)
            if not page:
                break
            for event in page:
                self.telemetry.cursor = event.seq
                await self._take(event)
