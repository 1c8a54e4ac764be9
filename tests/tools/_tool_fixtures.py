"""Process-isolated tools for the isolation tests.

They live in their own small module (not a test file) because a ``process`` tool's child
imports the function's module: importing this one is cheap, importing pytest is not.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from typing import Any

from soma_runtime.tools.spec import ToolContext, tool


@tool(isolation="process")
def add(a: int, b: int = 2) -> dict[str, int]:
    # Noise on stdout (Python's and the raw fd) must not corrupt the result channel.
    print("noise from the tool")
    os.write(1, b"raw noise\n")
    return {"sum": a + b, "pid": os.getpid()}


@tool(isolation="process")
async def describe(label: str, ctx: ToolContext) -> dict[str, Any]:
    return {"label": label, "ids": ctx.ids(), "root": str(ctx.root), "pid": os.getpid()}


@tool(isolation="process")
def explode(message: str) -> None:
    raise ValueError(message)


@tool(isolation="process")
def opaque() -> object:
    return object()


@tool(isolation="process")
def crash(code: int) -> None:
    print("about to crash", file=sys.stderr, flush=True)
    os._exit(code)


@tool(isolation="process")
def blocked() -> None:
    threading.Event().wait()


@tool(isolation="process", kill_grace=0.2)
def stubborn(fifo: str) -> None:
    """Ignores SIGTERM, then says so through a FIFO the test is reading, then blocks."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(fifo, "w") as ready:
        ready.write("ready")
    threading.Event().wait()


# The same function, but a grace long enough that only a second cancellation can end it fast.
stubborn_patient = dataclasses.replace(stubborn, name="stubborn_patient", kill_grace=30.0)


def vanished() -> None: ...


# A spec whose function the child cannot find by name any more.
vanished_spec = tool(isolation="process")(vanished)
del vanished
