"""The span bookkeeping the mapping's handlers share: open spans, what closed, parents,
which span each event belonged to, and where a span lives (its trace and parent).

A base class, so that the handlers of each part of the log (``_run_spans``: sessions, runs,
steps, tool calls; ``_agent_spans``: actor tasks, model calls, vitals) read as what they map,
over one set of books (:class:`SpanMapper` is all of them).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from ..store.events import Event
from . import semconv as sc
from .semconv import SemconvMode
from .spans import Attributes, Kind, SpanContextRef, SpanKey, SpanRecord, span_id_for, trace_id_for

REMEMBERED: Final = 50_000  # closed spans' parents and events' spans kept for attribution


@dataclass(frozen=True, slots=True)
class MappingOptions:
    semconv: SemconvMode = SemconvMode.DEFAULT
    capture_content: bool = False
    """Tool arguments and results on ``execute_tool`` spans (redacted, cut at the limit)."""
    max_content_chars: int = 4096


class SpanBook:
    def __init__(self, options: MappingOptions | None = None) -> None:
        self.options = options or MappingOptions()
        self._open: dict[SpanKey, SpanRecord] = {}
        self._parent: OrderedDict[SpanKey, SpanKey | None] = OrderedDict()
        self._seq_span: OrderedDict[int, SpanKey] = OrderedDict()
        self._closed: OrderedDict[SpanKey, int] = OrderedDict()  # key -> span id it had
        self._agents: dict[str, tuple[str | None, str | None]] = {}  # agent -> (model, provider)
        self._vitals: dict[str, tuple[float, float, str]] = {}  # agent -> (own, effective, mode)
        self._out: list[SpanRecord] = []

    # -- spans ---------------------------------------------------------------------------------

    def _context(self, key: SpanKey, trace_id: int) -> SpanContextRef:
        """Where ``key``'s span is (open, recently closed, or derived from its ids)."""
        span = self._open.get(key)
        if span is not None:
            return span.context
        closed = self._closed.get(key)
        return SpanContextRef(trace_id, closed if closed is not None else span_id_for(key))

    def _start(
        self,
        key: SpanKey,
        name: str,
        kind: Kind,
        event: Event,
        trace_key: str,
        parent: SpanKey | None,
        attributes: Attributes,
        agent_id: str | None,
    ) -> SpanRecord:
        previous = self._open.get(key)
        if previous is not None:  # started again (a step re-run after a resume): the first ends here
            previous.attributes[sc.SOMA_INCOMPLETE] = True
            self._close(key, event.ts)
        trace_id = trace_id_for(trace_key)
        span_id = span_id_for(key) if key not in self._closed else span_id_for((*key, str(event.seq)))
        span = SpanRecord(
            key=key,
            name=name,
            kind=kind,
            context=SpanContextRef(trace_id, span_id),
            parent=None if parent is None else self._context(parent, trace_id),
            start=event.ts,
            attributes=attributes,
            agent_id=agent_id,
        )
        self._open[key] = span
        self._remember_parent(key, parent)
        self._seq_span[event.seq] = key
        self._trim(self._seq_span)
        return span

    def _touch(self, key: SpanKey, event: Event) -> SpanRecord | None:
        """The open span ``key`` (recording that ``event`` belongs to it), or None."""
        span = self._open.get(key)
        if span is not None:
            self._seq_span[event.seq] = key
            self._trim(self._seq_span)
        return span

    def _close(self, key: SpanKey, ts: int, error: str | None = None) -> SpanRecord | None:
        span = self._open.pop(key, None)
        if span is None:
            return None
        span.end = max(ts, span.start)
        if error is not None:
            span.error = error
        vitals = self._vitals.get(span.agent_id or "")
        if vitals is not None:
            own, effective, mode = vitals
            span.attributes[sc.SOMA_PRESSURE] = own
            span.attributes[sc.SOMA_EFFECTIVE_PRESSURE] = effective
            span.attributes[sc.SOMA_MODE] = mode
        self._closed[key] = span.span_id
        self._trim(self._closed)
        self._out.append(span)
        return span

    def _end(self, key: SpanKey, event: Event, error: str | None = None) -> SpanRecord | None:
        if self._touch(key, event) is None:
            return None
        return self._close(key, event.ts, error)

    def _remember_parent(self, key: SpanKey, parent: SpanKey | None) -> None:
        self._parent[key] = parent
        self._parent.move_to_end(key)
        self._trim(self._parent)

    def _depth(self, key: SpanKey) -> int:
        depth, seen = 0, key
        while (up := self._parent.get(seen)) is not None and depth < 64:
            depth, seen = depth + 1, up
        return depth

    @staticmethod
    def _trim(table: OrderedDict[Any, Any]) -> None:
        while len(table) > REMEMBERED:
            table.popitem(last=False)

    def _innermost_open(self, key: SpanKey | None) -> SpanRecord | None:
        hops = 0
        while key is not None and hops < 64:
            span = self._open.get(key)
            if span is not None:
                return span
            key, hops = self._parent.get(key), hops + 1
        return None

    # -- where spans live --------------------------------------------------------------------------

    @staticmethod
    def _task_trace(event: Event) -> str:
        return f"corr:{event.correlation_id}" if event.correlation_id else f"task:{event.task_id}"

    def _run_home(self, event: Event) -> tuple[str, SpanKey | None]:
        """The trace of a run's spans, and the run's parent: the actor task that started it,
        or the session."""
        if event.task_id:
            return self._task_trace(event), ("task", event.task_id)
        if event.session_id:
            return f"session:{event.session_id}", ("session", event.session_id)
        return f"run:{event.run_id}", None

    def _agent_home(self, event: Event, session_id: str | None = None) -> tuple[str, SpanKey | None]:
        """Trace and parent of a model call or a vitals span: its task, else its session —
        if the log has that session's span: a hook or a wrapped client may record calls in a
        session it never started, and a parent that never comes would orphan the span."""
        if event.task_id:
            return self._task_trace(event), ("task", event.task_id)
        session = session_id or event.session_id
        if session:
            key: SpanKey = ("session", session)
            return f"session:{session}", key if key in self._open or key in self._closed else None
        return f"agent:{event.agent_id or 'unknown'}", None
