"""Tasks: the unit of work an agent actor owns.

A task enters as a message (``send`` or ``ask``, or another actor's delegation) and ends in
exactly one terminal state. Everything that can go wrong in it — a failed model call, a
failed run, a rejected proposal, an exhausted budget, a timeout, a cancel — ends the *task*
with the reason as data; the actor itself goes on to its next message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class TaskState(enum.StrEnum):
    QUEUED = "queued"  # accepted; waiting for the actor to finish earlier tasks
    THINKING = "thinking"  # a model call is in flight
    RUNNING = "running"  # approved steps run as a Run of the actor's session
    DELEGATING = "delegating"  # waiting for another actor's answer
    COMPLETED = "completed"  # the model replied: ``reply`` holds the answer
    REJECTED = "rejected"  # the model declined the task (its reason is ``error``)
    FAILED = "failed"  # a model call, policy or budget ended it (``error`` says which)
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {TaskState.COMPLETED, TaskState.REJECTED, TaskState.FAILED, TaskState.CANCELLED, TaskState.TIMEOUT}
)


@dataclass(frozen=True, slots=True)
class TaskUsage:
    """What a task has spent so far (what its budget is checked against)."""

    model_calls: int = 0
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "model_calls": self.model_calls,
            "steps": self.steps,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """Where a task is now. ``runs`` are the ids of the runs it started, oldest first."""

    task_id: str
    correlation_id: str
    actor_id: str
    state: TaskState
    message: str
    usage: TaskUsage = field(default_factory=TaskUsage)
    runs: tuple[str, ...] = ()
    reply: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A finished task: ``reply`` when COMPLETED, ``error`` (the reason, as data) otherwise."""

    task_id: str
    correlation_id: str
    actor_id: str
    state: TaskState
    reply: str | None = None
    error: str | None = None
    usage: TaskUsage = field(default_factory=TaskUsage)
    runs: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state is TaskState.COMPLETED


class TaskFailed(Exception):
    """``ask`` got no reply: the task ended in ``result.state`` for ``result.error``."""

    def __init__(self, result: TaskResult) -> None:
        self.result = result
        super().__init__(f"task {result.task_id} {result.state.value}: {result.error}")


class UnknownTask(LookupError):
    """No task with this id was ever accepted by this actor (nor recorded in the store)."""

    def __init__(self, actor_id: str, task_id: str) -> None:
        self.actor_id = actor_id
        self.task_id = task_id
        super().__init__(f"actor {actor_id!r} has no task {task_id!r}")
