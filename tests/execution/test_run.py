"""The execution core's ten proofs (docs/design.md §3), each watching processes, not just return
values: the tool's asyncio task is done, or its OS process is gone, after cancel and timeout;
a crashing tool leaves the session's pid alive and able to run again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from soma_runtime import FromStep, RunState, Runtime, Step, tool
from soma_runtime.kernel import Pid, current_process

pytestmark = pytest.mark.anyio


class Probe:
    """What the test tools saw: their process, their task, and the order things happened."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.pids: list[Pid] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.started = asyncio.Event()

    def enter(self, label: str) -> None:
        proc = current_process()
        assert proc is not None
        self.pids.append(proc.pid)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        self.log.append(f"start {label}")
        self.started.set()


probe = Probe()


@tool
async def record(label: str, pause: float = 0.0) -> str:
    probe.enter(label)
    await asyncio.sleep(pause)
    probe.log.append(f"end {label}")
    return label.upper()


@tool
async def hang() -> None:
    probe.enter("hang")
    await asyncio.Event().wait()


@tool
async def crash(message: str) -> None:
    raise RuntimeError(message)


@tool
async def concat(parts: list[str], sep: str = "+") -> str:
    return sep.join(parts)


TOOLS = [record, hang, crash, concat]


@pytest.fixture(autouse=True)
def fresh_probe() -> None:
    global probe
    probe = Probe()


async def test_proof_1_a_session_starts(tmp_path: Path) -> None:
    async with Runtime.open(db=str(tmp_path / "soma.db"), tools=TOOLS) as rt:
        session = await rt.start_session("research", intent="read about OTP")
        assert session.pid.is_alive()
        assert session.session_id.startswith("sess-")
        session_sup = next(c for c in rt.tree()[0].children if c.child_id == "session_sup")
        assert [c.pid for c in session_sup.children] == [session.pid]
        [started] = await rt.events.query(session_id=session.session_id, type="session.started")
        assert started.agent_id == "research" and started.payload["intent"] == "read about OTP"


async def test_proof_2_a_run_is_accepted() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "echo", {"value": 1})])
        assert run.run_id.startswith("run-")
        assert (await run.result()).state is RunState.COMPLETED
        types = [e.type for e in await rt.events.query(run_id=run.run_id)]
        assert types[0] == "run.accepted"


async def test_proof_3_steps_execute_sequentially_and_chain_outputs() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run(
            [
                Step("s1", "record", {"label": "one", "pause": 0.01}),
                Step("s2", "record", {"label": "two"}),
                Step("s3", "concat", {"parts": [FromStep("s1"), FromStep("s2"), "three"]}),
            ]
        )
        result = await run.result()
        assert result.state is RunState.COMPLETED
        assert probe.log == ["start one", "end one", "start two", "end two"]
        assert result.outputs == {"s1": "ONE", "s2": "TWO", "s3": "ONE+TWO+three"}


async def test_proof_4_each_tool_call_runs_in_its_own_process() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step(f"s{i}", "record", {"label": str(i)}) for i in range(3)])
        assert (await run.result()).state is RunState.COMPLETED
        assert len(set(probe.pids)) == 3, "one process per tool call"
        assert run.pid not in probe.pids and session.pid not in probe.pids
        assert all(not pid.is_alive() for pid in probe.pids), "tool calls are disposable"
        assert all(task.done() for task in probe.tasks)
        # Each ToolCall was a child of the run process.
        assert all(pid.process.parent == run.pid for pid in probe.pids)


async def test_proof_5_events_are_emitted_for_every_transition() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run(
            [Step("s1", "echo", {"value": "x"}), Step("s2", "echo", {"value": "y"})]
        )
        await run.result()
        events = await rt.events.query(run_id=run.run_id)
        step = ["step.started", "tool.started", "tool.succeeded", "step.succeeded"]
        assert [e.type for e in events] == ["run.accepted", "run.started", *step, *step, "run.completed"]
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        assert {e.session_id for e in events} == {session.session_id}
        tool_started = [e for e in events if e.type == "tool.started"]
        assert all(e.tool_call_id and e.tool_call_id.startswith("tc-") for e in tool_started)
        assert events[-1].payload["outputs"] == {"s1": "x", "s2": "y"}


async def test_proof_6_a_failing_tool_fails_the_run() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run(
            [
                Step("s1", "echo", {"value": 1}),
                Step("s2", "fail", {"message": "disk full"}),
                Step("s3", "echo", {"value": 3}),
            ]
        )
        result = await run.result()
        assert result.state is RunState.FAILED
        assert result.error is not None and "disk full" in result.error and "s2" in result.error
        assert result.outputs == {"s1": 1}
        types = [e.type for e in await rt.events.query(run_id=run.run_id)]
        assert types[-3:] == ["tool.failed", "step.failed", "run.failed"]
        assert "s3" not in {e.step_id for e in await rt.events.query(run_id=run.run_id)}


async def test_proof_7_a_crashed_tool_does_not_kill_the_session() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "crash", {"message": "segfault-ish"})])
        result = await run.result()
        assert result.state is RunState.FAILED and "RuntimeError: segfault-ish" in (result.error or "")
        assert session.pid.is_alive()
        again = await session.start_run([Step("s1", "echo", {"value": "still here"})])
        assert (await again.result()).outputs == {"s1": "still here"}


async def test_proof_8_a_hanging_tool_times_out() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "hang", timeout=0.2)])
        result = await run.result()
        assert result.state is RunState.TIMEOUT
        assert "timed out" in (result.error or "")
        [task] = probe.tasks
        assert task.done(), "the hanging tool's task is gone after the timeout"
        assert not probe.pids[0].is_alive()


async def test_proof_8b_the_whole_run_times_out() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "echo", {"value": 1}), Step("s2", "hang")], timeout=0.2)
        result = await run.result()
        assert result.state is RunState.TIMEOUT and result.outputs == {"s1": 1}
        assert probe.tasks[0].done()
        assert [e.type for e in await rt.events.query(run_id=run.run_id)][-1] == "run.timeout"


async def test_proof_9_cancelling_a_run_stops_the_active_task_tool() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "hang")])
        await probe.started.wait()
        [tool_task] = probe.tasks
        assert not tool_task.done()
        result = await run.cancel()
        assert result.state is RunState.CANCELLED
        assert tool_task.done(), "the tool's task is gone when cancel returns"
        assert not probe.pids[0].is_alive() and not run.pid.is_alive()
        assert (await run.result()).state is RunState.CANCELLED
        types = [e.type for e in await rt.events.query(run_id=run.run_id)]
        assert types[-3:] == ["tool.failed", "step.failed", "run.cancelled"]


async def test_proof_10_the_session_runs_again_after_failure_timeout_and_cancel() -> None:
    async with Runtime.open(tools=TOOLS) as rt:
        session = await rt.start_session("a")
        failed = await session.start_run([Step("s1", "fail", {})])
        timed_out = await session.start_run([Step("s1", "hang", timeout=0.1)])
        assert (await failed.result()).state is RunState.FAILED
        assert (await timed_out.result()).state is RunState.TIMEOUT
        cancelled = await session.start_run([Step("s1", "hang")])
        assert (await cancelled.cancel()).state is RunState.CANCELLED
        ok = await session.start_run([Step("s1", "echo", {"value": "ok"})])
        assert (await ok.result()).state is RunState.COMPLETED
        status = await session.status()
        assert [r.state for r in status.runs] == [
            RunState.FAILED,
            RunState.TIMEOUT,
            RunState.CANCELLED,
            RunState.COMPLETED,
        ]
        assert session.pid.is_alive()
