"""The execution core's ten proofs (docs/design.md §3), each watching processes, not just return
values: the tool's asyncio task is done, or its OS process is gone, after cancel and timeout;
a crashing tool leaves the session's pid alive and able to run again."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from _stubborn import Stubborn, defiant, defiant_probe, quiesce, stubborn, stubborn_probe

from soma_runtime import FromStep, RunHandle, RunState, Runtime, Step, tool
from soma_runtime.kernel import Pid, Shutdown, VirtualClock, current_process

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
    clock = VirtualClock()
    async with Runtime.open(tools=TOOLS, clock=clock, vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "hang", timeout=30.0)])
        await probe.started.wait()
        await clock.advance(29.9)
        await quiesce(rt.events)
        [task] = probe.tasks
        assert not task.done() and run.pid.is_alive(), "timed out early"
        await clock.advance(0.1)
        result = await run.result()
        assert result.state is RunState.TIMEOUT
        assert result.error == "step 's1' (hang): timed out after 30.0s"
        assert task.done(), "the hanging tool's task is gone after the timeout"
        [timed_out] = await rt.events.query(run_id=run.run_id, type="run.timeout")
        assert timed_out.payload == {"timeout": None, "error": result.error}
        assert not probe.pids[0].is_alive()


async def test_proof_8b_the_whole_run_times_out() -> None:
    clock = VirtualClock()
    async with Runtime.open(tools=TOOLS, clock=clock, vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "echo", {"value": 1}), Step("s2", "hang")], timeout=30.0)
        await probe.started.wait()
        await clock.advance(30.0)
        result = await run.result()
        assert result.state is RunState.TIMEOUT and result.outputs == {"s1": 1}
        assert probe.tasks[0].done() and not probe.pids[0].is_alive()
        assert [e.type for e in await rt.events.query(run_id=run.run_id)][-1] == "run.timeout"
        [timed_out] = await rt.events.query(run_id=run.run_id, type="run.timeout")
        assert timed_out.payload == {"timeout": 30.0, "error": "step 's2' (hang): run timed out after 30.0s"}


async def _cancel_and_look(run: RunHandle, tool: Stubborn, seen: list[tuple[RunState, bool, bool]]) -> None:
    """Cancel, and note at the very moment cancel returns whether the tool had stopped."""
    result = await run.cancel()
    seen.append((result.state, tool.task.done(), tool.cleaned.is_set()))


async def test_proof_9_cancel_returns_only_after_the_tools_task_has_finished() -> None:
    tool = stubborn_probe("proof9")
    async with Runtime.open(tools=[stubborn], vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "stubborn", {"name": "proof9"})])
        await tool.started.wait()
        seen: list[tuple[RunState, bool, bool]] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_and_look, run, tool, seen)
            await tool.stopping.wait()  # told to stop; its cleanup lasts until released
            await quiesce(rt.events)
            assert seen == [], "cancel returned while the tool's task was still running"
            assert run.pid.is_alive() and not tool.task.done()
            assert await rt.events.query(run_id=run.run_id, type="run.cancelled") == []
            tool.release.set()
        assert seen == [(RunState.CANCELLED, True, True)]
        assert not tool.pids[0].is_alive() and not run.pid.is_alive()
        assert tool.pids[0].exit_reason == Shutdown("cancelled"), "stopped in order, not killed"
        assert (await run.result()).state is RunState.CANCELLED
        types = [e.type for e in await rt.events.query(run_id=run.run_id)]
        assert types[-3:] == ["tool.failed", "step.failed", "run.cancelled"]
        [cancelled] = await rt.events.query(run_id=run.run_id, type="run.cancelled")
        # ``reason``: why the run was cancelled, short; ``error``: what it cut, in words.
        assert cancelled.payload == {"reason": "cancelled", "error": "step 's1' (stubborn): cancelled"}


async def test_proof_9b_a_tool_that_will_not_stop_is_killed_at_the_grace_and_cancel_waits_for_it() -> None:
    tool = stubborn_probe("proof9b")
    clock = VirtualClock()
    async with Runtime.open(tools=[stubborn], clock=clock, cancel_grace=2.0, vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "stubborn", {"name": "proof9b"})])
        await tool.started.wait()
        seen: list[tuple[RunState, bool, bool]] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_and_look, run, tool, seen)
            await tool.stopping.wait()
            await clock.advance(1.9)  # within the grace: the tool may still clean up
            await quiesce(rt.events)
            assert seen == [] and run.pid.is_alive() and not tool.task.done()
            await clock.advance(0.1)  # the grace is over: the ToolCall is killed
        assert seen == [(RunState.CANCELLED, True, False)], "killed, its cleanup cut short"
        assert not tool.pids[0].is_alive()


async def test_proof_9c_after_the_kill_cancel_waits_for_the_tools_task_to_finish() -> None:
    """Killed at the grace, the tool still needs a moment to finish (a process tool: reaping
    its OS process). Cancel waits for that too, up to one more grace period."""
    tool = defiant_probe("proof9c")
    clock = VirtualClock()
    async with Runtime.open(tools=[defiant], clock=clock, cancel_grace=2.0, vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "defiant", {"name": "proof9c"})])
        await tool.started.wait()
        seen: list[tuple[RunState, bool, bool]] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_and_look, run, tool, seen)
            await tool.stopping.wait()
            await clock.advance(2.0)  # the grace is over: killed
            await tool.killed.wait()
            await quiesce(rt.events)
            assert seen == [], "cancel returned while the killed tool's task was still finishing"
            tool.release.set()
        assert seen == [(RunState.CANCELLED, True, True)]


async def test_proof_9d_a_tool_that_survives_its_kill_is_abandoned_after_one_more_grace() -> None:
    """A task that outlives its kill too (Python cannot pre-empt it) is abandoned after one more
    grace period — on the node's clock, like every other deadline of the run."""
    tool = defiant_probe("proof9d")
    clock = VirtualClock()
    async with Runtime.open(tools=[defiant], clock=clock, cancel_grace=2.0, vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "defiant", {"name": "proof9d"})])
        await tool.started.wait()
        seen: list[tuple[RunState, bool, bool]] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_and_look, run, tool, seen)
            await tool.stopping.wait()
            await clock.advance(2.0)
            await tool.killed.wait()
            await clock.advance(1.9)
            await quiesce(rt.events)
            assert seen == []
            await clock.advance(0.1)
            await quiesce(rt.events)
            assert seen == [(RunState.CANCELLED, False, False)], "abandoned, still running"
            tool.release.set()  # let it end before the runtime closes
        await tool.cleaned.wait()


