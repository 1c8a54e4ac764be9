"""Sessions: start runs, track them, never execute tools, survive every run outcome, reject
bad input with a typed error while continuing to serve, and stop cleanly."""

from __future__ import annotations

import asyncio

import pytest

from soma_runtime import FromStep, InvalidRun, RunState, Runtime, Step, tool
from soma_runtime.kernel import current_process, settle

pytestmark = pytest.mark.anyio

seen_by_tools: list[object] = []
hanging_tasks: list[asyncio.Task[object]] = []


@tool
async def hang() -> None:
    seen_by_tools.append(current_process())
    task = asyncio.current_task()
    assert task is not None
    hanging_tasks.append(task)
    await asyncio.Event().wait()


@tool
async def add(a: int, b: int) -> int:
    seen_by_tools.append(current_process())
    return a + b


@pytest.mark.parametrize(
    ("steps", "timeout", "words"),
    [
        ([], None, "at least one step"),
        ([Step("s1", "nope")], None, "unknown tool 'nope'"),
        ([Step("s1", "add", {"a": "x", "b": 1})], None, "'s1'"),
        ([Step("s1", "add", {"a": 1})], None, "b"),
        ([Step("s1", "echo", {"value": 1}), Step("s1", "echo", {"value": 2})], None, "duplicate step id"),
        ([Step("s1", "echo", {"value": 1})], -1.0, "timeout"),
        ([Step("s1", "echo", {"value": 1}, timeout=0)], None, "timeout"),
        (
            [Step("s1", "echo", {"value": FromStep("s2")}), Step("s2", "echo", {"value": 1})],
            None,
            "later step",
        ),
        ([Step("s1", "echo", {"value": FromStep("ghost")})], None, "unknown step"),
    ],
)
async def test_invalid_runs_fail_at_start_run_and_the_session_keeps_serving(
    steps: list[Step], timeout: float | None, words: str
) -> None:
    async with Runtime.open(tools=[hang, add]) as rt:
        session = await rt.start_session("a")
        with pytest.raises(InvalidRun) as error:
            await session.start_run(steps, timeout=timeout)
        assert words in str(error.value)
        assert session.pid.is_alive()
        run = await session.start_run([Step("s1", "add", {"a": 1, "b": 2})])
        assert (await run.result()).outputs == {"s1": 3}
        assert [
            e.type for e in await rt.events.query(session_id=session.session_id, type="run.accepted")
        ] == ["run.accepted"]


async def test_arguments_invalid_only_at_run_time_fail_the_run_with_the_reason_as_data() -> None:
    async with Runtime.open(tools=[add]) as rt:
        session = await rt.start_session("a")
        run = await session.start_run(
            [Step("s1", "echo", {"value": "not a number"}), Step("s2", "add", {"a": FromStep("s1"), "b": 1})]
        )
        result = await run.result()
        assert result.state is RunState.FAILED
        assert result.error is not None and "s2" in result.error and "a" in result.error
        assert [e.type for e in await rt.events.query(run_id=run.run_id)][-2:] == [
            "step.failed",
            "run.failed",
        ]
        assert session.pid.is_alive()


async def test_a_session_never_executes_tools() -> None:
    seen_by_tools.clear()
    async with Runtime.open(tools=[add]) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "add", {"a": 1, "b": 1})])
        await run.result()
        assert seen_by_tools and session.pid.process not in seen_by_tools
        assert run.pid.process not in seen_by_tools


async def test_stop_cancels_live_runs_and_records_session_stopped() -> None:
    seen_by_tools.clear()
    hanging_tasks.clear()
    async with Runtime.open(tools=[hang]) as rt:
        session = await rt.start_session("a")
        runs = [await session.start_run([Step("s1", "hang")]) for _ in range(3)]
        while len(hanging_tasks) < 3:  # every tool is running
            await settle()
        await session.stop()
        assert all(task.done() for task in hanging_tasks), "a tool's task outlived the session's stop"
        assert not session.pid.is_alive()
        for run in runs:
            assert not run.pid.is_alive()
            assert (await run.result()).state is RunState.CANCELLED
        assert all(not proc.alive for proc in seen_by_tools)  # type: ignore[attr-defined]
        types = [e.type for e in await rt.events.query(session_id=session.session_id)]
        assert types[-1] == "session.stopped"
        await session.stop()  # idempotent


async def test_status_tracks_every_run_of_the_session() -> None:
    async with Runtime.open(tools=[hang]) as rt:
        session = await rt.start_session("a")
        done = await session.start_run([Step("s1", "echo", {"value": 1})])
        await done.result()
        hanging_tasks.clear()
        live = await session.start_run([Step("s1", "hang")])
        status = await session.status()
        assert (status.session_id, status.agent_id) == (session.session_id, "a")
        assert (status.runs[0].run_id, status.runs[0].state) == (done.run_id, RunState.COMPLETED)
        assert [r.run_id for r in status.live_runs] == [live.run_id]
        while not hanging_tasks:
            await settle()
        await live.cancel()
        assert hanging_tasks[0].done() and not live.pid.is_alive()
        assert (await session.status()).live_runs == []


@tool
async def huge(size: int) -> str:
    return "x" * size


async def test_a_plan_too_large_to_journal_is_refused_and_the_session_keeps_serving() -> None:
    async with Runtime.open() as rt:
        session = await rt.start_session("a")
        steps = [Step(f"s{i}", "echo", {"value": "y" * 200}) for i in range(10_000)]
        with pytest.raises(InvalidRun, match="over the cap"):
            await session.start_run(steps)
        assert session.pid.is_alive()
        run = await session.start_run([Step("s1", "echo", {"value": 1})])
        assert (await run.result()).state is RunState.COMPLETED


async def test_an_output_too_large_to_record_fails_the_step_not_the_run_process() -> None:
    async with Runtime.open(tools=[huge]) as rt:
        session = await rt.start_session("a")
        run = await session.start_run(
            [Step("s1", "huge", {"size": 2_000_000}), Step("s2", "echo", {"value": 1})]
        )
        result = await run.result()
        assert result.state is RunState.FAILED
        assert result.error is not None and "output not recordable" in result.error
        types = [e.type for e in await rt.events.query(run_id=run.run_id)]
        assert types[-3:] == ["tool.failed", "step.failed", "run.failed"]
        assert session.pid.is_alive()
