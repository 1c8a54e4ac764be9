"""Soma runtime: an OTP-style supervision tree for LLM-agent runs.

The public embedding API (see DESIGN.md §3)::

    async with Runtime.open(db="soma.db", tools=[search]) as rt:
        session = await rt.start_session(agent_id="research")
        run = await session.start_run([Step("s1", "search", {"query": "otp"})], timeout=30.0)
        result = await run.result()

Names are imported on first use: a process-isolated tool's worker imports the module that
defines the tool (and so this package) in a fresh interpreter for every call, and must not
pay for the event store, aiosqlite and the runtime it never uses.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# A library never configures logging; this only keeps Python's last-resort handler from
# printing Soma's records when the application has not configured logging at all.
logging.getLogger("soma").addHandler(logging.NullHandler())

_EXPORTS = {
    "EventLog": ".event_log",
    "open_event_log": ".event_log",
    "Event": ".events",
    "RunResult": ".run",
    "RunSnapshot": ".run",
    "RunState": ".run",
    "RunHandle": ".runtime",
    "Runtime": ".runtime",
    "Session": ".runtime",
    "RunInfo": ".session",
    "SessionStatus": ".session",
    "FromStep": ".steps",
    "InvalidRun": ".steps",
    "Step": ".steps",
    "CommandTool": ".tools",
    "Effect": ".tools",
    "Isolation": ".tools",
    "ToolContext": ".tools",
    "ToolSpec": ".tools",
    "tool": ".tools",
    "new_id": "._ids",
}

__all__ = [
    "CommandTool",
    "Effect",
    "Event",
    "EventLog",
    "FromStep",
    "InvalidRun",
    "Isolation",
    "RunHandle",
    "RunInfo",
    "RunResult",
    "RunSnapshot",
    "RunState",
    "Runtime",
    "Session",
    "SessionStatus",
    "Step",
    "ToolContext",
    "ToolSpec",
    "__version__",
    "new_id",
    "open_event_log",
    "tool",
]
assert set(__all__) == {*_EXPORTS, "__version__"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'soma_runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._ids import new_id
    from .event_log import EventLog, open_event_log
    from .events import Event
    from .run import RunResult, RunSnapshot, RunState
    from .runtime import RunHandle, Runtime, Session
    from .session import RunInfo, SessionStatus
    from .steps import FromStep, InvalidRun, Step
    from .tools import CommandTool, Effect, Isolation, ToolContext, ToolSpec, tool
