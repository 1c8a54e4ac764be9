"""From the event log to spans: a pure, incremental mapping (no OpenTelemetry in here).

    session {agent}                       trace: the session
    └── run {agent}                       (a run of a plain session)
        └── step {tool}
            └── execute_tool {tool}

    invoke_agent {agent}                  trace: the task's correlation id
    ├── chat {model}                      one per model call
    ├── run {agent}  ─ ─ link ─ ─▶ session {agent}
    │   └── step {tool}
    │       └── execute_tool {tool}
    └── invoke_agent {delegate}           a delegated task keeps the correlation id
        └── …

:meth:`SpanMapper.observe` takes events in ``seq`` order and returns the spans they finish,
each opened by its start event and closed by its end event, with those events' ``ts`` as its
times. Everything is derived from the data the events carry, by event *type names* — the
actor layer's ``actor.task.*`` and ``llm.*`` included, which this layer may not import — so
it covers whatever wrote to the log: actors, a hook, a wrapped client, an import.

Vitals become span events: ``vitals.updated`` and ``guidance.fired`` attach to the innermost
span still open on the path from the event that caused them (``cause_seq``) to its root —
the actor task, typically, since the tool call that caused an update has ended by the time
the monitor records it. Every span of an agent ends with the agent's latest vitals on it
(``soma.pressure``, ``soma.pressure.effective``, ``soma.mode``), as recorded by then.

A log read from the middle (a restarted follower, ``soma export --otlp --after N``, a run
resumed by a later runtime) has end events whose start came earlier: :meth:`lookups` says
which start events to fetch, and feeding them to :meth:`observe` first opens those spans.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from ..store.events import Event
from . import semconv as sc
from ._agent_spans import AgentSpans
from ._book import REMEMBERED, MappingOptions
from ._lookback import StartLookup, needs_start
from ._run_spans import RUN_ENDS, RunSpans
from .spans import SpanKey, SpanRecord

__all__ = ["MappingOptions", "SpanMapper", "StartLookup", "observe_looking_back"]


class SpanMapper(RunSpans, AgentSpans):
    """Turns events into finished :class:`SpanRecord` s (see the module docstring)."""

    def __init__(self, options: MappingOptions | None = None) -> None:
        super().__init__(options)
        self._looked_up: set[SpanKey] = set()
        self.last_ts = 0
        self.last_seq = 0

    def observe(self, event: Event) -> list[SpanRecord]:
        """The spans ``event`` finishes (often none)."""
        self._out = []
        self.last_ts = max(self.last_ts, event.ts)
        self.last_seq = max(self.last_seq, event.seq)
        handler = _HANDLERS.get(event.type) or _FAMILY_HANDLERS.get(event.type.split(".", 1)[0])
        if handler is not None:
            handler(self, event)
        out, self._out = self._out, []
        return out

    def open_spans(self) -> list[SpanRecord]:
        return list(self._open.values())

    def close_all(self, ts: int | None = None) -> list[SpanRecord]:
        """End every open span at ``ts`` (default: the last event's), marked
        ``soma.incomplete``: what was in flight when the slice of the log ends."""
        end = self.last_ts if ts is None else ts
        self._out = []
        # Children first, so a parent never ends before a span it holds.
        for key in sorted(self._open, key=lambda k: -self._depth(k)):
            span = self._open[key]
            span.attributes[sc.SOMA_INCOMPLETE] = True
            self._close(key, max(end, span.start))
        out, self._out = self._out, []
        return out

    def lookups(self, event: Event) -> list[StartLookup]:
        """Start events ``event`` needs that this mapper has not seen (fetch, then observe
        them before ``event``). Each span is looked up once."""
        found = []
        for key, query, match in needs_start(event):
            if key in self._open or key in self._closed or key in self._looked_up:
                continue
            self._looked_up.add(key)
            if len(self._looked_up) > REMEMBERED:
                self._looked_up.clear()
            found.append(StartLookup(key, query, match))
        return found


async def observe_looking_back(
    mapper: SpanMapper, event: Event, fetch: Callable[..., Awaitable[list[Event]]]
) -> list[SpanRecord]:
    """``mapper.observe(event)``, first fetching (``fetch(**query)``, an ``EventLog.query``)
    and observing the earlier start events it needs: what a reader from the middle of a log
    does for each event."""
    spans: list[SpanRecord] = []
    for lookup in mapper.lookups(event):
        for start in await fetch(**lookup.query):
            if start.seq < event.seq and lookup.match(start):
                spans += mapper.observe(start)
    return spans + mapper.observe(event)


_HANDLERS: Final[dict[str, Callable[[SpanMapper, Event], None]]] = {
    "session.started": SpanMapper._session_started,
    "session.stopped": SpanMapper._session_stopped,
    "run.accepted": SpanMapper._run_opened,
    "run.started": SpanMapper._run_opened,
    "run.resumed": SpanMapper._run_event,
    **{name: SpanMapper._run_ended for name in RUN_ENDS},
    "step.started": SpanMapper._step_started,
    "step.succeeded": SpanMapper._step_ended,
    "step.failed": SpanMapper._step_ended,
    "tool.started": SpanMapper._tool_started,
    "tool.succeeded": SpanMapper._tool_ended,
    "tool.failed": SpanMapper._tool_ended,
    "tool.blocked": SpanMapper._tool_blocked,
    "vitals.updated": SpanMapper._vitals_updated,
    "guidance.fired": SpanMapper._guidance_fired,
}
_FAMILY_HANDLERS: Final[dict[str, Callable[[SpanMapper, Event], None]]] = {
    "actor": SpanMapper._actor_event,
    "proposal": SpanMapper._task_moment,
    "llm": SpanMapper._llm_event,
}
