"""Actor: an agent actor from the outside (what ``start_actor`` returns).

The handle holds the actor's id, not its pid: each call finds the actor by its registered
name, so a handle keeps working after the actor supervisor restarted the actor. What the
running actor no longer remembers (a task finished long ago, or before a restart) is read
from the event store, the source of truth.
"""

from __future__ import annotations

import contextlib
from typing import Any

from soma_runtime import Runtime
from soma_runtime.kernel import DynamicSupervisor, NoProc, Pid, ProcessDied, current_node

from ._protocol import SendTask
from .actor import ACTOR_SUPERVISOR, ActorInfo, actor_name
from .task import TaskFailed, TaskResult, TaskState, TaskStatus, TaskUsage, UnknownTask

_TERMINAL_EVENTS = {f"actor.task.{s.value}": s for s in TaskState if s.terminal}


class ActorNotRunning(LookupError):
    def __init__(self, actor_id: str) -> None:
        self.actor_id = actor_id
        super().__init__(f"actor {actor_id!r} is not running")


class Actor:
    def __init__(self, actor_id: str, rt: Runtime) -> None:
        self.actor_id = actor_id
        self.rt = rt

    def __repr__(self) -> str:
        return f"Actor({self.actor_id})"

    @property
    def pid(self) -> Pid:
        pid = current_node().whereis(actor_name(self.actor_id))
        if pid is None:
            raise ActorNotRunning(self.actor_id)
        return pid

    async def _call(self, request: Any, timeout: float | None = 5.0) -> Any:
        try:
            return await self.pid.call(request, timeout=timeout)
        except (NoProc, ProcessDied) as e:
            raise ActorNotRunning(self.actor_id) from e

    async def _ask_actor(self, request: Any, timeout: float | None = 5.0) -> Any:
        """``None`` when the actor is not running: the caller then reads the store."""
        try:
            return await self._call(request, timeout)
        except ActorNotRunning:
            return None

    async def send(self, message: str, *, timeout: float | None = None) -> str:
        """Give the actor a task; returns its id at once. ``timeout`` bounds the whole task
        (queueing included): when it passes, the task ends in TIMEOUT."""
        if not isinstance(message, str) or not message.strip():
            raise ValueError(f"a task message must be a non-empty string, got {message!r}")
        if timeout is not None and not (isinstance(timeout, int | float) and 0 < timeout < float("inf")):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        task_id: str = await self._call(SendTask(message, timeout))
        return task_id

    async def ask(self, message: str, timeout: float | None = 60.0) -> str:
        """Send a task and wait for the reply; raises :class:`TaskFailed` (with the result
        as data) if the task ends any other way, its timeout included."""
        task_id = await self.send(message, timeout=timeout)
        result = await self.task_result(task_id)
        if result.state is not TaskState.COMPLETED:
            raise TaskFailed(result)
        return result.reply or ""

    async def task_status(self, task_id: str) -> TaskStatus:
        status: TaskStatus | None = await self._ask_actor(("status", task_id))
        if status is not None:
            return status
        result = await self._from_store(task_id)
        return TaskStatus(
            result.task_id,
            result.correlation_id,
            self.actor_id,
            result.state,
            "",
            result.usage,
            result.runs,
            result.reply,
            result.error,
        )

    async def task_result(self, task_id: str) -> TaskResult:
        """Wait until the task is terminal; returns how it ended."""
        result: TaskResult | None = await self._ask_actor(("result", task_id), timeout=None)
        return result if result is not None else await self._from_store(task_id)

    async def cancel(self, task_id: str) -> TaskResult:
        """Cancel the task — stopping its model call, its run (and the run's tool) or its
        delegation; returns once the task is terminal. Idempotent."""
        result: TaskResult | None = await self._ask_actor(("cancel", task_id), timeout=None)
        return result if result is not None else await self._from_store(task_id)

    async def info(self) -> ActorInfo:
        info: ActorInfo = await self._call("info")
        return info

    async def stop(self) -> None:
        """Stop the actor: unfinished tasks are cancelled and recorded. Idempotent."""
        pid = current_node().whereis(actor_name(self.actor_id))
        if pid is None:
            return
        with contextlib.suppress(LookupError):
            await DynamicSupervisor.terminate_child(ACTOR_SUPERVISOR, pid)
        await pid.wait()

    async def _from_store(self, task_id: str) -> TaskResult:
        events = await self.rt.events.query(agent_id=self.actor_id, type="actor.task.*")
        mine = [e for e in events if e.task_id == task_id]
        if not mine:
            raise UnknownTask(self.actor_id, task_id)
        for event in mine:
            state = _TERMINAL_EVENTS.get(event.type)
            if state is not None:
                p = event.payload
                return TaskResult(
                    task_id,
                    event.correlation_id or "",
                    self.actor_id,
                    state,
                    p.get("reply"),
                    p.get("error"),
                    TaskUsage(**(p.get("usage") or {})),
                    tuple(p.get("runs") or ()),
                )
        last = mine[-1]
        return TaskResult(
            task_id,
            last.correlation_id or "",
            self.actor_id,
            TaskState.FAILED,
            None,
            "the actor lost this task (it exited before the task ended)",
        )
