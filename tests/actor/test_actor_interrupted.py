"""Actor tasks a killed runtime cut get exactly one end — ``actor.task.failed``, reason
``interrupted`` — at the next open, and their runs end rather than resume (a task's
conversation with its model is not journalled, so nobody would hear their results)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import pytest

from soma_actor import ScriptedModel, TaskState, start_actor
from soma_runtime import RunState, Runtime
from soma_runtime.execution import resume as resume_module

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("_actor_crash_child.py")


async def killed_with_tasks(db: Path) -> list[str]:
    """Kill a runtime whose actor has a task running a run and another queued; their ids."""
    async with await anyio.open_process([sys.executable, str(CHILD), str(db)]) as child:
        assert child.stdout is not None
        text = b""
        with anyio.fail_after(30):
            while text.count(b"\n") < 2:
                text += await child.stdout.receive()
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    return [line.split()[1] for line in text.decode().splitlines()]


async def test_tasks_cut_by_a_kill_end_once_interrupted_and_their_runs_with_them(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    tasks = await killed_with_tasks(db)

    async with Runtime.open(db=db, vitals=False) as rt:
        assert sorted(rt.recovery.tasks_ended) == sorted(tasks)
        [run_id] = rt.recovery.ended
        assert rt.recovery.ended[run_id] == "interrupted" and rt.recovery.resumed == []
        result = await (await rt.run(run_id)).result()
        assert "actor task" in (result.error or "")
        # The actor starting again finds nothing left to end: exactly one end per task.
        again = await start_actor(rt, "worker", ScriptedModel())
        await again.stop()
        events = await rt.events.query(agent_id="worker")
    ending = {f"actor.task.{state.value}" for state in TaskState if state.terminal}
    for task_id in tasks:
        ends = [e for e in events if e.task_id == task_id and e.type in ending]
        assert [(e.type, e.payload["reason"]) for e in ends] == [("actor.task.failed", "interrupted")]
    [restarted] = [e for e in events if e.type == "actor.started" and e.seq > ends[0].seq]
    assert restarted.payload["lost_tasks"] == 0


async def test_a_runtime_opened_before_the_actor_layer_ends_the_tasks_when_its_first_actor_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "soma.db"
    tasks = await killed_with_tasks(db)
    # As in a program that opens its runtime before it imports the actor module: no hook.
    monkeypatch.delitem(resume_module._HOOKS, "soma_actor.tasks")
    async with Runtime.open(db=db, vitals=False) as rt:
        assert rt.recovery.tasks_ended == []
        [run_id] = rt.recovery.resumed  # nobody at open knew its task was gone
        await start_actor(rt, "scout", ScriptedModel())  # the first actor of this runtime
        result = await (await rt.run(run_id)).result()
        assert result.state is RunState.CANCELLED
        events = await rt.events.query(agent_id="worker")
    ending = {f"actor.task.{state.value}" for state in TaskState if state.terminal}
    for task_id in tasks:
        ends = [e for e in events if e.task_id == task_id and e.type in ending]
        assert [(e.type, e.payload["reason"]) for e in ends] == [("actor.task.failed", "interrupted")]
