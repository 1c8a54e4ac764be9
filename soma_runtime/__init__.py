"""Soma runtime: an OTP-style supervision tree for LLM-agent runs.

The public embedding API (see DESIGN.md §3)::

    async with Runtime.open(db="soma.db", tools=[search]) as rt:
        session = await rt.start_session(agent_id="research")
        run = await session.start_run([Step("s1", "search", {"query": "otp"})], timeout=30.0)
        result = await run.result()
"""

import logging

__version__ = "0.1.0"

# A library never configures logging; this only keeps Python's last-resort handler from
# printing Soma's records when the application has not configured logging at all.
logging.getLogger("soma").addHandler(logging.NullHandler())

from .event_log import EventLog, open_event_log  # noqa: E402
from .events import Event  # noqa: E402
from .run import RunResult, RunSnapshot, RunState  # noqa: E402
from .runtime import RunHandle, Runtime, Session  # noqa: E402
from .session import RunInfo, SessionStatus  # noqa: E402
from .steps import FromStep, InvalidRun, Step  # noqa: E402
from .tools import CommandTool, Effect, Isolation, ToolContext, ToolSpec, tool  # noqa: E402

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
    "open_event_log",
    "tool",
]
