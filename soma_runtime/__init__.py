"""Soma runtime: an OTP-style supervision tree for LLM-agent runs.

The public embedding API (see docs/design.md, "Public embedding API")::

    async with Runtime.open(db="soma.db", tools=[search]) as rt:
        session = await rt.start_session(agent_id="research")
        run = await session.start_run([Step("s1", "search", {"query": "otp"})], timeout=30.0)
        result = await run.result()

Names are imported on first use: a process-isolated tool's worker imports the module that
defines the tool (and so this package) in a fresh interpreter for every call, and must not
pay for the event store, aiosqlite and the runtime it never uses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__

# A library never configures logging; this only keeps Python's last-resort handler from
# printing Soma's records when the application has not configured logging at all.
logging.getLogger("soma").addHandler(logging.NullHandler())

_EXPORTS = {
    "EventLog": ".store.log",
    "open_event_log": ".store.log",
    "Event": ".store.events",
    "RunResult": ".execution.run_types",
    "RunSnapshot": ".execution.run_types",
    "RunState": ".execution.run_types",
    "RunHandle": ".runtime",
    "Runtime": ".runtime",
    "Session": ".runtime",
    "RunInfo": ".execution.session",
    "SessionStatus": ".execution.session",
    "FromStep": ".execution.steps",
    "InvalidRun": ".execution.steps",
    "Overloaded": ".execution.errors",
    "SessionExists": ".execution.errors",
    "Step": ".execution.steps",
    "CommandTool": ".tools.spec",
    "Effect": ".tools.spec",
    "Isolation": ".tools.spec",
    "ToolContext": ".tools.spec",
    "ToolSpec": ".tools.spec",
    "tool": ".tools.spec",
    "new_id": ".store.ids",
    "TelemetryConfig": ".telemetry.config",
    "RayConfig": ".tools.ray_cluster",
}

__all__ = [
    "CommandTool",
    "Effect",
    "Event",
    "EventLog",
    "FromStep",
    "InvalidRun",
    "Isolation",
    "Overloaded",
    "RayConfig",
    "RunHandle",
    "RunInfo",
    "RunResult",
    "RunSnapshot",
    "RunState",
    "Runtime",
    "Session",
    "SessionExists",
    "SessionStatus",
    "Step",
    "TelemetryConfig",
    "ToolContext",
    "ToolSpec",
    "__version__",
    "new_id",
    "open_event_log",
    "tool",
]
assert set(__all__) == {*_EXPORTS, "__version__"}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from .execution.errors import Overloaded, SessionExists
    from .execution.run_types import RunResult, RunSnapshot, RunState
    from .execution.session import RunInfo, SessionStatus
    from .execution.steps import FromStep, InvalidRun, Step
    from .runtime import RunHandle, Runtime, Session
    from .store.events import Event
    from .store.ids import new_id
    from .store.log import EventLog, open_event_log
    from .telemetry.config import TelemetryConfig
    from .tools.ray_cluster import RayConfig
    from .tools.spec import CommandTool, Effect, Isolation, ToolContext, ToolSpec, tool
