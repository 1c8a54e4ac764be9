"""A full disk: sessions survive, and every run ends once writes succeed again — or at the
next open — without any caller hearing an outcome the store does not have (issue 14,
breakage 3; docs/design.md §5c).

Before: the append got ``StoreWriteError`` (good), but the session whose ``start_run`` hit it
died for good (``NoProc`` after space returned), and in-flight runs reported FAILED to their
callers though no terminal event was written (20/20 stuck). The disk is filled with
SQLite's own limit, ``max_page_count``, on the store's writing connection: every write that
needs one more page fails with SQLITE_FULL ("database or disk is full"), as on a full disk.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from soma_runtime import RunHandle, RunState, Runtime, Step, tool
from soma_runtime.execution.run_types import TERMINAL_TYPES
from soma_runtime.store import StoreWriteError

pytestmark = pytest.mark.anyio

RUNS = 20
gate = anyio.Event()


@tool(effect="pure", idempotent=True)
async def wait_for_gate(n: int) -> str:
    await gate.wait()
    # Several pages' worth per run: its end needs new (overflow) pages, which a full disk
    # never has, whatever corners of free space the filled pages keep.
    return "x" * 20_000 + str(n)


async def fill_disk(rt: Runtime, full: bool) -> None:
    """SQLite's page limit on the store's writing connection: as a full disk to SQLite."""
    feed = await rt.events._attach()
    writer = feed.log._writer
    assert writer is not None
    await writer.execute_fetchall(f"PRAGMA max_page_count = {1 if full else 4294967294}")
    if full:
        # The limit is the file's size now: fill what free space its pages still have — with
        # ever smaller rows, so no corner is left where a run's small events would still fit.
        for size in (3000, 300, 30):
            with pytest.raises(StoreWriteError, match="full"):
                for _ in range(1000):
                    await rt.events.append("session.started", {"metadata": {"filler": "f" * size}})


async def until(condition: object, what: str, timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        # A real condition polled with a deadline: the run has no event for "holding its end".
        while not await condition():  # type: ignore[operator]  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def holding_end(run: RunHandle) -> bool:
    """The run finished its steps and holds its end (its process is alive, nothing runs)."""
    snapshot = await run.status()
    return getattr(snapshot, "step_index", 0) == 1 and getattr(snapshot, "tool_call_id", "x") is None


async def ends(rt: Runtime, run_id: str) -> list[str]:
    return [e.type for e in await rt.events.query(run_id=run_id, type=list(TERMINAL_TYPES.values()))]


async def test_sessions_survive_and_runs_end_once_space_returns(tmp_path: Path) -> None:
    global gate
    gate = anyio.Event()
    async with Runtime.open(tmp_path / "soma.db", tools=[wait_for_gate]) as rt:  # vitals on
        session = await rt.start_session("a")
        runs = [await session.start_run([Step("s1", "wait_for_gate", {"n": i})]) for i in range(RUNS)]
        await fill_disk(rt, full=True)
        # A new run: the caller hears the store's refusal; the session lives on.
        with pytest.raises(StoreWriteError):
            await session.start_run([Step("s1", "echo", {"value": "x" * 5000})])
        assert session.pid.is_alive()
        gate.set()  # every run finishes its step: its end cannot be written
        for run in runs:
            await until(lambda run=run: holding_end(run), f"{run} never reached its end")
        results: list[RunState] = []

        async def wait(run: RunHandle) -> None:
            results.append((await run.result()).state)

        async with anyio.create_task_group() as tg:
            for run in runs:
                tg.start_soon(wait, run)
            await anyio.wait_all_tasks_blocked()
            # Nobody hears an outcome the store does not have.
            assert results == []
            for run in runs:
                assert await ends(rt, run.run_id) == []
                assert run.pid is not None and run.pid.is_alive()
            await fill_disk(rt, full=False)  # space returns
        assert results == [RunState.COMPLETED] * RUNS
        for run in runs:
            assert await ends(rt, run.run_id) == ["run.completed"]
            assert (await run.result()).state is RunState.COMPLETED
        # The session serves new runs (it used to be gone: NoProc).
        again = await session.start_run([Step("s1", "echo", {"value": 1})])
        assert (await again.result()).state is RunState.COMPLETED
        assert rt.root.is_alive()


async def test_runs_whose_end_was_never_written_end_at_the_next_open(tmp_path: Path) -> None:
    global gate
    gate = anyio.Event()
    db = tmp_path / "soma.db"
    async with Runtime.open(db, tools=[wait_for_gate], vitals=False) as rt:
        session = await rt.start_session("a")
        runs = [await session.start_run([Step("s1", "wait_for_gate", {"n": i})]) for i in range(5)]
        await fill_disk(rt, full=True)
        gate.set()
        for run in runs:
            await until(lambda run=run: holding_end(run), f"{run} never reached its end")
        # The runtime stops while the disk is still full: no end can be written.
    async with Runtime.open(db, tools=[wait_for_gate], vitals=False) as rt:
        # Found unfinished at open: resumed (their step was pure), started (a run whose
        # run.started was still waiting to share a commit when the disk filled) or ended —
        # never lost.
        found = [*rt.recovery.resumed, *rt.recovery.started, *rt.recovery.ended]
        assert sorted(found) == sorted(r.run_id for r in runs)
        for run in runs:
            assert (await (await rt.run(run.run_id)).result()).state is RunState.COMPLETED
            assert await ends(rt, run.run_id) == ["run.completed"], "each run has exactly one end"
