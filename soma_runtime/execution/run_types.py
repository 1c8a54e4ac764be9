"""What a run is and says: its states and result, its options, the messages it exchanges
with its session and its callers, where a run rebuilt by recovery continues, and the journal
entry of a tool call. Shared by the run, its session, recovery, the runtime and the control
API (the ``Run`` itself is in ``run``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from ..tools.spec import ToolSpec
from .steering import DestructiveBlock


class RunState(enum.StrEnum):
    EXECUTING = "executing"
    WAITING_TOOL = "waiting_tool"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED, RunState.TIMEOUT})

TERMINAL_TYPES: Final = {
    RunState.COMPLETED: "run.completed",
    RunState.FAILED: "run.failed",
    RunState.CANCELLED: "run.cancelled",
    RunState.TIMEOUT: "run.timeout",
}
"""The event that ends a run in each terminal state: every run gets exactly one of them."""


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    state: RunState
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a run needs to know besides its steps (all of it journalled in ``run.started``)."""

    session_id: str | None = None
    agent_id: str | None = None
    task_id: str | None = None
    correlation_id: str | None = None
    timeout: float | None = None
    root: Path = Path(".")
    cancel_grace: float = 2.0  # how long a cancelled ToolCall may clean up before it is killed
    destructive_block: DestructiveBlock | None = None  # vitals' BLOCK when the run started
    on_shutdown: OnShutdown = "cancel"  # what an orderly shutdown records (the runtime's choice)

    def journal(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "root": str(self.root), "cancel_grace": self.cancel_grace}


OnShutdown = Literal["cancel", "suspend"]


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a run rebuilt by recovery continues (built from the store by ``resume``): at
    the start, for a run that was accepted and never started."""

    outputs: dict[str, Any]
    """The committed outputs, by step id: reused, never re-run."""
    cursor: int
    """The index of the next step to run."""
    rerun: bool = False
    """That step was in flight when the runtime stopped (and is safe to run again)."""
    timeout: float | None = None
    """What is left of the run's timeout (measured on the wall clock from ``run.started``)."""


@dataclass(frozen=True, slots=True)
class RunFinished:
    """Message from a run to its session: the run reached ``result.state`` (durably)."""

    result: RunResult


@dataclass(frozen=True, slots=True)
class RunSuspended:
    """Message from a run to its session: it stopped with ``run.suspended`` (not an end)."""

    run_id: str


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    run_id: str
    state: RunState
    step_id: str | None
    step_index: int
    steps: int
    tool_call_id: str | None
    os_pid: int | None = None


CANCEL = "cancel"
RESULT = "result"
STATUS = "status"
SESSION = "session"  # the run's session process (or None)
GO = "resume.go"  # recovery → a run it rebuilt: carry on (once recovery is done)


def run_name(run_id: str) -> str:
    """The registered name of a live run's process (``Runtime.run`` finds it by id)."""
    return f"soma.run.{run_id}"


def tool_journal(spec: ToolSpec, args: dict[str, Any]) -> dict[str, Any]:
    """The ``tool.started`` payload: the call, and what resume must know of the tool as it
    was when the call started (``effect``, ``idempotent``), not as it is registered later."""
    return {
        "tool": spec.name,
        "args": args,
        "effect": str(spec.effect),
        "idempotent": spec.idempotent,
        "destructive": spec.destructive,
        "isolation": str(spec.isolation),
    }
