"""Every run ends (docs/design.md §5b), in one process: an orderly stop records an end for every live
run, ``on_shutdown="suspend"`` leaves runs for the next open to resume, and what that open
does with them — resumed, ended, or reachable through ``rt.run``, the control API and
``soma cancel``. (Runtimes killed outright: ``test_crash_resume``.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import _crash_tools as ct
import anyio
import pytest
from _crash_harness import all_gone, executions, os_process_gone, pids_in

from soma_runtime import RunResult, RunSnapshot, RunState, Runtime, Step, open_event_log
from soma_runtime.control import ControlClient
from soma_runtime.execution.run_records import TERMINAL_EVENTS, UnknownRun
from soma_runtime.store.events import Event, PreparedEvent
from soma_runtime.store.sqlite import SqliteLog

pytestmark = pytest.mark.anyio


def slow(label: str, tool: str, side: Path, seconds: float = 60.0) -> list[Step]:
    """s1 quick, s2 ``tool`` (slow the first time), s3 quick."""
    s2 = ct.args(label, "s2", str(side), seconds)
    if tool.startswith("command"):
        s2["seconds"] = str(seconds)
    return [
        Step("s1", "quick", ct.args(label, "s1", str(side))),
        Step("s2", tool, s2),
        Step("s3", "quick", ct.args(label, "s3", str(side))),
    ]


async def logged(db: Path) -> list[Event]:
    async with open_event_log(db, readonly=True) as log:
        return await log.query()


def of(events: list[Event], run_id: str) -> list[str]:
    return [e.type for e in events if e.run_id == run_id]


async def test_an_orderly_stop_ends_every_live_run_of_every_isolation_and_every_session(
    tmp_path: Path, any_db: str
) -> None:
    db, side = any_db, tmp_path / "side"
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False) as rt:
        session = await rt.start_session("a")
        runs = {}
        for kind in ct.KINDS:
            # A thread cannot be killed: it is abandoned, so let it end soon after the test.
            seconds = 2.0 if kind == "thread" else 60.0
            runs[kind] = await session.start_run(slow(kind, f"{kind}_once", side, seconds))
        lines = await executions(side, 2 * len(ct.KINDS))  # every s1, and every s2 running
        waiting = [await r.status() for r in runs.values()]
        assert all(isinstance(s, RunSnapshot) and s.state.value == "waiting_tool" for s in waiting)
    # The block ended: the tree stopped in order.
    events = await logged(db)
    for kind, run in runs.items():
        assert of(events, run.run_id)[-3:] == ["tool.failed", "step.failed", "run.cancelled"], kind
        [end] = [e for e in events if e.run_id == run.run_id and e.type in TERMINAL_EVENTS]
        assert end.payload["reason"] == "shutdown"
    assert [e.type for e in events if e.session_id == session.session_id][-1] == "session.stopped"
    await all_gone(pids_in(lines))  # the process tool's worker, the command and its child


async def test_suspended_runs_are_resumed_by_the_next_open(tmp_path: Path, any_db: str) -> None:
    db, side = any_db, tmp_path / "side"
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False, on_shutdown="suspend") as rt:
        session = await rt.start_session("a", intent="ship it")
        safe = await session.start_run(slow("safe", "process_safe", side), timeout=600)
        once = await session.start_run(slow("once", "task_once", side))
        idle = await rt.start_session("b")
        lines = await executions(side, 4)
    events = await logged(db)
    for run in (safe, once):
        assert of(events, run.run_id)[-2:] == ["tool.failed", "run.suspended"]
        assert not set(of(events, run.run_id)) & set(TERMINAL_EVENTS)
    assert {e.session_id for e in events if e.type == "session.stopped"} == {
        session.session_id,
        idle.session_id,
    }
    await all_gone(pids_in(lines))  # suspending stops the tools all the same

    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False) as rt:
        assert rt.recovery.resumed == [safe.run_id]
        assert rt.recovery.ended == {once.run_id: "resume_unsafe"}
        assert rt.recovery.sessions_resumed == [session.session_id]
        handle = await rt.run(safe.run_id)
        assert handle.session is not None and handle.session.session_id == session.session_id
        result = await handle.result()
        assert result.state is RunState.COMPLETED
        assert result.outputs == {"s1": "safe/s1", "s2": "safe/s2", "s3": "safe/s3"}
        failed = await (await rt.run(once.run_id)).result()
        assert failed.state is RunState.FAILED and "resume_unsafe" in (failed.error or "")
        assert "'s2'" in (failed.error or "") and "'task_once'" in (failed.error or "")
    events = await logged(db)
    types = of(events, safe.run_id)
    assert types.count("run.started") == 1 and types.count("run.resumed") == 1
    [resumed] = [e for e in events if e.run_id == safe.run_id and e.type == "run.resumed"]
    assert resumed.payload == {"next_step": "s2", "completed_steps": ["s1"], "rerun": True}
    [restarted] = [e for e in events if e.type == "session.resumed"]
    assert restarted.payload["intent"] == "ship it" and restarted.payload["runs"] == [safe.run_id]
    executed = [line.split()[0] for line in side.read_text().splitlines()]
    assert executed.count("safe/s1") == 1, "a committed step is never run again"
    assert executed.count("safe/s2") == 2 and executed.count("once/s2") == 1


async def test_resume_false_ends_every_interrupted_run_and_session(tmp_path: Path, any_db: str) -> None:
    db, side = any_db, tmp_path / "side"
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False, on_shutdown="suspend") as rt:
        run = await (await rt.start_session("a")).start_run(slow("r", "task_safe", side))
        await executions(side, 2)
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False, resume=False) as rt:
        assert rt.recovery.ended == {run.run_id: "interrupted"} and rt.recovery.resumed == []
        result = await (await rt.run(run.run_id)).result()
    assert result.state is RunState.FAILED and (result.error or "").startswith("interrupted")
    [failed] = [e for e in await logged(db) if e.type == "run.failed"]
    assert failed.payload["kind"] == "interrupted"


async def test_recovery_leaves_the_sessions_an_outside_agent_records(any_db: str) -> None:
    """A Claude Code hook or a wrapped client records its session straight into the store (its
    start's envelope says ``source`` hook or wrap — or, in a log from before the envelope had
    it, its payload does); that agent is alive, and a runtime opening the store must not end
    its session as interrupted — only sessions the runtime itself (or a test's) ran."""
    db = any_db
    async with open_event_log(db) as log:
        for session_id, source in [
            ("outside", "hook"),
            ("wrapped", "wrap"),
            ("ours", None),
            ("tested", "test"),
        ]:
            payload: dict[str, Any] = {"intent": None, "metadata": {}}
            await log.append("session.started", payload, session_id=session_id, agent_id="a", source=source)
        old = {"intent": None, "metadata": {}, "source": "hook"}  # as hooks recorded it before
        await log.append("session.started", old, session_id="older-hook", agent_id="a")
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False) as rt:
        assert sorted(rt.recovery.sessions_stopped) == ["ours", "tested"]
    stopped = [e.session_id for e in await logged(db) if e.type == "session.stopped"]
    assert sorted(stopped) == ["ours", "tested"]


