"""Giving a runtime work over its control socket: ``start_run`` (steps as JSON, in the session
kept for an agent or in a live session), ``run_result``, and ``follow`` narrowed to one run."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path

import anyio
import pytest

from soma_runtime import FromStep, RunState, Runtime, Step
from soma_runtime.control import ControlClient, ControlError

pytestmark = pytest.mark.anyio


async def test_start_run_runs_steps_given_as_json_and_reuses_the_agents_session(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "s.db", control=sock) as rt, ControlClient.connect(sock) as client:
        steps = [Step("s1", "echo", {"value": "hi"}), Step("s2", "echo", {"value": FromStep("s1")})]
        done = await client.start_run(steps, agent_id="ops", wait=True)
        assert done["state"] == "completed" and done["outputs"] == {"s1": "hi", "s2": "hi"}

        as_json = [{"id": "a", "tool": "echo", "args": {"value": 2}}]
        started = await client.start_run(as_json, agent_id="ops")
        assert started.keys() == {"run_id", "session_id", "agent_id"}
        assert started["agent_id"] == "ops" and started["session_id"] == done["session_id"]
        result = await client.run_result(started["run_id"])
        assert (result["state"], result["outputs"]) == ("completed", {"a": 2})
        # Finished and gone: the store answers.
        assert (await client.run_result(done["run_id"]))["outputs"] == {"s1": "hi", "s2": "hi"}

        [session] = [s for s in await client.sessions() if s["agent_id"] == "ops"]
        assert session["finished_runs"] == 2, "one session for the agent's runs"
        recorded = await rt.events.query(run_id=started["run_id"], type="run.completed")
        assert len(recorded) == 1 and recorded[0].agent_id == "ops"


async def test_start_run_in_a_live_session_and_cancel_it_from_another_connection(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=sock) as rt:
        session = await rt.start_session("research")
        async with ControlClient.connect(sock) as client, ControlClient.connect(sock) as other:
            started = await client.start_run(
                [Step("s1", "sleep", {"seconds": 60})], session_id=session.session_id, timeout=120
            )
            assert (started["session_id"], started["agent_id"]) == (session.session_id, "research")
            results: list[dict[str, object]] = []

            async def wait() -> None:
                results.append(dict(await client.run_result(started["run_id"])))

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)  # a waiter on the live run, while another client cancels it
                async with aclosing(other.follow(run_id=started["run_id"], types=["tool.started"])) as events:
                    first = await anext(events)
                assert first.run_id == started["run_id"]
                await other.cancel_run(started["run_id"])
            assert results[0]["state"] == "cancelled"
            status = await session.status()
            assert [r.state for r in status.runs] == [RunState.CANCELLED]


async def test_follow_narrowed_to_a_run_sees_only_that_run(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=sock) as rt:
        session = await rt.start_session("a")
        first = await session.start_run([Step("s1", "echo", {"value": 1})])
        second = await session.start_run([Step("s1", "echo", {"value": 2})])
        await first.result()
        await second.result()
        async with ControlClient.connect(sock) as client:
            seen = []
            async for event in client.follow(from_seq=1, run_id=second.run_id):
                seen.append(event)
                if event.type == "run.completed":
                    break
        assert {e.run_id for e in seen} == {second.run_id}
        assert [e.type for e in seen] == [e.type for e in await rt.events.query(run_id=second.run_id)]


async def test_bad_runs_and_bad_parameters_are_refused_with_what_was_wrong(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=sock) as rt:
        async with ControlClient.connect(sock) as client:
            echo = [{"id": "s1", "tool": "echo"}]
            cases = [
                ({"steps": [], "agent_id": "a"}, "bad_request", "'steps' as a non-empty list"),
                ({"steps": [{"id": "s1", "tool": "nope"}], "agent_id": "a"}, "bad_request", "nope"),
                ({"steps": [{"id": "s1", "tool": "echo", "x": 1}], "agent_id": "a"}, "bad_request", "'x'"),
                ({"steps": echo}, "bad_request", "'agent_id'"),
                (
                    {"steps": [{"id": "s1", "tool": "echo", "args": {"value": 1}}], "session_id": "sess-x"},
                    "not_found",
                    "no live session 'sess-x'",
                ),
                ({"steps": echo, "agent_id": "a", "timeout": -1}, "bad_request", "timeout"),
                ({"steps": echo, "agent_id": "a", "wait": "yes"}, "bad_request", "wait"),
            ]
            for params, code, message in cases:
                with pytest.raises(ControlError) as err:
                    await client.request("start_run", **params)
                assert err.value.code == code, params
                assert message in err.value.message, (params, err.value.message)
            with pytest.raises(ControlError) as err:
                await client.run_result("run-nope")
            assert (err.value.code, err.value.message) == ("not_found", "no run 'run-nope' in this runtime")
            with pytest.raises(ControlError) as err:
                await client.request("follow", run_id=5)
            assert err.value.code == "bad_request"
            hello = await client.hello()
            assert {"start_run", "run_result", "send_task"} <= set(hello["ops"])
        assert not await rt.events.query(type="run.accepted"), "nothing refused was started"
