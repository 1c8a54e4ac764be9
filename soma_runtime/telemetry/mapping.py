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

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..store.events import Event
from . import _attributes as at
from . import semconv as sc
from .semconv import SemconvMode
from .spans import (
    Attributes,
    Kind,
    SpanContextRef,
    SpanEventRecord,
    SpanKey,
    SpanRecord,
    span_id_for,
    trace_id_for,
)

RUN_ENDS: Final = {
    "run.completed": "completed",
    "run.failed": "failed",
    "run.timeout": "timeout",
    "run.cancelled": "cancelled",
    "run.suspended": "suspended",
}
TASK_ENDS: Final = frozenset({"completed", "failed", "rejected", "cancelled", "timeout"})
LLM_ENDS: Final = frozenset({"llm.succeeded", "llm.failed", "llm.timeout", "llm.cancelled"})
_REMEMBERED: Final = 50_000  # closed spans' parents and events' spans kept for attribution


@dataclass(frozen=True, slots=True)
class StartLookup:
    """A start event to fetch before an event can be mapped: ``query`` holds
    ``EventLog.query`` keyword arguments, ``match`` picks the one among its results."""

    key: SpanKey
    query: dict[str, Any]
    match: Callable[[Event], bool] = field(compare=False)


@dataclass(frozen=True, slots=True)
class MappingOptions:
    semconv: SemconvMode = SemconvMode.DEFAULT
    capture_content: bool = False
    """Tool arguments and results on ``execute_tool`` spans (redacted, cut at the limit)."""
    max_content_chars: int = 4096