async def test_a_run_whose_tool_is_no_longer_registered_ends_resume_unavailable(
    tmp_path: Path, any_db: str
) -> None:
    db, side = any_db, tmp_path / "side"
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False, on_shutdown="suspend") as rt:
        run = await (await rt.start_session("a")).start_run(slow("r", "task_safe", side))
        await executions(side, 2)
    async with Runtime.open(db=db, tools=[ct.task_safe], vitals=False) as rt:  # no "quick" any more
        assert rt.recovery.ended == {run.run_id: "resume_unavailable"}
        result = await (await rt.run(run.run_id)).result()
    assert "resume_unavailable" in (result.error or "") and "'s3'" in (result.error or "")
    assert "'quick'" in (result.error or "")


async def test_rt_run_gives_a_handle_to_live_finished_and_unknown_runs(any_db: str) -> None:
    async with Runtime.open(db=any_db, vitals=False) as rt:
        session = await rt.start_session("a")
        done = await session.start_run([Step("s1", "echo", {"value": 1})])
        await done.result()
        live = await session.start_run([Step("s1", "sleep", {"seconds": 60})])
        handle = await rt.run(live.run_id)
        assert handle.pid == live.pid and handle.session is not None
        assert isinstance(await handle.status(), RunSnapshot)
        cancelled = await handle.cancel()
        assert cancelled.state is RunState.CANCELLED
        finished = await rt.run(done.run_id)
        assert finished.pid is None
        assert (await finished.result()).outputs == {"s1": 1}
        assert (await finished.cancel()).state is RunState.COMPLETED  # idempotent: it had ended
        assert isinstance(await finished.status(), RunResult)
        with pytest.raises(UnknownRun, match="run-nope"):
            await rt.run("run-nope")


