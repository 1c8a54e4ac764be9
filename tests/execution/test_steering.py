"""Steering: the core's side of the contract with a monitor (vitals). Sessions ask the
process registered as ``soma.vitals`` for steering, keep guidance for the agent's next model
call, and — under BLOCK — their runs refuse destructive tools, as data."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from soma_runtime import RunSnapshot, RunState, Runtime, Step, tool
from soma_runtime.execution.steering import STEERING_NAME, DestructiveBlock, Guidance, SteerMe
from soma_runtime.kernel import Call, GenServer, Pid

pytestmark = pytest.mark.anyio


class FakeMonitor(GenServer):
    """Stands in for the vitals monitor: records who asked for steering."""

    async def init(self) -> None:
        self.sessions: dict[str, Pid] = {}

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, SteerMe):
            self.sessions[message.agent_id] = message.session

    async def handle_call(self, request: Any, caller: Call) -> Any:
        return dict(self.sessions)


BLOCK = DestructiveBlock("coder", True, 0.83, "retry storm")
UNBLOCK = DestructiveBlock("coder", False, 0.2, "recovered")


async def test_sessions_ask_the_monitor_and_keep_guidance_for_the_next_model_call(tmp_path: Path) -> None:
    async with Runtime.open(root=tmp_path, vitals=False) as rt:
        monitor = await FakeMonitor.start(name=STEERING_NAME)
        assert monitor is not None
        session = await rt.start_session("coder")
        assert (await monitor.call("sessions"))["coder"] == session.pid
        g = Guidance("coder", "f-1", "bash_retry", "Stop retrying the same command.", 0.4, "GUIDE")
        await session.pid.send(g)
        assert (await session.status()).pending_guidance == 1
        assert await session.take_guidance() == [g]
        assert await session.take_guidance() == []


async def test_under_block_a_destructive_tool_is_refused_and_allowed_again_after(tmp_path: Path) -> None:
    async with Runtime.open(root=tmp_path, vitals=False) as rt:
        session = await rt.start_session("coder")
        await session.pid.send(BLOCK)
        assert (await session.status()).destructive_blocked
        run = await session.start_run(
            [
                Step("read", "echo", {"value": 1}),
                Step("write", "file_write", {"path": "x.txt", "content": "hi"}),
            ]
        )
        result = await run.result()
        assert result.state is RunState.FAILED and result.outputs == {"read": 1}
        assert result.error is not None and "destructive" in result.error and "0.83" in result.error
        assert not (tmp_path / "x.txt").exists(), "nothing destructive ran"
        events = await rt.events.query(run_id=run.run_id)
        [blocked] = [e for e in events if e.type == "tool.blocked"]
        assert blocked.payload["tool"] == "file_write" and blocked.payload["pressure"] == 0.83
        assert "tool.started" not in {e.type for e in events if e.step_id == "write"}

        await session.pid.send(UNBLOCK)
        run = await session.start_run([Step("write", "file_write", {"path": "x.txt", "content": "hi"})])
        assert (await run.result()).state is RunState.COMPLETED
        assert (tmp_path / "x.txt").read_text() == "hi"


GATES: dict[str, asyncio.Event] = {}


@tool
async def gated(name: str) -> str:
    """A step that lasts until the test opens its gate."""
    await GATES[name].wait()
    return name


async def test_a_block_reaches_runs_that_are_already_live(tmp_path: Path) -> None:
    GATES["live"] = asyncio.Event()
    async with Runtime.open(root=tmp_path, tools=[gated], vitals=False) as rt:
        session = await rt.start_session("coder")
        run = await session.start_run(
            [
                Step("wait", "gated", {"name": "live"}),
                Step("write", "file_write", {"path": "y.txt", "content": "x"}),
            ]
        )
        await session.pid.send(BLOCK)
        # Mailbox order: once these answer, the session forwarded the block and the run took it.
        await session.status()
        snapshot = await run.status()
        assert isinstance(snapshot, RunSnapshot) and snapshot.step_id == "wait"
        GATES["live"].set()
        result = await run.result()
        assert result.state is RunState.FAILED and "destructive" in (result.error or "")
        assert result.outputs == {"wait": "live"}
        assert not (tmp_path / "y.txt").exists()
