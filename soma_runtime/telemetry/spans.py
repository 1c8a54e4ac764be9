"""Spans as plain data: what the mapping produces and the OpenTelemetry adapter sends.

A :class:`SpanRecord` is a finished span — name, kind, ids, start and end in nanoseconds
since the epoch (the ``ts`` of the events that opened and closed it), attributes, span events,
links and status — with no OpenTelemetry type in it, so the mapping from events to spans is
pure and testable without the optional extra.

Ids are derived, not drawn: a trace id is a digest of what makes the trace (an actor task's
correlation id, or a session id), a span id a digest of the entity the span stands for (a run
id, a tool call id…). So a child finds its parent's span id from the ids on its own events,
even when the parent is not open in this process; and exporting the same database twice
gives the same ids (a backend sees the same spans, not twins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Literal, TypeAlias

AttrValue: TypeAlias = str | bool | int | float | list[str] | list[int] | list[float] | list[bool]
Attributes: TypeAlias = dict[str, AttrValue]
SpanKey: TypeAlias = tuple[str, ...]
"""What a span stands for: ``("run", run_id)``, ``("tool", tool_call_id)``…"""

Kind = Literal["internal", "client"]


def trace_id_for(trace_key: str) -> int:
    """A 128-bit trace id from what makes the trace (never 0, which OpenTelemetry forbids)."""
    return int.from_bytes(blake2b(trace_key.encode(), digest_size=16).digest(), "big") or 1


def span_id_for(key: SpanKey) -> int:
    """A 64-bit span id from the entity a span stands for (never 0)."""
    text = "\x1f".join(key)
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big") or 1


@dataclass(frozen=True, slots=True)
class SpanContextRef:
    """Where a span sits: its trace and its own id (what a child or a link points at)."""

    trace_id: int
    span_id: int


@dataclass(slots=True)
class SpanEventRecord:
    name: str
    ts: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)
class SpanRecord:
    """One span, open while the mapping fills it, handed on once ``end`` is set."""

    key: SpanKey
    name: str
    kind: Kind
    context: SpanContextRef
    parent: SpanContextRef | None
    start: int
    end: int = 0
    attributes: Attributes = field(default_factory=dict)
    events: list[SpanEventRecord] = field(default_factory=list)
    links: list[SpanContextRef] = field(default_factory=list)
    error: str | None = None
    """The status description when the span ended in error (status ERROR); None: UNSET."""
    agent_id: str | None = None
    """The agent whose vitals go on the span as it ends (``soma.pressure``, ``soma.mode``)."""

    @property
    def trace_id(self) -> int:
        return self.context.trace_id

    @property
    def span_id(self) -> int:
        return self.context.span_id

    @property
    def duration_ns(self) -> int:
        return self.end - self.start
