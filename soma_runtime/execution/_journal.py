"""A run's journal read back from its events, and what resume decides from it. Pure: no
process, no store — ``resume`` feeds it the events and carries the decision out.

The journal is what the run recorded as it went (see ``run``): its plan and options
(``run.started``, or ``run.accepted`` if it never started), each committed step output
(``step.succeeded``), each tool call with the tool's ``effect`` and ``idempotent`` as they
were when it started (``tool.started``) and its OS process (``tool.spawned``), a step failure
with the outcome it ends the run in (``step.failed``).

The decision, for a run without an end (docs/design.md §5b):

* Its outcome was already decided — every step committed, or a step failed — but the end was
  not written: write it (the outcome the journal holds, whatever ``resume`` says).
* Otherwise, with ``resume=False``, or when the actor task it belongs to was ended by the
  open: it ends ``run.failed``, kind ``interrupted``.
* A step that was in flight (its tool call has no outcome, or was recorded as interrupted)
  may run again only if its tool was ``pure`` or ``idempotent`` *when it started*; if not, the
  run ends ``run.failed``, kind ``resume_unsafe``, naming the step and the tool.
* A step still to run whose tool is not registered any more: ``run.failed``, kind
  ``resume_unavailable``. A run whose deadline passed meanwhile: ``run.timeout``.
* Else it continues from the first step without an output (committed outputs are reused,
  never re-run), or — accepted but never started — starts.

An in-flight call of a run that ends is closed first (``tool.failed`` with ``interrupted``,
and ``step.failed``), so the log never leaves a tool call or a step open either.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..store.events import Event, EventDraft
from ..tools.spec import Effect, ToolSpec
from .run_types import ResumePoint
from .steps import Step


@dataclass(slots=True)
class Call:
    """One tool call of the run: its start, its OS process (if any), its outcome (if any)."""

    started: Event
    spawned: Event | None = None
    ended: Event | None = None

    @property
    def in_flight(self) -> bool:
        return self.ended is None

    @property
    def interrupted(self) -> bool:
        """In flight when a runtime stopped: no outcome, or one recorded as interrupted."""
        return self.ended is None or bool(self.ended.payload.get("interrupted"))

    @property
    def tool(self) -> str:
        return str(self.started.payload.get("tool"))

    @property
    def safe_to_repeat(self) -> bool:
        """What the journal says of the tool when the call started — never today's registry.
        A journal from before ``idempotent`` was recorded counts only ``pure`` as safe."""
        p = self.started.payload
        return p.get("effect") == Effect.PURE.value or p.get("idempotent") is True


@dataclass
class RunJournal:
    run_id: str
    ids: dict[str, str | None] = field(default_factory=dict)  # the envelope's correlation ids
    accepted: Event | None = None
    started: Event | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    failed: Event | None = None  # the step failure that decided the run's outcome
    calls: dict[str, Call] = field(default_factory=dict)  # by tool_call_id, in start order

    @functools.cached_property
    def steps(self) -> list[Step]:
        """The plan (read once all events are in: ``read_journals`` returns complete ones)."""
        plan = self.started or self.accepted
        return [] if plan is None else [Step.from_json(s) for s in plan.payload.get("steps") or []]

    @property
    def timeout(self) -> float | None:
        if self.started is not None:
            value = (self.started.payload.get("options") or {}).get("timeout")
        elif self.accepted is not None:
            value = self.accepted.payload.get("timeout")
        else:
            value = None
        return float(value) if isinstance(value, int | float) else None

    @property
    def options(self) -> dict[str, Any]:
        return dict((self.started.payload.get("options") or {}) if self.started is not None else {})

    def frontier(self, steps: list[Step]) -> int:
        """The index of the first step without a committed output."""
        for i, step in enumerate(steps):
            if step.id not in self.outputs:
                return i
        return len(steps)

    def interrupted_call(self, step_id: str) -> Call | None:
        """The last call of ``step_id``, if it was cut by a stop (see ``Call.interrupted``)."""
        calls = [c for c in self.calls.values() if c.started.step_id == step_id]
        return calls[-1] if calls and calls[-1].interrupted else None

    def leftover_processes(self) -> list[Event]:
        """``tool.spawned`` of every call without an outcome: processes that may still run."""
        return [c.spawned for c in self.calls.values() if c.spawned is not None and c.ended is None]

    def draft(
        self, type: str, payload: dict[str, Any], step_id: str | None = None, tool_call_id: str | None = None
    ) -> EventDraft:
        ids = self.ids
        return EventDraft(
            type,
            payload,
            ids.get("session_id"),
            self.run_id,
            step_id,
            tool_call_id,
            ids.get("agent_id"),
            ids.get("task_id"),
            ids.get("correlation_id"),
        )


JOURNAL_TYPES: Final = (
    "run.accepted",
    "run.started",
    "step.succeeded",
    "step.failed",
    "tool.started",
    "tool.spawned",
    "tool.failed",
)
"""What a journal is read from (``tool.succeeded`` and ``step.started`` add nothing to it: a
step's success is ``step.succeeded``, written with its tool's in one batch)."""


def read_journals(events: Iterable[Event]) -> dict[str, RunJournal]:
    """The journal of each run among ``events`` (in seq order)."""
    journals: dict[str, RunJournal] = {}
    for e in events:
        if e.run_id is None:
            continue
        j = journals.get(e.run_id)
        if j is None:
            # A run's events share its correlation ids (the run stamps each one with them).
            ids = {"session_id": e.session_id, "agent_id": e.agent_id, "task_id": e.task_id}
            j = journals[e.run_id] = RunJournal(e.run_id, {**ids, "correlation_id": e.correlation_id})
        match e.type:
            case "run.accepted":
                j.accepted = e
            case "run.started":
                j.started = e
            case "step.succeeded" if e.step_id is not None:
                j.outputs[e.step_id] = e.payload.get("output")
                for call in j.calls.values():  # its tool.succeeded is in the same batch
                    if call.started.step_id == e.step_id and call.ended is None:
                        call.ended = e
            case "step.failed":
                j.failed = e
            case "tool.started" if e.tool_call_id is not None:
                j.calls[e.tool_call_id] = Call(e)
            case "tool.spawned" | "tool.succeeded" | "tool.failed" if e.tool_call_id in j.calls:
                call = j.calls[e.tool_call_id]
                if e.type == "tool.spawned":
                    call.spawned = e
                else:
                    call.ended = e
    return journals


@dataclass(frozen=True, slots=True)
class Continue:
    """The run goes on (``point`` None: it was accepted and never started, so it starts),
    once ``drafts`` (closing the call it repeats) are written."""

    steps: list[Step]
    point: ResumePoint | None
    drafts: list[EventDraft] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class End:
    """The run ends: these events (its last tool call and step closed, then its end)."""

    drafts: list[EventDraft]
    kind: str  # what the report says: completed, failed, interrupted, resume_unsafe, …


def decide(
    j: RunJournal, tools: Mapping[str, ToolSpec], *, resume: bool, task_ended: bool, now_ns: int
) -> Continue | End:
    """What happens to an unfinished run (see the module docstring)."""
    steps = j.steps
    cursor = j.frontier(steps)
    step = steps[cursor] if cursor < len(steps) else None
    call = j.interrupted_call(step.id) if step is not None and j.started is not None else None

    if j.failed is not None:  # a step failed: the run's outcome is in its journal
        outcome = str(j.failed.payload.get("outcome") or "failed")
        error = f"step {j.failed.step_id!r}: {j.failed.payload.get('error')}"
        return End([_end(j, outcome, error)], outcome)
    if step is None:  # every step committed: only the end was missing
        return End([j.draft("run.completed", {"outputs": j.outputs})], "completed")
    if not resume or task_ended:
        why = "the actor task it belonged to ended with the runtime" if task_ended else "resume=False"
        return _ended(
            j, call, "failed", f"interrupted: the runtime stopped before the run ended ({why})", "interrupted"
        )
    left = _time_left(j, now_ns)
    if left is not None and left <= 0:
        error = f"run timed out after {j.timeout}s (its deadline passed while the runtime was down)"
        return _ended(j, call, "timeout", error)
    missing = next((s for s in steps[cursor:] if s.tool not in tools), None)
    if missing is not None:
        error = (
            f"resume_unavailable: step {missing.id!r} needs tool {missing.tool!r}, "
            "which is not registered in this runtime"
        )
        return _ended(j, call, "failed", error, "resume_unavailable")
    if call is not None and not call.safe_to_repeat:
        error = (
            f"resume_unsafe: step {step.id!r} was running tool {call.tool!r} when the runtime stopped, "
            "and the tool was neither pure nor idempotent: running it again could repeat its effect"
        )
        return _ended(j, call, "failed", error, "resume_unsafe")
    if j.started is None:
        return Continue(steps, None)
    # A call safe to repeat: closed in the log (if it was not already), and its step runs again.
    return Continue(
        steps, ResumePoint(dict(j.outputs), cursor, call is not None, left), _close(j, call, None, None)
    )


def _ended(j: RunJournal, call: Call | None, outcome: str, error: str, kind: str | None = None) -> End:
    return End([*_close(j, call, outcome, error), _end(j, outcome, error, kind)], kind or outcome)


def _close(j: RunJournal, call: Call | None, outcome: str | None, error: str | None) -> list[EventDraft]:
    """Events that close the interrupted call: ``tool.failed`` (interrupted) if it has no
    outcome yet, and ``step.failed`` if the run ends (``outcome``)."""
    drafts: list[EventDraft] = []
    if call is None:
        return drafts
    step_id, tool_call_id = call.started.step_id, call.started.tool_call_id
    if call.in_flight:
        # What the next recovery judges the call by (its args are on its tool.started).
        p = call.started.payload
        interrupted = {
            **{k: p.get(k) for k in ("tool", "isolation", "effect", "idempotent", "destructive")},
            "error": "interrupted: the runtime stopped while the tool ran",
            "interrupted": True,
        }
        drafts.append(j.draft("tool.failed", interrupted, step_id, tool_call_id))
    if outcome is not None:
        failed = {"error": error or "interrupted", "outcome": outcome}
        drafts.append(j.draft("step.failed", failed, step_id))
    return drafts


def _end(j: RunJournal, outcome: str, error: str, kind: str | None = None) -> EventDraft:
    if outcome == "cancelled":
        return j.draft("run.cancelled", {"reason": error})
    if outcome == "timeout":
        return j.draft("run.timeout", {"timeout": j.timeout, "error": error})
    return j.draft("run.failed", {"error": error, "kind": kind})


def _time_left(j: RunJournal, now_ns: int) -> float | None:
    """The run timeout runs on the wall clock from ``run.started``, downtime included."""
    timeout = j.timeout
    if timeout is None:
        return None
    if j.started is None:
        return timeout  # it starts now, with its whole timeout
    return timeout - (now_ns - j.started.ts) / 1e9
