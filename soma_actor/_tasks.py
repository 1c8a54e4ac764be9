"""The actor's private record of a task, and how run results become conversation turns."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from soma_runtime import RunResult, Step
from soma_runtime.kernel import Call, Pid

from .model import Message, ModelResponse, ToolUse
from .task import TaskResult, TaskState, TaskStatus, TaskUsage

MAX_TOOL_RESULT_CHARS = 20_000  # a tool result longer than this reaches the model truncated
MAX_FINISHED_KEPT = 1000  # finished tasks answered from memory; older ones from the store


@dataclass(frozen=True, slots=True)
class Parent:
    """Who delegated a task: where its answer goes."""

    actor_id: str
    pid: Pid
    task_id: str


class TaskRecord:
    __slots__ = (
        "actor_id",
        "chain",
        "conversation",
        "correlation_id",
        "error",
        "message",
        "parent",
        "reply",
        "runs",
        "state",
        "stopping",
        "task_id",
        "timeout",
        "usage",
        "waiters",
    )

    def __init__(
        self,
        actor_id: str,
        task_id: str,
        correlation_id: str,
        message: str,
        timeout: float | None,
        parent: Parent | None = None,
        chain: tuple[str, ...] = (),
    ) -> None:
        self.actor_id = actor_id
        self.task_id = task_id
        self.correlation_id = correlation_id
        self.message = message
        self.timeout = timeout
        self.parent = parent
        self.chain = chain  # actors this task's delegation chain went through (cycle guard)
        self.state = TaskState.QUEUED
        self.conversation: list[Message] = [Message("user", message)]
        self.usage = TaskUsage()
        self.runs: list[str] = []
        self.reply: str | None = None
        self.error: str | None = None
        self.waiters: list[Call] = []
        # Cancel or timeout asked while a run was in flight: the outcome to record once the
        # run has really stopped (its tool is gone), not before.
        self.stopping: tuple[TaskState, str] | None = None

    def status(self) -> TaskStatus:
        return TaskStatus(
            self.task_id,
            self.correlation_id,
            self.actor_id,
            self.state,
            self.message,
            self.usage,
            tuple(self.runs),
            self.reply,
            self.error,
        )

    def result(self) -> TaskResult:
        return TaskResult(
            self.task_id,
            self.correlation_id,
            self.actor_id,
            self.state,
            self.reply,
            self.error,
            self.usage,
            tuple(self.runs),
        )

    def ids(self) -> dict[str, str]:
        return {"task_id": self.task_id, "correlation_id": self.correlation_id}

    # -- spending ----------------------------------------------------------------------------

    def spent_on_call(self, response: ModelResponse | None) -> None:
        usage = self.usage
        if response is None:
            self.usage = replace(usage, model_calls=usage.model_calls + 1)
            return
        self.usage = replace(
            usage,
            model_calls=usage.model_calls + 1,
            input_tokens=usage.input_tokens + response.usage.input_tokens,
            output_tokens=usage.output_tokens + response.usage.output_tokens,
            cost_usd=usage.cost_usd + response.cost,
        )

    def spent_on_steps(self, steps: int) -> None:
        self.usage = replace(self.usage, steps=self.usage.steps + steps)

    # -- conversation ------------------------------------------------------------------------

    def heard(self, response: ModelResponse) -> None:
        self.conversation.append(Message("assistant", response.text, response.tool_uses))

    def tool_errors(self, uses: tuple[ToolUse, ...], reason: str) -> None:
        """Every tool call of the last turn answered with ``reason`` (an invalid proposal):
        providers require an answer for each call before the next turn."""
        for use in uses:
            self.conversation.append(Message("tool", reason, tool_use_id=use.id, is_error=True))

    def tool_answer(self, tool_use_id: str, content: str, is_error: bool = False) -> None:
        self.conversation.append(Message("tool", content, tool_use_id=tool_use_id, is_error=is_error))

    def run_finished(self, steps: tuple[Step, ...], result: RunResult) -> None:
        """One tool message per step: its output, the run's error for the step that failed,
        and "not run" for the steps after it."""
        failed_reported = False
        for step in steps:
            if step.id in result.outputs:
                self.tool_answer(step.id, _as_text(result.outputs[step.id]))
            elif not failed_reported:
                failed_reported = True
                why = result.error or f"run {result.state.value}"
                self.tool_answer(step.id, f"{result.state.value}: {why}", is_error=True)
            else:
                self.tool_answer(
                    step.id, "not run: an earlier step of the run did not succeed", is_error=True
                )


class TaskTable:
    """Tasks by id: the live ones, and the most recent finished ones (bounded)."""

    def __init__(self) -> None:
        self.tasks: OrderedDict[str, TaskRecord] = OrderedDict()

    def add(self, task: TaskRecord) -> None:
        self.tasks[task.task_id] = task

    def get(self, task_id: str) -> TaskRecord | None:
        return self.tasks.get(task_id)

    def finished(self) -> None:
        done = [t for t in self.tasks.values() if t.state.terminal]
        for task in done[: max(0, len(done) - MAX_FINISHED_KEPT)]:
            del self.tasks[task.task_id]

    def live(self) -> list[TaskRecord]:
        return [t for t in self.tasks.values() if not t.state.terminal]


def _as_text(output: Any) -> str:
    text = output if isinstance(output, str) else json.dumps(output, default=str, ensure_ascii=False)
    if len(text) > MAX_TOOL_RESULT_CHARS:
        return text[:MAX_TOOL_RESULT_CHARS] + f"… [truncated {len(text) - MAX_TOOL_RESULT_CHARS} chars]"
    return text
