"""ToolCall: a disposable worker process for exactly one tool invocation.

The run spawns it linked (the run traps exits) and hands it validated arguments and a
read-only :class:`ToolContext`; it never sees the run's state. Its whole body is "invoke,
then send the output to the run as a message". A tool that raises simply crashes this
process: the run learns of it from the exit signal, with the exception as the reason —
failure isolation by processes and links, not by a try/except around the tool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..kernel import Pid, Process
from ._proc import ProcessIdentity, identify
from .spec import ToolContext, ToolSpec


@dataclass(frozen=True, slots=True)
class ToolReturned:
    """Message from a ToolCall to its run: the invocation finished with ``output``."""

    tool_call_id: str
    output: Any


@dataclass(frozen=True, slots=True)
class ToolSpawned:
    """Call from a ToolCall to its run: a process/command tool's OS process started; the
    reply comes once the run has journalled it.

    ``identity`` tells it apart from any later process given the same pid (the next open
    kills the process by it if the runtime died first)."""

    tool_call_id: str
    os_pid: int
    identity: ProcessIdentity | None = None


async def tool_call(proc: Process, run: Pid, spec: ToolSpec, args: BaseModel, ctx: ToolContext) -> None:
    async def spawned(os_pid: int) -> None:
        # The run journals the OS process (durably) before the tool gets its input: a runtime
        # killed from here on leaves the process in the log, for the next open to kill.
        await run.call(ToolSpawned(ctx.tool_call_id, os_pid, identify(os_pid)), timeout=None)

    task = proc.task  # this process's own task (asyncio.current_task() is a lookup per call)
    assert task is not None
    RUNNING[task] = (spec, ctx)
    try:
        output = await spec.invoke(args, ctx, on_spawn=spawned)
    finally:
        RUNNING.pop(task, None)
    await run.send(ToolReturned(ctx.tool_call_id, output))


RUNNING: dict[asyncio.Task[Any], tuple[ToolSpec, ToolContext]] = {}
"""The tool call each ToolCall task is making: whom to name when the event loop is found
blocked inside one of them (``execution._stall``)."""
