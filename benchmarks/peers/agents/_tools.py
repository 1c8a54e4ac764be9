"""The two blocking tools of the cancel workloads, for the peers whose tools are plain
coroutines (LangGraph's nodes, autogen-core's handlers): each signals ``entered`` once it
blocks and stamps ``cleaned`` (``perf_counter``) when its ``finally`` runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any


async def blocked(state: dict[str, Any]) -> None:
    """Blocked in an await until cancelled."""
    state["entered"].set()
    try:
        await asyncio.Event().wait()
    finally:
        state["cleaned"] = time.perf_counter()


async def program(state: dict[str, Any]) -> None:
    """Runs ``sleep 60`` with asyncio's subprocess API and waits for it, as a tool written for
    these libraries would (neither has a command tool); on cancel it does not kill the
    program itself — that would be the tool author's code, not the library's."""
    proc = await asyncio.create_subprocess_exec("sleep", "60")
    state["pid"] = proc.pid
    state["entered"].set()
    try:
        await proc.wait()
    finally:
        state["cleaned"] = time.perf_counter()
