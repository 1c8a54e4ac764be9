"""Ray-isolated tools for the Ray tests.

In their own small module (not a test file): the Ray worker unpickles the functions by
reference, so it imports this module — through the runtime's ``sys.path``, which the task
carries — and importing it must be cheap. A tool that the test must see start reports its
worker's pid through a FIFO the test is reading (opening it blocks until the writer comes).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from soma_runtime.tools.spec import ToolContext, tool


@tool(isolation="ray")
def add(a: int, b: int = 2) -> dict[str, int]:
    print("noise from a Ray tool")  # stays in the worker's log (log_to_driver is off)
    return {"sum": a + b, "pid": os.getpid()}


@tool(isolation="ray")
async def describe(label: str, ctx: ToolContext) -> dict[str, Any]:
    return {"label": label, "ids": ctx.ids(), "root": str(ctx.root), "pid": os.getpid()}


@tool(isolation="ray")
def explode(message: str) -> None:
    raise ValueError(message)


@tool(isolation="ray")
def crash(code: int) -> None:
    os._exit(code)


def _report_pid(fifo: str) -> None:
    with open(fifo, "w") as out:
        out.write(str(os.getpid()))


@tool(isolation="ray")
def blocked(fifo: str) -> None:
    _report_pid(fifo)
    threading.Event().wait()


def _gated(label: str, side: str, fifo: str, gate: str) -> dict[str, Any]:
    """Counts its executions in ``side``; while ``gate`` exists it reports its pid and
    blocks (the run is in flight), otherwise it returns at once."""
    with open(side, "a") as out:
        out.write(f"{label} {os.getpid()}\n")
    if Path(gate).exists():
        _report_pid(fifo)
        threading.Event().wait()
    return {"label": label, "pid": os.getpid()}


@tool(isolation="ray", idempotent=True)
def gated_safe(label: str, side: str, fifo: str, gate: str) -> dict[str, Any]:
    return _gated(label, side, fifo, gate)


@tool(isolation="ray")
def gated_once(label: str, side: str, fifo: str, gate: str) -> dict[str, Any]:
    return _gated(label, side, fifo, gate)


TOOLS = [add, describe, explode, crash, blocked, gated_safe, gated_once]
