"""The Runtime as a whole: races, load, isolation through the tree, and a shutdown that
leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from _stubborn import quiesce

from soma_runtime import CommandTool, RunState, Runtime, Step, tool
from soma_runtime.kernel import current_node

pytestmark = pytest.mark.anyio


def os_process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@tool(isolation="process")
def block_in_child() -> None:
    import time

    time.sleep(60)


sleeper = CommandTool("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])


ENTERED: dict[int, anyio.Event] = {}  # call n of ``quick`` has begun (when a test waits for it)


@tool
async def quick(n: int, spins: int = 1) -> int:
    if n in ENTERED:
        ENTERED[n].set()
    for _ in range(spins):  # scheduler rounds before it returns: where the race with cancel lies
        await asyncio.sleep(0)
    return n


async def os_pid_of(run: object) -> int:
    from soma_runtime import RunHandle, RunSnapshot

    assert isinstance(run, RunHandle)
    for _ in range(2000):
        status = await run.status()
        if isinstance(status, RunSnapshot) and status.os_pid is not None:
            return status.os_pid
        await asyncio.sleep(0.005)
    raise AssertionError("the tool's OS process never started")


@pytest.mark.parametrize("tool_name", ["block_in_child", "sleeper"])
async def test_cancel_kills_the_tools_os_process(tool_name: str) -> None:
    async with Runtime.open(tools=[block_in_child, sleeper]) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", tool_name)])
        os_pid = await os_pid_of(run)
        assert not os_process_gone(os_pid)
        assert (await run.cancel()).state is RunState.CANCELLED
        assert os_process_gone(os_pid), "the OS process is gone (killed and reaped) when cancel returns"


@tool(isolation="process", kill_grace=60.0)
def stops_when_released(gate: str) -> None:
    """An OS process that ignores SIGTERM and ends once the test writes to its FIFO ``gate``
    (opening the FIFO tells the test it is ready: the handler is set by then)."""
    import os
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd = os.open(gate, os.O_RDONLY)
    os.read(fd, 1)


async def test_cancel_returns_only_after_the_tools_os_process_is_reaped(tmp_path: Path) -> None:
    """The tool ignores SIGTERM and ends when the test lets it: until then cancel must not
    return. A cancel that stopped waiting for the process returns during ``quiesce``."""
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    async with Runtime.open(tools=[stops_when_released], vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "stops_when_released", {"gate": str(gate)})])
        writer = await anyio.to_thread.run_sync(os.open, str(gate), os.O_WRONLY)  # the child is ready
        try:
            os_pid = await os_pid_of(run)
            seen: list[tuple[RunState, bool]] = []

            async def cancel() -> None:
                result = await run.cancel()
                seen.append((result.state, os_process_gone(os_pid)))

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel)
                await quiesce(rt.events)  # SIGTERM sent (and ignored); nothing else can happen
                assert seen == [], "cancel returned while the tool's OS process was alive"
                assert run.pid.is_alive() and not os_process_gone(os_pid)
                os.write(writer, b"x")  # the tool's process may end now
        finally:
            os.close(writer)
        assert seen == [(RunState.CANCELLED, True)]


@pytest.mark.parametrize("tool_name", ["block_in_child", "sleeper"])
async def test_a_timeout_kills_the_tools_os_process(tool_name: str) -> None:
    async with Runtime.open(tools=[block_in_child, sleeper]) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", tool_name, timeout=1.0)])
        os_pid = await os_pid_of(run)
        assert (await run.result()).state is RunState.TIMEOUT
        assert os_process_gone(os_pid)


async def test_cancel_racing_completion_gives_exactly_one_terminal_state(any_db: str) -> None:
    """Cancel sent the moment the tool begins, against a tool that returns after 0 to 7 scheduler
    rounds: the early returns beat the cancel, the late ones lose to it, and the rounds in
    between are the real race. Each run has exactly one terminal state, in its result and in
    the store — and both outcomes happen (a cancel that never wins proves nothing)."""
    async with Runtime.open(db=any_db, tools=[quick], vitals=False) as rt:
        session = await rt.start_session("a")
        outcomes = []
        for i in range(40):
            entered = ENTERED[i] = anyio.Event()
            run = await session.start_run([Step("s1", "quick", {"n": i, "spins": i % 8})])
            await entered.wait()
            del ENTERED[i]
            cancelled, result = await asyncio.gather(run.cancel(), run.result())
            assert cancelled == result
            outcomes.append(result.state)
            terminal = [
                e.type
                for e in await rt.events.query(run_id=run.run_id)
                if e.type in ("run.completed", "run.cancelled", "run.failed", "run.timeout")
            ]
            assert len(terminal) == 1 and terminal[0] == f"run.{result.state}"
            assert not run.pid.is_alive()
        assert set(outcomes) == {RunState.COMPLETED, RunState.CANCELLED}
        assert outcomes[0] is RunState.COMPLETED and outcomes[7] is RunState.CANCELLED


async def test_a_thousand_concurrent_runs_in_one_session_with_random_cancels(any_db: str) -> None:
    rng = random.Random(7)
    async with Runtime.open(db=any_db, tools=[quick]) as rt:
        session = await rt.start_session("a")
        runs = [
            await session.start_run([Step("s1", "quick", {"n": i}), Step("s2", "sleep", {"seconds": 0.01})])
            for i in range(1000)
        ]
        doomed = rng.sample(runs, 300)
        cancels = await asyncio.gather(*(r.cancel() for r in doomed))
        results = await asyncio.gather(*(r.result() for r in runs))
        assert {c.state for c in cancels} <= {RunState.CANCELLED, RunState.COMPLETED}
        by_id = {r.run_id: r for r in results}
        assert all(by_id[r.run_id].state is RunState.COMPLETED for r in runs if r not in doomed)
        assert all(not r.pid.is_alive() for r in runs)
        assert session.pid.is_alive()
        status = await session.status()
        assert len(status.runs) == 1000 and not status.live_runs
        terminal = await rt.events.query(session_id=session.session_id, type="run.cancelled")
        assert len(terminal) == sum(1 for r in results if r.state is RunState.CANCELLED)


async def test_shutdown_with_live_runs_leaves_no_task_and_no_os_process(any_db: str) -> None:
    async with Runtime.open(db=any_db, tools=[block_in_child, sleeper]) as rt:
        node = current_node()
        session = await rt.start_session("a")
        runs = [
            await session.start_run([Step("s1", "block_in_child")]),
            await session.start_run([Step("s1", "sleeper")]),
            await session.start_run([Step("s1", "sleep", {"seconds": 60})]),
        ]
        os_pids = [await os_pid_of(runs[0]), await os_pid_of(runs[1])]
        tasks = [p.task for p in node.processes() if p.task is not None]
    assert all(task.done() for task in tasks)
    assert not node.tasks()
    assert all(os_process_gone(pid) for pid in os_pids)
    children = {int(p) for p in os.listdir("/proc") if p.isdigit() and _parent_of(int(p)) == os.getpid()}
    assert not (children & set(os_pids))


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
