"""A CPU-bound ``task`` tool no longer freezes the runtime unnoticed (issue 14, breakage 4).

Before: an 8 s loop with ``timeout=1.0`` stalled the event loop 7.95 s and the step reported
COMPLETED. Asyncio cannot pre-empt it — nothing can make such a tool stop early — but now the
watchdog names the tool call while the loop is blocked (log) and records ``tool.stalled``
once it runs again, and the step is reported for what it was: a TIMEOUT.
"""

from __future__ import annotations

import logging
import time

import anyio
import pytest

from soma_runtime import RunState, Runtime, Step, tool

pytestmark = pytest.mark.anyio


@tool(timeout=0.3)
async def spin(seconds: float) -> str:
    """CPU-bound work in an async function: it never awaits."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


@tool(timeout=0.3, isolation="thread")
def spin_in_thread(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


async def test_a_stall_is_named_recorded_and_the_overrun_step_is_a_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Runtime.open(tools=[spin], vitals=False) as rt:
        session = await rt.start_session("a")
        with caplog.at_level(logging.WARNING, logger="soma.watchdog"):
            run = await session.start_run([Step("s1", "spin", {"seconds": 1.2})])
            result = await run.result()
        assert result.state is RunState.TIMEOUT, result
        assert "timed out after 0.3s" in (result.error or "") and "isolation='thread'" in (result.error or "")
        assert "blocked for over" in caplog.text and "'spin'" in caplog.text
        [started] = await rt.events.query(run_id=run.run_id, type="tool.started")
        # Recorded at the loop's next beat, moments after the stall ended: follow the log.
        with anyio.fail_after(10):
            event = await anext(aiter(rt.events.subscribe(run_id=run.run_id, type="tool.stalled")))
        assert event.tool_call_id == started.tool_call_id and event.payload["tool"] == "spin"
        assert event.payload["blocked_ms"] > 500 and event.payload["isolation"] == "task"


async def test_the_same_work_in_a_thread_times_out_on_time_and_stalls_nothing() -> None:
    async with Runtime.open(tools=[spin_in_thread], vitals=False) as rt:
        session = await rt.start_session("a")
        began = time.monotonic()
        run = await session.start_run([Step("s1", "spin_in_thread", {"seconds": 2.5})])
        result = await run.result()
        assert result.state is RunState.TIMEOUT
        assert time.monotonic() - began < 2.0, "the timeout fired long before the work ended"
        assert await rt.events.query(type="tool.stalled") == []