async def test_a_resumed_run_is_cancelled_through_the_control_api_and_soma_cancel(
    tmp_path: Path, any_db: str
) -> None:
    db, side, sock = any_db, tmp_path / "side", tmp_path / "soma.sock"
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False, on_shutdown="suspend") as rt:
        session = await rt.start_session("a")
        by_api = await session.start_run([Step("s1", "sleep", {"seconds": 60})])
        by_cli = await session.start_run([Step("s1", "process_wait", ct.args("cli", "s1", str(side), 60))])
        await executions(side, 1)
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False, control=sock) as rt:
        assert sorted(rt.recovery.resumed) == sorted([by_api.run_id, by_cli.run_id])
        async with ControlClient.connect(sock) as client:
            view = await client.cancel_run(by_api.run_id)
        assert view["state"] == "cancelled"
        rerun = (await executions(side, 2))[1]  # the resumed step's worker process
        cli = await anyio.run_process(
            [sys.executable, "-m", "soma_actor.cli", "cancel", by_cli.run_id, "--control", str(sock)],
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.decode() == f"{by_cli.run_id} cancelled\n"
        await all_gone(pids_in([rerun]))
    events = await logged(db)
    for run in (by_api, by_cli):
        types = of(events, run.run_id)
        assert types[-1] == "run.cancelled" and types.count("run.started") == 1 and "run.resumed" in types


async def test_a_run_killed_without_its_end_is_ended_once_by_its_session(any_db: str) -> None:
    async with Runtime.open(db=any_db, vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "sleep", {"seconds": 60})])
        assert run.pid is not None
        run.pid.kill()  # no terminate: the run records nothing itself
        result = await run.result()
        assert result.state is RunState.FAILED
        with anyio.fail_after(5):
            async for event in rt.events.subscribe(run_id=run.run_id, type=list(TERMINAL_EVENTS)):
                assert event.type == "run.failed" and event.payload["kind"] == "crashed"
                break
        await session.stop()
        ends = await rt.events.query(run_id=run.run_id, type=list(TERMINAL_EVENTS))
    assert len(ends) == 1


def test_os_process_gone_reads_proc(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert not os_process_gone(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert os_process_gone(sleeper.pid)


async def test_a_run_stopped_while_its_end_is_being_written_ends_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop lands while the run waits for its terminal event's commit: the run cannot
    know whether it got in, so it waits for the store, looks, and writes it only if not."""
    held, release = anyio.Event(), anyio.Event()
    insert = SqliteLog.insert_events

    async def slow_disk(
        self: SqliteLog, events: list[PreparedEvent], first_seq: int, rows: str | None = None
    ) -> int:
        if any(e.type == "run.completed" for e in events) and not release.is_set():
            held.set()
            await release.wait()
        return await insert(self, events, first_seq, rows)

    monkeypatch.setattr(SqliteLog, "insert_events", slow_disk)
    monkeypatch.setattr(SqliteLog, "sends_ahead", False)  # every batch through the slow disk
    db = tmp_path / "soma.db"
    async with anyio.create_task_group() as tg:
        opened = anyio.Event()
        box: dict[str, Any] = {}

        async def runtime() -> None:
            async with Runtime.open(db=db, vitals=False) as rt:
                session = await rt.start_session("a")
                box["run"] = await session.start_run([Step("s1", "echo", {"value": 1})])
                opened.set()
                await held.wait()  # its end is being written: stop the runtime now
            box["closed"] = True

        tg.start_soon(runtime)
        await opened.wait()
        await held.wait()
        run = box["run"]
        with anyio.fail_after(10):
            while not run.pid.process.stopping:  # noqa: ASYNC110 - the kernel's stop has no event
                await anyio.sleep(0.005)
        release.set()
    assert box["closed"]
    ends = [e for e in await logged(db) if e.run_id == run.run_id and e.type in TERMINAL_EVENTS]
    assert [e.type for e in ends] == ["run.completed"]
