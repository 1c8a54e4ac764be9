"""The VitalsMonitor in a live runtime: a retry storm walks an agent through GUIDE and WARN
into BLOCK (destructive tools refused) and back; guidance reaches the agent's session; the
stored log replays to the recorded trajectory bit for bit; a monitor killed mid-stream
resumes without counting anything twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma_runtime import CommandTool, Runtime, Step
from soma_runtime.kernel import Pid
from soma_runtime.vitals import Mode, first_divergence

pytestmark = pytest.mark.anyio

build = CommandTool("build", ["false"], effect="state")  # a build that keeps failing
check = CommandTool("check", ["true"], effect="read")


async def caught_up(rt: Runtime) -> None:
    await rt.vitals.caught_up(timeout=10.0)


async def mode_of(rt: Runtime, agent: str) -> Mode:
    await caught_up(rt)
    return (await rt.vitals.snapshot())[agent].mode


async def test_a_killed_monitor_restarts_and_resumes_without_double_counting(tmp_path: Path) -> None:
    async with Runtime.open(db=str(tmp_path / "soma.db"), tools=[build, check]) as rt:
        session = await rt.start_session("coder", intent="fix the failing build")
        for i in range(12):
            run = await session.start_run([Step("b", "build" if i % 3 else "check")])
            await run.result()
            if i == 5:
                await caught_up(rt)
                monitor = rt.node.whereis("soma.vitals")
                assert isinstance(monitor, Pid)
                monitor.kill()
                assert await monitor.wait() is not None
        await caught_up(rt)
        new_monitor = rt.node.whereis("soma.vitals")
        assert new_monitor is not None and new_monitor is not monitor
        log = await rt.events.query()
        actions = [e for e in log if e.type in ("tool.succeeded", "tool.failed")]
        updates = [e for e in log if e.type == "vitals.updated"]
        assert len(actions) == 12
        assert [u.payload["cause_seq"] for u in updates] == [a.seq for a in actions], "one update per action"
        assert first_divergence(log) is None
        # The restarted monitor still steers the session (it asked the sessions again).
        assert session.pid in new_monitor.process.behaviour.steered["coder"]


async def test_trust_edges_are_recorded_so_a_restart_and_replay_keep_them(tmp_path: Path) -> None:
    async with Runtime.open(db=str(tmp_path / "soma.db"), tools=[build, check]) as rt:
        lead = await rt.start_session("lead", intent="ship the release")
        worker = await rt.start_session("worker", intent="fix the failing build")
        await rt.vitals.add_trust_edge("worker", "lead", 0.8)
        with pytest.raises(ValueError):
            await rt.vitals.add_trust_edge("worker", "lead", 1.5)
        await (await lead.start_run([Step("c", "check")])).result()
        for _ in range(6):
            await (await worker.start_run([Step("b", "build")])).result()
        await rt.vitals.caught_up()
        snap = await rt.vitals.snapshot()
        assert snap["lead"].effective_pressure > snap["lead"].pressure  # it picks up a share
        monitor = rt.node.whereis("soma.vitals")
        assert monitor is not None
        monitor.kill()
        await monitor.wait()
        await (await worker.start_run([Step("b", "build")])).result()
        await rt.vitals.caught_up()
        assert (await rt.vitals.snapshot())["lead"].effective_pressure > 0
        log = await rt.events.query()
        assert [e.type for e in log].count("vitals.trust") == 1
        assert first_divergence(log) is None  # the graph came back through the log
