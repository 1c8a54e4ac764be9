"""Typed payloads of the core event types (docs/design.md §4).

Each model declares what its event must carry; ``extra="allow"`` lets later layers add
fields without a breaking change. ``CORE_PAYLOADS`` maps the core type names to them and is
registered by ``events`` at import. Upper layers register their own types with
``events.register_event_type`` (or replace one of these, with ``replace=True``).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field


class Payload(BaseModel):
    """Base of payload models: frozen, and open to fields added by later layers."""

    # JSON has no NaN/Infinity: declared float fields refuse them (a clear validation error);
    # in undeclared extra fields pydantic stores them as null.
    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)


class SessionStarted(Payload):
    intent: str | None = None
    """What the session is for; the vitals' drift signal measures divergence from it."""
    metadata: dict[str, Any] = Field(default_factory=dict)


class SessionStopped(Payload):
    reason: str = "normal"


class RunAccepted(Payload):
    steps: list[dict[str, Any]] = Field(default_factory=list)
    timeout: float | None = None


class RunStarted(Payload):
    """Journals the run's plan and options: resume rebuilds the run from this event."""

    steps: list[dict[str, Any]] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


class RunResumed(Payload):
    next_step: str | None = None
    completed_steps: list[str] = Field(default_factory=list)


class RunCompleted(Payload):
    outputs: dict[str, Any] = Field(default_factory=dict)


class RunFailed(Payload):
    error: str


class RunTimedOut(Payload):
    timeout: float | None = None


class RunCancelled(Payload):
    reason: str | None = None


class StepStarted(Payload):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class StepSucceeded(Payload):
    output: Any = None


class StepFailed(Payload):
    error: str


class ToolStarted(Payload):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    isolation: str | None = None


class ToolSucceeded(Payload):
    tool: str
    output: Any = None
    duration_ms: float | None = None


class ToolFailed(Payload):
    tool: str
    error: str
    duration_ms: float | None = None


class ToolBlocked(Payload):
    """A destructive tool refused because vitals pressure is critical (mode BLOCK)."""

    tool: str
    reason: str
    pressure: float | None = None


class TokenUsage(Payload):
    """Token counts of one model call. ``input_tokens`` counts every input token, cached ones
    included: ``cache_read_tokens`` and ``cache_write_tokens`` are the parts of it that were
    read from or written to a prompt cache (OpenAI reports input this way; the Anthropic
    provider adds its separately reported cache counts in)."""

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class LlmEvent(Payload):
    """Common fields of the ``llm.*`` events: what was called and what it cost."""

    model: str | None = None
    provider: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost_usd: float = Field(default=0.0, ge=0.0)
    duration_ms: float | None = None


class LlmStarted(LlmEvent):
    pass


class LlmSucceeded(LlmEvent):
    text: str | None = None
    """The model's output text (the vitals read hedging and drift from it)."""
    stop_reason: str | None = None


class LlmFailed(LlmEvent):
    error: str


class LlmTimedOut(LlmEvent):
    timeout: float | None = None


class LlmCancelled(LlmEvent):
    reason: str | None = None


class VitalsUpdated(Payload):
    pressure: float = Field(ge=0.0, le=1.0)
    mode: str
    signals: dict[str, float] = Field(default_factory=dict)


class GuidanceFired(Payload):
    message: str
    pattern: str | None = None
    mode: str | None = None
    pressure: float | None = None


class GuidanceDelivered(Payload):
    """Guidance handed to an agent outside a session's own model calls (a Claude Code hook's
    answer, a wrapped SDK client's system prompt): which firings, through which channel, and
    the seq of the newest of them (what a later delivery starts after)."""

    firing_ids: list[str] = Field(min_length=1)
    channel: str
    upto_seq: int = Field(ge=1)


class TrustEdge(Payload):
    """A trust edge of the vitals graph (recorded, so replay and a restarted monitor see it)."""

    src: str = Field(min_length=1)
    dst: str = Field(min_length=1)
    trust: float = Field(ge=0.0, le=1.0)


class ChildRestarted(Payload):
    child_id: str
    reason: str
    supervisor: str | None = None


class SupervisorShutdown(Payload):
    reason: str
    supervisor: str | None = None


CORE_PAYLOADS: Final[dict[str, type[BaseModel]]] = {
    "session.started": SessionStarted,
    "session.stopped": SessionStopped,
    "run.accepted": RunAccepted,
    "run.started": RunStarted,
    "run.resumed": RunResumed,
    "run.completed": RunCompleted,
    "run.failed": RunFailed,
    "run.timeout": RunTimedOut,
    "run.cancelled": RunCancelled,
    "step.started": StepStarted,
    "step.succeeded": StepSucceeded,
    "step.failed": StepFailed,
    "tool.started": ToolStarted,
    "tool.succeeded": ToolSucceeded,
    "tool.failed": ToolFailed,
    "tool.blocked": ToolBlocked,
    "llm.started": LlmStarted,
    "llm.succeeded": LlmSucceeded,
    "llm.failed": LlmFailed,
    "llm.timeout": LlmTimedOut,
    "llm.cancelled": LlmCancelled,
    # The actor layer owns these families and may register exact types inside them.
    "actor.*": Payload,
    "proposal.*": Payload,
    # Vitals for agents that run elsewhere (soma_actor.integrations): what a hook could not do.
    "hook.*": Payload,
    "vitals.updated": VitalsUpdated,
    "guidance.fired": GuidanceFired,
    "guidance.delivered": GuidanceDelivered,
    "vitals.trust": TrustEdge,
    "supervisor.child_restarted": ChildRestarted,
    "supervisor.shutdown": SupervisorShutdown,
}
