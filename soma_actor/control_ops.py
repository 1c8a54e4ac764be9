"""The actor layer's control ops: ``actors`` and ``cancel_task`` on the runtime's control
socket (registered when the actor supervisor starts; the core answers "no actor layer"
until then)."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import asdict
from typing import Any

from soma_runtime import Runtime
from soma_runtime.kernel import DynamicSupervisor, NoProc, Pid, ProcessDied

from .actor import ActorInfo
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

    rt.add_control_op("actors", actors)
    rt.add_control_op("cancel_task", cancel_task)


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
