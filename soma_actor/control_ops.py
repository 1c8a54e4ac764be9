"""The actor layer's control ops: ``actors``, ``send_task`` and ``cancel_task`` on the
runtime's control socket (registered when the actor supervisor starts; the core answers "no
actor layer" until then).

``send_task`` is ``Actor.send`` from outside: the actor takes the message as a task and the
op answers with its ids at once — or, with ``wait``, with the task's result once it ended.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import asdict
from typing import Any

from soma_runtime import Runtime
from soma_runtime.kernel import DynamicSupervisor, NoProc, Pid, ProcessDied

from .actor import ActorInfo
from .handle import Actor
from .task import TaskResult, TaskStatus

RECENT_TASKS = 20  # finished tasks listed per actor (live ones always are)


def register(rt: Runtime, supervisor: str) -> None:
    async def actors(params: dict[str, Any]) -> list[dict[str, Any]]:
        _no_params("actors", params)
        return [_actor_json(info) for info in await _infos(supervisor)]

    async def cancel_task(params: dict[str, Any]) -> dict[str, Any]:
        task_id = params.get("task_id")
        if not isinstance(task_id, str) or not task_id or set(params) - {"task_id"}:
            raise ValueError("cancel_task takes one parameter, task_id (a non-empty string)")
        for pid in await _actor_pids(supervisor):
            with suppress(NoProc, ProcessDied):
                status: TaskStatus | None = await pid.call(("status", task_id))
                if status is not None:
                    result: TaskResult = await pid.call(("cancel", task_id), timeout=None)
                    return _result_json(result)
        raise LookupError(f"no actor of this runtime has a task {task_id!r}")

    async def send_task(params: dict[str, Any]) -> dict[str, Any]:
        actor_id, message, timeout, wait = _send_params(params)
        running = {info.actor_id for info in await _infos(supervisor)}
        if actor_id not in running:
            known = ", ".join(sorted(running)) or "none"
            raise LookupError(f"no actor {actor_id!r} in this runtime (actors: {known})")
        actor = Actor(actor_id, rt)
        task_id = await actor.send(message, timeout=timeout)  # a bad message: ValueError
        if wait:
            return _result_json(await actor.task_result(task_id))
        status = await actor.task_status(task_id)
        return {"task_id": task_id, "correlation_id": status.correlation_id, "actor_id": actor_id}

    rt.add_control_op("actors", actors)
    rt.add_control_op("send_task", send_task)
    rt.add_control_op("cancel_task", cancel_task)


def _send_params(params: dict[str, Any]) -> tuple[str, str, float | None, bool]:
    unknown = set(params) - {"actor_id", "message", "timeout", "wait"}
    if unknown:
        raise ValueError(f"op 'send_task' takes no parameter {sorted(unknown)[0]!r}")
    actor_id, message = params.get("actor_id"), params.get("message")
    timeout, wait = params.get("timeout"), params.get("wait", False)
    if not isinstance(actor_id, str) or not actor_id:
        raise ValueError(f"op 'send_task' needs 'actor_id' as a non-empty string, got {actor_id!r:.80}")
    if not isinstance(message, str):
        raise ValueError(f"op 'send_task' needs 'message' as a string, got {message!r:.80}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
        raise ValueError(f"op 'send_task': 'timeout' must be a number of seconds, got {timeout!r:.80}")
    if not isinstance(wait, bool):
        raise ValueError(f"op 'send_task': 'wait' must be true or false, got {wait!r:.80}")
    return actor_id, message, timeout, wait


async def _actor_pids(supervisor: str) -> list[Pid]:
    children = await DynamicSupervisor.which_children(supervisor)
    return [c.pid for c in children if isinstance(c.pid, Pid)]


async def _infos(supervisor: str) -> list[ActorInfo]:
    infos: list[ActorInfo] = []
    for pid in await _actor_pids(supervisor):
        with suppress(NoProc, ProcessDied):  # one that exits meanwhile is simply not listed
            infos.append(await pid.call("info", timeout=1.0))
    return sorted(infos, key=lambda i: i.actor_id)


def _actor_json(info: ActorInfo) -> dict[str, Any]:
    live = [t for t in info.tasks if not t.state.terminal]
    done = [t for t in info.tasks if t.state.terminal][-RECENT_TASKS:]
    return {
        "actor_id": info.actor_id,
        "state": info.state.value,
        "model": info.model,
        "session_id": info.session_id,
        "current_task": info.current_task,
        "queued": list(info.queued),
        "tasks": [_status_json(t) for t in (*live, *done)],
    }


def _status_json(status: TaskStatus) -> dict[str, Any]:
    data = asdict(status)
    data["state"] = status.state.value
    data["runs"] = list(status.runs)
    return data


def _result_json(result: TaskResult) -> dict[str, Any]:
    data = asdict(result)
    data["state"] = result.state.value
    data["runs"] = list(result.runs)
    return data


def _no_params(op: str, params: dict[str, Any]) -> None:
    if params:
        raise ValueError(f"{op} takes no parameters, got {sorted(params)}")
