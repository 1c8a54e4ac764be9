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


class SessionResumed(Payload):
    """The session's process restarted under its own id, at open, to host resumed runs.

    Repeats what ``session.started`` said (a reader of one event needs no other)."""

    intent: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    runs: list[str] = Field(default_factory=list)
    """The runs resumed in it."""


class RunAccepted(Payload):
    steps: list[dict[str, Any]] = Field(default_factory=list)
    timeout: float | None = None


class RunStarted(Payload):
    """Journals the run's plan and options: resume rebuilds the run from this event."""

    steps: list[dict[str, Any]] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


class RunResumed(Payload):
    """The run continues under its own id after its runtime stopped (resume at open)."""

    next_step: str | None = None
    completed_steps: list[str] = Field(default_factory=list)
    rerun: bool = False
    """``next_step`` was in flight when the runtime stopped and runs again (its tool was
    ``pure`` or ``idempotent`` when it started)."""


class RunSuspended(Payload):
    """An orderly shutdown with ``on_shutdown="suspend"`` left the run to the next open."""

    reason: str = "shutdown"
    step_id: str | None = None
    """The step whose tool was stopped, if one was running."""


class RunCompleted(Payload):
    outputs: dict[str, Any] = Field(default_factory=dict)


class RunFailed(Payload):
    """Optional ``kind`` (an extra field) says why, when it is not a step's failure:
    ``resume_unsafe``, ``resume_unavailable``, ``interrupted`` (the runtime stopped and the
    run was not resumed), ``crashed`` (its process died)."""

    error: str


class RunTimedOut(Payload):
    timeout: float | None = None


class RunCancelled(Payload):
    reason: str | None = None
    """Why, short (``cancelled``, ``shutdown``…); an extra ``error`` says what the cancel cut."""


class StepStarted(Payload):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class StepSucceeded(Payload):
    output: Any = None


class StepFailed(Payload):
    """A run's own ``step.failed`` also carries ``outcome`` (an extra field): the run state
    this failure ends the run in (``failed``, ``timeout``, ``cancelled``), journalled so that
    resume can record the run's end if the runtime stopped before it did."""

    error: str


class ToolStarted(Payload):
    """A run's ``tool.started`` also journals (as extra fields) the tool's ``effect``,
    ``idempotent`` and ``destructive`` as they were when the call started: resume re-runs an
    interrupted call only if they say it is safe, whatever the tool is registered as later."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    isolation: str | None = None


class ToolSpawned(Payload):
    """A process or command tool's OS process started: what identifies it beyond its pid, so
    the next open can kill it if the runtime died first, and never a process that reused
    its pid."""

    os_pid: int
    start_time: int | None = None
    """Its start, in clock ticks after boot (``/proc/<pid>/stat``); None where unknown."""
    boot_id: str | None = None


class ToolSucceeded(Payload):
    tool: str
    output: Any = None
    duration_ms: float | None = None


class ToolFailed(Payload):
    tool: str
    error: str
    duration_ms: float | None = None


class ToolStalled(Payload):
    """The event loop was blocked while this tool call held it: a ``task`` tool that did
    CPU-bound work (or blocking I/O) without awaiting, so nothing else ran — no other run,
    no timeout, no cancel — for ``blocked_ms``. Such tools belong in ``isolation="thread"``
    (or ``"process"``, to be killable). Recorded once the loop runs again."""

    tool: str
    blocked_ms: float
    threshold_ms: float
    isolation: str | None = None


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


class GuidanceOutcome(Payload):
    """What followed a guidance firing ``horizon`` actions of its agent later (docs/design.md
    §9): its pressure then and the change since the firing, whether that action failed, and
    whether the agent recovered. ``censored``: the agent stopped before the horizon (its
    session ended), so those are unknown (None). The store refuses one whose firing it does
    not hold."""

    firing_id: str = Field(min_length=1)
    pattern: str
    arm: str | None = None
    horizon: int = Field(ge=1)
    censored: bool
    pressure_at_firing: float
    pressure: float | None = None
    pressure_change: float | None = None
    error: bool | None = None
    recovered: bool | None = None


class LessonRecorded(Payload):
    """An error that got fixed: the error's text and what the call that worked did
    differently (``fix``: its changed arguments, or its command)."""

    lesson_id: str = Field(min_length=1)
    tool: str
    error: str
    fix: dict[str, Any]


class LessonRecalled(Payload):
    """A lesson brought back because a new error looked like its own (``similarity``: the
    character-trigram Jaccard of the two errors); ``firing_id`` is the guidance it became."""

    lesson_id: str = Field(min_length=1)
    firing_id: str = Field(min_length=1)
    similarity: float = Field(ge=0.0, le=1.0)


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
    "session.resumed": SessionResumed,
    "run.accepted": RunAccepted,
    "run.started": RunStarted,
    "run.resumed": RunResumed,
    "run.suspended": RunSuspended,
    "run.completed": RunCompleted,
    "run.failed": RunFailed,
    "run.timeout": RunTimedOut,
    "run.cancelled": RunCancelled,
    "step.started": StepStarted,
    "step.succeeded": StepSucceeded,
    "step.failed": StepFailed,
    "tool.started": ToolStarted,
    "tool.spawned": ToolSpawned,
    "tool.succeeded": ToolSucceeded,
    "tool.failed": ToolFailed,
    "tool.blocked": ToolBlocked,
    "tool.stalled": ToolStalled,
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
    "guidance.outcome": GuidanceOutcome,
    "lesson.recorded": LessonRecorded,
    "lesson.recalled": LessonRecalled,
    "vitals.trust": TrustEdge,
    "supervisor.child_restarted": ChildRestarted,
    "supervisor.shutdown": SupervisorShutdown,
}
