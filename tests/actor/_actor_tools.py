"""Tools for the actor tests. A process tool's child imports its function's module, so they
live in this small module rather than in a test file (importing pytest there is slow)."""

from __future__ import annotations

import os

import anyio

from soma_runtime import tool
from soma_runtime.kernel import current_process

GATE: dict[str, anyio.Event] = {}
TOOL_PROCESSES: list[object] = []


@tool(isolation="process")
def crash(code: int = 3) -> None:
    """Dies without a word, as a segfaulting extension would."""
    os._exit(code)


@tool
async def wait_gate(name: str) -> str:
    """Blocks until the test opens the gate (a run that stays in flight)."""
    TOOL_PROCESSES.append(current_process())
    await GATE[name].wait()
    return f"{name} opened"


@tool
async def where() -> str:
    """Records which process ran it."""
    TOOL_PROCESSES.append(current_process())
    return "here"
