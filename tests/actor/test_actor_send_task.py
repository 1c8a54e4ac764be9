"""``send_task`` on the control socket: a message to an actor from another process, answered
with the task's ids at once or, with ``wait``, with how the task ended."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma_actor import Policy, ScriptedModel, TaskState, start_actor
from soma_actor.providers import reply, use_tools
from soma_runtime import Runtime
from soma_runtime.control import ControlClient, ControlError

pytestmark = pytest.mark.anyio


async def test_send_task_starts_a_task_and_waits_for_its_reply_on_request(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=sock) as rt:
        async with ControlClient.connect(sock) as client:
            with pytest.raises(ControlError) as err:
                await client.send_task("helper", "hi")
            assert err.value.code == "not_found" and "no actor layer" in err.value.message

        model = ScriptedModel([use_tools(("echo", {"value": "x"})), reply("did x"), reply("second")])
        helper = await start_actor(rt, "helper", model, Policy(["echo"]))
        async with ControlClient.connect(sock) as client:
            done = await client.send_task("helper", "do x", wait=True)
            assert (done["state"], done["reply"]) == ("completed", "did x")
            assert len(done["runs"]) == 1, "the echo ran as a run of the actor's session"

            started = await client.send_task("helper", "again")
            assert started.keys() == {"task_id", "correlation_id", "actor_id"}
            result = await helper.task_result(started["task_id"])
            assert (result.state, result.reply) == (TaskState.COMPLETED, "second")
            assert result.correlation_id == started["correlation_id"]
            chain = started["correlation_id"]
            received = await rt.events.query(correlation_id=chain, type="actor.task.received")
            assert [e.payload["message"] for e in received] == ["again"]

            with pytest.raises(ControlError) as err:
                await client.send_task("nobody", "hi")
            assert err.value.code == "not_found"
            assert err.value.message == "no actor 'nobody' in this runtime (actors: helper)"
            for params in ({"actor_id": "helper"}, {"actor_id": "helper", "message": " "}, {"message": "x"}):
                with pytest.raises(ControlError) as err:
                    await client.request("send_task", **params)
                assert err.value.code == "bad_request", params