@tool
async def works_then_fails(ms: float) -> None:
    """Busy for ``ms`` milliseconds of real time (a lower bound the test can rely on), then fails."""
    started = time.perf_counter()
    while (time.perf_counter() - started) * 1000 < ms:
        pass
    raise RuntimeError("failed after working")


async def test_a_failed_step_is_recorded_with_its_step_its_tool_call_and_its_duration() -> None:
    async with Runtime.open(tools=[works_then_fails], vitals=False) as rt:
        session = await rt.start_session("a")
        before = time.perf_counter()
        run = await session.start_run(
            [Step("s1", "echo", {"value": 1}), Step("s2", "works_then_fails", {"ms": 20.0})]
        )
        result = await run.result()
        elapsed_ms = (time.perf_counter() - before) * 1000
        why = "ToolFailed: tool 'works_then_fails' failed: RuntimeError: failed after working"
        assert result.error == f"step 's2' (works_then_fails): {why}"
        events = await rt.events.query(run_id=run.run_id)
        [started] = [e for e in events if e.type == "tool.started" and e.step_id == "s2"]
        [tool_failed] = [e for e in events if e.type == "tool.failed"]
        [step_failed] = [e for e in events if e.type == "step.failed"]
        assert started.tool_call_id is not None
        assert (tool_failed.step_id, tool_failed.tool_call_id) == ("s2", started.tool_call_id)
        assert 20.0 <= tool_failed.payload["duration_ms"] <= elapsed_ms
        assert step_failed.step_id == "s2" and step_failed.tool_call_id is None
        assert tool_failed.payload["error"] == step_failed.payload["error"] == why
        [run_failed] = [e for e in events if e.type == "run.failed"]
        assert run_failed.payload == {"error": result.error}


THREAD_GATE = threading.Event()


@tool
def stuck_in_a_thread() -> str:
    """A sync tool (thread isolation) that nothing can stop until the test lets it return."""
    THREAD_GATE.wait()
    return "late"


@tool
def fails_in_a_thread() -> None:
    raise ValueError("bad input")


async def test_a_timed_out_thread_tool_is_reported_abandoned_a_failed_one_is_not() -> None:
    THREAD_GATE.clear()
    clock = VirtualClock()
    async with Runtime.open(tools=[stuck_in_a_thread, fails_in_a_thread], clock=clock, vitals=False) as rt:
        session = await rt.start_session("a")
        try:
            run = await session.start_run([Step("s1", "stuck_in_a_thread", timeout=5.0)])
            await quiesce(rt.events)
            await clock.advance(5.0)
            result = await run.result()
        finally:
            THREAD_GATE.set()  # the abandoned thread may end now
        note = " (thread tool abandoned: its thread may still be running)"
        assert result.state is RunState.TIMEOUT
        assert result.error == f"step 's1' (stuck_in_a_thread): timed out after 5.0s{note}"
        failed = await session.start_run([Step("s1", "fails_in_a_thread")])
        why = "ToolFailed: tool 'fails_in_a_thread' failed: ValueError: bad input"
        assert (await failed.result()).error == f"step 's1' (fails_in_a_thread): {why}"


async def test_proof_10_the_session_runs_again_after_failure_timeout_and_cancel() -> None:
    clock = VirtualClock()
    async with Runtime.open(tools=TOOLS, clock=clock, vitals=False) as rt:
        session = await rt.start_session("a")
        failed = await session.start_run([Step("s1", "fail", {})])
        timed_out = await session.start_run([Step("s1", "hang", timeout=30.0)])
        assert (await failed.result()).state is RunState.FAILED
        await probe.started.wait()
        await clock.advance(30.0)
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
