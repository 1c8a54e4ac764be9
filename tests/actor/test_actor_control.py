"""The actor layer on the control socket: ``actors`` lists actors and their tasks,
``cancel_task`` cancels one from another process's point of view."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from soma_actor import ScriptedModel, TaskState, start_actor
from soma_actor.providers import after, reply
from soma_runtime import Runtime
from soma_runtime.control import ControlClient, ControlError
from soma_runtime.kernel import current_node

pytestmark = pytest.mark.anyio


async def test_actors_and_cancel_task_over_the_control_socket(tmp_path: Path) -> None:
    sock = str(tmp_path / "soma.sock")
    async with Runtime.open(db=tmp_path / "soma.db", control=sock, vitals=False) as rt:
        async with ControlClient.connect(sock) as client:
            assert await client.actors() == []  # no actor layer yet
            with pytest.raises(ControlError) as missing:
                await client.cancel_task("task-x")
            assert missing.value.code == "not_found"
        busy = await start_actor(rt, "busy", ScriptedModel([after(anyio.Event(), reply("never"))]))
        await start_actor(rt, "idle", ScriptedModel())
        task_id = await busy.send("think forever")
        assert (await busy.task_status(task_id)).state is TaskState.THINKING
        [model_call] = [p for p in current_node().processes() if p.parent == busy.pid and p.alive]
        async with ControlClient.connect(sock) as client:
            listed = {a["actor_id"]: a for a in await client.actors()}
            assert set(listed) == {"busy", "idle"}
            assert listed["busy"]["state"] == "thinking" and listed["busy"]["current_task"] == task_id
            assert listed["busy"]["tasks"][0]["task_id"] == task_id
            assert listed["idle"]["state"] == "idle" and listed["idle"]["tasks"] == []
            cancelled = await client.cancel_task(task_id)
            assert cancelled["state"] == "cancelled" and cancelled["task_id"] == task_id
            # Answered once the model call in flight is gone: its process and its task.
            assert not model_call.alive and model_call.task is not None and model_call.task.done()
            with pytest.raises(ControlError) as unknown:
                await client.cancel_task("task-nope")
            assert unknown.value.code == "not_found" and "task-nope" in str(unknown.value)
            with pytest.raises(ControlError) as bad:
                await client.request("cancel_task", task_id=7)
            assert bad.value.code == "bad_request"
            assert (await client.hello())["actor_layer"] is True
        assert (await busy.task_result(task_id)).state is TaskState.CANCELLED
