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
from soma_runtime import Runtime

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("_actor_crash_child.py")


async def test_tasks_cut_by_a_kill_end_once_interrupted_and_their_runs_with_them(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with await anyio.open_process([sys.executable, str(CHILD), str(db)]) as child:
        assert child.stdout is not None
        text = b""
        with anyio.fail_after(30):
            while text.count(b"\n") < 2:
                text += await child.stdout.receive()
        tasks = [line.split()[1] for line in text.decode().splitlines()]
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()

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
