"""What an agent actor exchanges with its callers, with other actors and with its own
short-lived helpers (the run waiter and run canceller), and what it keeps about the one
thing in flight for its current task. Private to the actor layer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from soma_runtime import RunHandle, RunResult, Step
from soma_runtime.kernel import Pid, Process, Ref

from ._tasks import Parent
from .model import ToolUse


@dataclass(frozen=True, slots=True)
class SendTask:
    """Call: a new task; the reply is its id."""

    message: str
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Delegate:
    """Actor to actor: a task on behalf of ``parent``, in its correlation chain."""

    task_id: str
    message: str
    correlation_id: str
    parent: Parent
    chain: tuple[str, ...]
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class DelegateReply:
    """Actor to actor: how the delegated task ended."""

    parent_task_id: str
    result: Any  # TaskResult


@dataclass(frozen=True, slots=True)
class CancelTask:
    """Actor to actor: the parent gave up; cancel the delegated task."""

    task_id: str


@dataclass(frozen=True, slots=True)
class RunDone:
    run_id: str
    result: RunResult


# -- what is in flight ----------------------------------------------------------------------


class ActiveCall:
    __slots__ = ("call_id", "pid", "started")

    def __init__(self, call_id: str, pid: Pid) -> None:
        self.call_id = call_id
        self.pid = pid
        self.started = time.perf_counter()


class ActiveRun:
    __slots__ = ("handle", "steps", "waiter")

    def __init__(self, handle: RunHandle, steps: tuple[Step, ...], waiter: Pid) -> None:
        self.handle = handle
        self.steps = steps
        self.waiter = waiter


class ActiveDelegation:
    __slots__ = ("actor_id", "child_task_id", "pid", "ref", "tool_use_id")

    def __init__(self, actor_id: str, pid: Pid, ref: Ref, tool_use_id: str, child_task_id: str) -> None:
        self.actor_id = actor_id
        self.pid = pid
        self.ref = ref
        self.tool_use_id = tool_use_id
        self.child_task_id = child_task_id


# -- helper processes ------------------------------------------------------------------------


async def await_run(proc: Process, actor: Pid, handle: RunHandle) -> None:
    """A run waiter: the actor stays responsive while this one waits for the run's result."""
    result = await handle.result()
    await actor.send(RunDone(handle.run_id, result))


async def cancel_run(proc: Process, handle: RunHandle) -> None:
    await handle.cancel()  # the run waiter reports the terminal state


def uses_of(steps: tuple[Step, ...]) -> list[Any]:
    return [ToolUse(s.id, s.tool, dict(s.args)) for s in steps]
