"""Spans of the execution core's events: sessions, runs, steps and tool calls.

    session {agent}          session.started → session.stopped
    └── run {agent}          run.accepted (or run.started) → run.completed|failed|timeout|cancelled
        └── step {tool}      step.started → step.succeeded|failed
            └── execute_tool {tool}   tool.started → tool.succeeded|failed (tool.blocked: never ran)

A run an actor task started belongs to the task's trace, with a link to its session.
"""

from __future__ import annotations

from typing import Final

from ..store.events import Event
from . import _attributes as at
from . import semconv as sc
from ._book import SpanBook
from .spans import Attributes, SpanEventRecord, SpanKey, SpanRecord, trace_id_for

RUN_ENDS: Final = {
    "run.completed": "completed",
    "run.failed": "failed",
    "run.timeout": "timeout",
    "run.cancelled": "cancelled",
    "run.suspended": "suspended",
}


class RunSpans(SpanBook):
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


def _failure(span: SpanRecord, event: Event, fallback: str) -> str | None:
    """A step or tool call that did not succeed: its error (status ERROR, with ``error.type``),
    or None when it was cancelled — someone asked for that, it is not an error."""
    error = at.text(event.payload, "error") or fallback
    if at.cancelled(error):
        span.attributes["soma.cancelled"] = True
        return None
    span.attributes[sc.ERROR_TYPE] = at.error_type(error)
    return error
