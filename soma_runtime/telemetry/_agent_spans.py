"""Spans of the agent layer's events, read by type name (this layer does not import
``soma_actor``): actor tasks (``invoke_agent``), model calls (``chat``), and vitals as span
events.

    invoke_agent {agent}     actor.task.received → actor.task.completed|failed|rejected|cancelled|timeout
    ├── chat {model}         llm.started → llm.succeeded|failed|timeout|cancelled
    └── invoke_agent {delegate}   (parent_task_id: the delegator's task, same correlation id)

A model call without a task (a wrapped client, a hook) belongs to its session, if the log has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..store.events import Event
from . import _attributes as at
from . import semconv as sc
from ._book import SpanBook
from .spans import Attributes, SpanEventRecord, SpanKey, SpanRecord

TASK_ENDS: Final = frozenset({"completed", "failed", "rejected", "cancelled", "timeout"})
LLM_ENDS: Final = frozenset({"llm.succeeded", "llm.failed", "llm.timeout", "llm.cancelled"})


def llm_key(event: Event) -> SpanKey:
    call_id = at.text(event.payload, "call_id")
    if call_id:
        return ("llm", call_id)
    # No call id (a recorder that does not give one): one call at a time per task/agent.
    return ("llm", f"{event.agent_id}/{event.session_id}/{event.task_id}")


class AgentSpans(SpanBook):
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
        self._start(llm_key(event), name, "client", event, trace_key, parent, attributes, event.agent_id)

    def _llm_ended(self, event: Event) -> None:
        key = llm_key(event)
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