class SpanMapper:
    """Turns events into finished :class:`SpanRecord` s (see the module docstring)."""

    def __init__(self, options: MappingOptions | None = None) -> None:
        self.options = options or MappingOptions()
        self._open: dict[SpanKey, SpanRecord] = {}
        self._parent: OrderedDict[SpanKey, SpanKey | None] = OrderedDict()
        self._seq_span: OrderedDict[int, SpanKey] = OrderedDict()
        self._closed: OrderedDict[SpanKey, int] = OrderedDict()  # key -> span id it had
        self._agents: dict[str, tuple[str | None, str | None]] = {}  # agent -> (model, provider)
        self._vitals: dict[str, tuple[float, float, str]] = {}  # agent -> (own, effective, mode)
        self._looked_up: set[SpanKey] = set()
        self.last_ts = 0
        self.last_seq = 0
        self._out: list[SpanRecord] = []

    # -- the public surface ----------------------------------------------------------------------

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
        for key, query, match in _needs_start(event):
            if key in self._open or key in self._closed or key in self._looked_up:
                continue
            self._looked_up.add(key)
            if len(self._looked_up) > _REMEMBERED:
                self._looked_up.clear()
            found.append(StartLookup(key, query, match))
        return found

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
        while len(table) > _REMEMBERED:
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

    # -- sessions ------------------------------------------------------------------------------

    def _session_started(self, event: Event) -> None:
        sid = event.session_id
        if not sid:
            return
        attributes: Attributes = {sc.SOMA_SESSION_ID: sid}
        at.put(attributes, sc.SOMA_AGENT_ID, event.agent_id)
        name = f"session {event.agent_id}" if event.agent_id else "session"
        self._start(
            ("session", sid), name, "internal", event, f"session:{sid}", None, attributes, event.agent_id
        )

    def _session_stopped(self, event: Event) -> None:
        if event.session_id:
            span = self._touch(("session", event.session_id), event)
            if span is not None:
                at.put(span.attributes, "soma.session.stop_reason", at.text(event.payload, "reason"))
            self._end(("session", event.session_id), event)

    # -- runs, steps, tool calls ---------------------------------------------------------------

    def _run_opened(self, event: Event) -> None:
        rid = event.run_id
        if not rid:
            return
        key: SpanKey = ("run", rid)
        span = self._touch(key, event)
        if span is not None:  # accepted earlier: the start is a moment in its life
            span.events.append(SpanEventRecord(event.type, event.ts))
            return
        trace_key, parent = self._run_home(event)
        attributes: Attributes = {sc.SOMA_RUN_ID: rid}
        at.put(attributes, sc.SOMA_SESSION_ID, event.session_id)
        at.put(attributes, sc.SOMA_AGENT_ID, event.agent_id)
        at.put(attributes, sc.SOMA_TASK_ID, event.task_id)
        steps = event.payload.get("steps")
        if isinstance(steps, list):
            attributes["soma.run.steps"] = len(steps)
        name = f"run {event.agent_id}" if event.agent_id else "run"
        span = self._start(key, name, "internal", event, trace_key, parent, attributes, event.agent_id)
        if event.task_id and event.session_id:
            session = ("session", event.session_id)
            span.links.append(self._context(session, trace_id_for(f"session:{event.session_id}")))

    def _run_event(self, event: Event) -> None:
        if event.run_id:
            span = self._touch(("run", event.run_id), event)
            if span is not None:
                span.events.append(SpanEventRecord(event.type, event.ts))

    def _run_ended(self, event: Event) -> None:
        if not event.run_id:
            return
        key: SpanKey = ("run", event.run_id)
        span = self._touch(key, event)
        if span is None:
            return
        state = RUN_ENDS[event.type]
        span.attributes[sc.SOMA_RUN_STATE] = state
        error = None
        if state in ("failed", "timeout"):
            error = at.text(event.payload, "error") or f"run {state}"
            span.attributes[sc.ERROR_TYPE] = "timeout" if state == "timeout" else at.error_type(error)
        self._close(key, event.ts, error)

    def _step_started(self, event: Event) -> None:
        if not (event.run_id and event.step_id):
            return
        trace_key, _ = self._run_home(event)
        tool = at.text(event.payload, "tool")
        attributes: Attributes = {sc.SOMA_STEP_ID: event.step_id, sc.SOMA_RUN_ID: event.run_id}
        at.put(attributes, sc.TOOL_NAME, tool)
        name = f"step {tool}" if tool else "step"
        key: SpanKey = ("step", event.run_id, event.step_id)
        self._start(
            key, name, "internal", event, trace_key, ("run", event.run_id), attributes, event.agent_id
        )

    def _step_ended(self, event: Event) -> None:
        if not (event.run_id and event.step_id):
            return
        key: SpanKey = ("step", event.run_id, event.step_id)
        span = self._touch(key, event)
        if span is None:
            return
        error = _failure(span, event, "step failed") if event.type == "step.failed" else None
        self._close(key, event.ts, error)

    def _tool_attributes(self, event: Event) -> Attributes:
        payload = event.payload
        attributes: Attributes = {sc.OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.TOOL_TYPE: "function"}
        at.put(attributes, sc.TOOL_NAME, at.text(payload, "tool"))
        at.put(attributes, sc.TOOL_CALL_ID, event.tool_call_id)
        at.put(attributes, sc.SOMA_AGENT_ID, event.agent_id)
        at.put(attributes, sc.SOMA_RUN_ID, event.run_id)
        at.put(attributes, "soma.tool.isolation", at.text(payload, "isolation"))
        at.put(attributes, "soma.tool.effect", at.text(payload, "effect"))
        destructive = payload.get("destructive")
        if isinstance(destructive, bool):
            attributes["soma.tool.destructive"] = destructive
        if self.options.capture_content and "args" in payload:
            attributes[sc.TOOL_CALL_ARGUMENTS] = at.content(payload["args"], self.options.max_content_chars)
        return attributes

    def _tool_started(self, event: Event) -> None:
        if not (event.tool_call_id and event.run_id):
            return
        trace_key, _ = self._run_home(event)
        tool = at.text(event.payload, "tool")
        parent: SpanKey | None = (
            ("step", event.run_id, event.step_id) if event.step_id else ("run", event.run_id)
        )
        key: SpanKey = ("tool", event.tool_call_id)
        name = f"{sc.OP_EXECUTE_TOOL} {tool}" if tool else sc.OP_EXECUTE_TOOL
        attributes = self._tool_attributes(event)
        self._start(key, name, "internal", event, trace_key, parent, attributes, event.agent_id)

    def _tool_ended(self, event: Event) -> None:
        if not event.tool_call_id:
            return
        key: SpanKey = ("tool", event.tool_call_id)
        span = self._touch(key, event)
        if span is None:
            return
        error = None
        if event.type == "tool.succeeded":
            if self.options.capture_content and "output" in event.payload:
                limit = self.options.max_content_chars
                span.attributes[sc.TOOL_CALL_RESULT] = at.content(event.payload["output"], limit)
        else:
            error = _failure(span, event, "tool failed")
        self._close(key, event.ts, error)

    def _tool_blocked(self, event: Event) -> None:
        """BLOCK refused a destructive tool: an ``execute_tool`` span that never ran, marked
        ``soma.blocked``, in the step that failed for it."""
        if not event.run_id:
            return
        trace_key, _ = self._run_home(event)
        step: SpanKey | None = ("step", event.run_id, event.step_id) if event.step_id else None
        step_span = self._touch(step, event) if step is not None else None
        if step_span is not None:
            step_span.attributes[sc.SOMA_BLOCKED] = True
        attributes = self._tool_attributes(event)
        attributes[sc.SOMA_BLOCKED] = True
        attributes[sc.ERROR_TYPE] = "blocked"
        pressure = at.number(event.payload, "pressure")
        at.put(attributes, sc.SOMA_EFFECTIVE_PRESSURE, None if pressure is None else float(pressure))
        tool = at.text(event.payload, "tool")
        key: SpanKey = ("blocked", event.run_id, event.step_id or str(event.seq))
        name = f"{sc.OP_EXECUTE_TOOL} {tool}" if tool else sc.OP_EXECUTE_TOOL
        parent = step if step is not None else ("run", event.run_id)
        self._start(key, name, "internal", event, trace_key, parent, attributes, event.agent_id)
        self._close(key, event.ts, at.text(event.payload, "reason") or "blocked")

    # -- actor tasks (by type name: this layer does not import soma_actor) ---------------------

    def _actor_event(self, event: Event) -> None:
        kind = event.type.removeprefix("actor.")
        if kind == "started":
            actor = at.text(event.payload, "actor_id") or event.agent_id
            if actor:
                self._agents[actor] = (at.text(event.payload, "model"), at.text(event.payload, "provider"))
        elif kind == "task.received":
            self._task_received(event)
        elif kind.startswith("task.") and kind.removeprefix("task.") in TASK_ENDS:
            self._task_ended(event, kind.removeprefix("task."))
        elif event.task_id:
            self._task_moment(event)

    def _task_received(self, event: Event) -> None:
        if not event.task_id:
            return
        agent = event.agent_id
        payload = event.payload
        attributes: Attributes = {sc.OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.SOMA_TASK_ID: event.task_id}
        at.put(attributes, sc.AGENT_NAME, agent)
        at.put(attributes, sc.AGENT_ID, agent)
        at.put(attributes, sc.CONVERSATION_ID, event.correlation_id)
        model, provider = self._agents.get(agent or "", (None, None))
        at.provider(attributes, provider, self.options.semconv)
        at.put(attributes, sc.REQUEST_MODEL, model)
        at.put(attributes, sc.SOMA_SESSION_ID, event.session_id)
        parent_task = at.text(payload, "parent_task_id")
        at.put(attributes, sc.SOMA_TASK_PARENT, parent_task)
        at.put(attributes, "soma.task.from_actor", at.text(payload, "from_actor"))
        parent: SpanKey | None = ("task", parent_task) if parent_task else None
        name = f"{sc.OP_INVOKE_AGENT} {agent}" if agent else sc.OP_INVOKE_AGENT
        key: SpanKey = ("task", event.task_id)
        self._start(key, name, "internal", event, self._task_trace(event), parent, attributes, agent)

    def _task_moment(self, event: Event) -> None:
        """``actor.task.started``, ``actor.message.sent``, ``proposal.*``: span events."""
        span = self._touch(("task", event.task_id or ""), event)
        if span is None:
            return
        attributes: Attributes = {}
        for field_name in ("kind", "stage", "to_actor", "child_task_id"):
            at.put(attributes, f"soma.{field_name}", at.text(event.payload, field_name))
        if event.type == "proposal.rejected":
            at.put(attributes, "soma.reason", at.text(event.payload, "reason"))
        span.events.append(SpanEventRecord(event.type, event.ts, attributes))

    def _task_ended(self, event: Event, state: str) -> None:
        key: SpanKey = ("task", event.task_id or "")
        span = self._touch(key, event)
        if span is None:
            return
        span.attributes[sc.SOMA_TASK_STATE] = state
        at.usage(span.attributes, event.payload)
        raw_usage = event.payload.get("usage")
        if isinstance(raw_usage, Mapping):
            for field_name in ("model_calls", "steps"):
                value = raw_usage.get(field_name)
                if isinstance(value, int) and not isinstance(value, bool):
                    span.attributes[f"soma.task.{field_name}"] = value
        error = None
        if state in ("failed", "timeout"):
            error = at.text(event.payload, "error") or f"task {state}"
            span.attributes[sc.ERROR_TYPE] = "timeout" if state == "timeout" else at.error_type(error)
        self._close(key, event.ts, error)

    # -- model calls ------------------------------------------------------------------------------

    @staticmethod
    def _llm_key(event: Event) -> SpanKey:
        call_id = at.text(event.payload, "call_id")
        if call_id:
            return ("llm", call_id)
        # No call id (a recorder that does not give one): one call at a time per task/agent.
        return ("llm", f"{event.agent_id}/{event.session_id}/{event.task_id}")

    def _llm_event(self, event: Event) -> None:
        if event.type == "llm.started":
            self._llm_started(event)
        elif event.type in LLM_ENDS:
            self._llm_ended(event)

    def _llm_started(self, event: Event) -> None:
        payload = event.payload
        model = at.text(payload, "model")
        attributes: Attributes = {sc.OPERATION_NAME: sc.OP_CHAT}
        at.provider(attributes, at.text(payload, "provider"), self.options.semconv)
        at.put(attributes, sc.REQUEST_MODEL, model)
        at.put(attributes, sc.CONVERSATION_ID, event.correlation_id)
        at.put(attributes, sc.SOMA_AGENT_ID, event.agent_id)
        guidance = payload.get("guidance")
        if isinstance(guidance, list) and guidance:
            patterns = [str(g.get("pattern")) for g in guidance if isinstance(g, Mapping)]
            attributes[sc.SOMA_GUIDANCE_PATTERNS] = patterns
        trace_key, parent = self._agent_home(event)
        name = f"{sc.OP_CHAT} {model}" if model else sc.OP_CHAT
        self._start(
            self._llm_key(event), name, "client", event, trace_key, parent, attributes, event.agent_id
        )

    def _llm_ended(self, event: Event) -> None:
        key = self._llm_key(event)
        span = self._touch(key, event)
        if span is None:
            return
        payload = event.payload
        at.usage(span.attributes, payload)
        error = None
        if event.type == "llm.succeeded":
            at.put(span.attributes, sc.RESPONSE_MODEL, at.text(payload, "model"))
            reason = at.text(payload, "stop_reason")
            if reason is not None:
                span.attributes[sc.RESPONSE_FINISH_REASONS] = [reason]
        elif event.type == "llm.cancelled":
            span.attributes["soma.cancelled"] = True
        elif event.type == "llm.timeout":
            error = f"model call timed out after {payload.get('timeout')}s"
            span.attributes[sc.ERROR_TYPE] = "timeout"
        else:
            error = at.text(payload, "error") or "model call failed"
            span.attributes[sc.ERROR_TYPE] = at.text(payload, "kind") or at.error_type(error)
        self._close(key, event.ts, error)

    # -- vitals ---------------------------------------------------------------------------------

    def _vitals_target(self, event: Event, agent: str | None) -> SpanRecord:
        """The span a vitals event goes on: the innermost one still open from its cause up;
        failing that the agent's open task or session; failing that a span of its own."""
        cause = event.payload.get("cause_seq")
        found = self._innermost_open(self._seq_span.get(cause) if isinstance(cause, int) else None)
        if found is not None:
            return found
        for kind in ("task", "session"):
            for span in reversed(self._open.values()):
                if span.key[0] == kind and span.agent_id == agent:
                    return span
        trace_key, parent = self._agent_home(event, at.text(event.payload, "session_id"))
        attributes: Attributes = {}
        at.put(attributes, sc.SOMA_AGENT_ID, agent)
        name = f"vitals {agent}" if agent else "vitals"
        key: SpanKey = ("vitals", str(event.seq))
        span = self._start(key, name, "internal", event, trace_key, parent, attributes, agent)
        self._close(key, event.ts)  # zero length; the event is added to it below, before export
        return span

    def _vitals_updated(self, event: Event) -> None:
        payload = event.payload
        agent = at.text(payload, "agent_id") or event.agent_id
        own = at.number(payload, "pressure")
        effective = at.number(payload, "effective_pressure")
        mode = at.text(payload, "mode")
        if agent and own is not None and mode is not None:
            self._vitals[agent] = (float(own), float(effective if effective is not None else own), mode)
        attributes: Attributes = {}
        at.put(attributes, sc.SOMA_AGENT_ID, agent)
        at.put(attributes, sc.SOMA_PRESSURE, None if own is None else float(own))
        at.put(attributes, sc.SOMA_EFFECTIVE_PRESSURE, None if effective is None else float(effective))
        at.put(attributes, sc.SOMA_MODE, mode)
        at.put(attributes, sc.SOMA_CAUSE_SEQ, at.number(payload, "cause_seq"))
        attributes.update(at.signal_pressures(payload))
        self._vitals_target(event, agent).events.append(
            SpanEventRecord("vitals.updated", event.ts, attributes)
        )

    def _guidance_fired(self, event: Event) -> None:
        payload = event.payload
        agent = at.text(payload, "agent_id") or event.agent_id
        attributes: Attributes = {}
        at.put(attributes, sc.SOMA_AGENT_ID, agent)
        at.put(attributes, sc.SOMA_GUIDANCE_PATTERN, at.text(payload, "pattern"))
        at.put(attributes, sc.SOMA_FIRING_ID, at.text(payload, "firing_id"))
        at.put(attributes, sc.SOMA_AB_ARM, at.text(payload, "arm"))
        at.put(attributes, sc.SOMA_MODE, at.text(payload, "mode"))
        pressure = at.number(payload, "pressure")
        at.put(attributes, sc.SOMA_EFFECTIVE_PRESSURE, None if pressure is None else float(pressure))
        at.put(attributes, sc.SOMA_GUIDANCE_MESSAGE, at.text(payload, "message"))
        at.put(attributes, sc.SOMA_CAUSE_SEQ, at.number(payload, "cause_seq"))
        self._vitals_target(event, agent).events.append(
            SpanEventRecord("guidance.fired", event.ts, attributes)
        )


