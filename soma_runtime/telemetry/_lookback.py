"""Reading a log from the middle: which earlier start events an event needs.

A restarted follower, ``soma export --otlp --after N`` and a run resumed by a later runtime
all meet end events whose start came before what they read. :func:`needs_start` names, for
an event, the spans it continues or ends (or the session a call belongs to) and a query for
each one's start; the mapper asks only for those it has not seen (``SpanMapper.lookups``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..store.events import Event
from . import _attributes as at
from ._agent_spans import LLM_ENDS, llm_key
from ._run_spans import RUN_ENDS
from .spans import SpanKey


@dataclass(frozen=True, slots=True)
class StartLookup:
    """A start event to fetch before an event can be mapped: ``query`` holds
    ``EventLog.query`` keyword arguments, ``match`` picks the one among its results."""

    key: SpanKey
    query: dict[str, Any]
    match: Callable[[Event], bool] = field(compare=False)


Wanted = tuple[SpanKey, dict[str, Any], Callable[[Event], bool]]


def needs_start(event: Event) -> list[Wanted]:
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
            key = llm_key(event)
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