def _failure(span: SpanRecord, event: Event, fallback: str) -> str | None:
    """A step or tool call that did not succeed: its error (status ERROR, with ``error.type``),
    or None when it was cancelled — someone asked for that, it is not an error."""
    error = at.text(event.payload, "error") or fallback
    if at.cancelled(error):
        span.attributes["soma.cancelled"] = True
        return None
    span.attributes[sc.ERROR_TYPE] = at.error_type(error)
    return error


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


Wanted = tuple[SpanKey, dict[str, Any], Callable[[Event], bool]]


def _needs_start(event: Event) -> list[Wanted]:
    """For an event that continues or ends a span (or opens one under a session): each span it
    needs, a query for that span's start, and how to recognise the start among the results —
    parents first."""
    t = event.type
    if t == "session.stopped" and event.session_id:
        return [_session(event.session_id)]
    if (t in RUN_ENDS or t in ("run.started", "run.resumed")) and event.run_id:
        return [
            (("run", event.run_id), {"run_id": event.run_id, "type": ["run.accepted", "run.started"]}, _any)
        ]
    if t in ("step.succeeded", "step.failed", "tool.blocked") and event.run_id and event.step_id:
        step = event.step_id
        return [
            (
                ("step", event.run_id, step),
                {"run_id": event.run_id, "type": "step.started"},
                lambda e: e.step_id == step,
            )
        ]
    if t in ("tool.succeeded", "tool.failed") and event.run_id and event.tool_call_id:
        call = event.tool_call_id
        return [
            (
                ("tool", call),
                {"run_id": event.run_id, "type": "tool.started"},
                lambda e: e.tool_call_id == call,
            )
        ]
    if t.startswith("llm."):
        wanted = [_session(event.session_id)] if event.session_id and not event.task_id else []
        call_id = at.text(event.payload, "call_id")
        where = _by_chain(event)
        if t in LLM_ENDS and where is not None and call_id is not None:
            key = SpanMapper._llm_key(event)
            wanted.append(
                (key, {**where, "type": "llm.started"}, lambda e: e.payload.get("call_id") == call_id)
            )
        return wanted
    if event.task_id and (t.startswith(("actor.task.", "proposal.")) or t == "actor.message.sent"):
        task = event.task_id
        where = _by_chain(event)
        if t == "actor.task.received" or where is None:
            return []
        return [(("task", task), {**where, "type": "actor.task.received"}, lambda e: e.task_id == task)]
    return []


def _session(session_id: str) -> Wanted:
    return ("session", session_id), {"session_id": session_id, "type": "session.started"}, _any


def _by_chain(event: Event) -> dict[str, Any] | None:
    """The narrowest indexed query that holds the events of ``event``'s task or agent."""
    if event.correlation_id:
        return {"correlation_id": event.correlation_id}
    if event.session_id:
        return {"session_id": event.session_id}
    if event.agent_id:
        return {"agent_id": event.agent_id}
    return None


def _any(_event: Event) -> bool:
    return True


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
