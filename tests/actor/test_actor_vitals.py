"""Vitals in the agent loop: guidance reaches the next model call (and its ``llm.started``
event), model usage feeds the vitals, and delegation links actors in the trust graph."""

from __future__ import annotations

import pytest

from soma_actor import Policy, ScriptedModel, start_actor
from soma_actor.model import ModelRequest, ModelResponse
from soma_actor.providers import message_actor, reply, responding, use_tools
from soma_runtime import Runtime
from soma_runtime.execution.steering import Guidance

pytestmark = pytest.mark.anyio


async def test_guidance_sent_to_the_agent_is_injected_into_its_next_model_call() -> None:
    async with Runtime.open(vitals=False) as rt:
        model = ScriptedModel([reply("heard you")])
        actor = await start_actor(rt, "a", model, system="Be brief.")
        # The actor's session is a runtime session like any other; this is what the vitals
        # monitor sends a session when a pattern fires for its agent.
        [pid] = [info.pid for root in rt.tree() for info in root.walk() if info.module == "AgentSession"]
        pid.send_nowait(Guidance("a", "g-1", "error_cascade", "Stop and find the root cause.", 0.4, "guide"))
        assert await actor.ask("continue") == "heard you"
        [request] = model.requests
        assert request.guidance == ("Stop and find the root cause.",)
        assert "Stop and find the root cause." in request.system_prompt()
        assert request.system_prompt().startswith("Be brief.")
        [started] = await rt.events.query(agent_id="a", type="llm.started")
        assert started.payload["guidance"] == [
            {"pattern": "error_cascade", "message": "Stop and find the root cause.", "mode": "guide"}
        ]
        assert (await rt.events.query(agent_id="a", type="llm.started"))[0].task_id is not None


async def test_a_real_error_cascade_reaches_the_model_as_guidance() -> None:
    async with Runtime.open() as rt:

        def settle_then(then: ModelResponse):  # type: ignore[no-untyped-def]
            async def turn(_request: ModelRequest) -> ModelResponse:
                await rt.vitals.caught_up()  # the monitor has judged every failure so far
                return then

            return turn

        model = ScriptedModel(
            [
                use_tools(("fail", {"message": "first"})),
                use_tools(("file_read", {"path": "missing.txt"})),
                use_tools(("fail", {"message": "third"})),
                settle_then(use_tools(("echo", {"value": "look around"}))),
                reply("changed approach"),
            ]
        )
        actor = await start_actor(rt, "a", model, Policy.allow_all())
        assert await actor.ask("keep trying") == "changed approach"
        fired = await rt.events.query(agent_id="a", type="guidance.fired")
        assert any(e.payload.get("pattern") == "error_cascade" for e in fired)
        # The monitor judges asynchronously: the guidance reaches the first model call after
        # it fired (the fourth or, at the latest, the fifth — the fourth waits for the monitor).
        guided = [i for i, r in enumerate(model.requests) if any("root cause" in g for g in r.guidance)]
        assert guided and guided[0] in (3, 4), [r.guidance for r in model.requests]
        started = await rt.events.query(agent_id="a", type="llm.started")
        assert any(e.payload["guidance"] for e in started)


async def test_model_usage_and_cost_feed_the_vitals() -> None:
    async with Runtime.open() as rt:
        model = ScriptedModel([reply("x" * 4000)], name="claude-sonnet-4-5", price_per_mtok=(3.0, 15.0))
        actor = await start_actor(rt, "a", model)
        await actor.ask("write a lot")
        await rt.vitals.caught_up()
        [succeeded] = await rt.events.query(agent_id="a", type="llm.succeeded")
        assert succeeded.payload["usage"]["output_tokens"] == 1000 and succeeded.payload["cost_usd"] > 0
        vitals = (await rt.vitals.snapshot())["a"]
        assert vitals.signals["token_usage"].value > 1000 and vitals.signals["cost"].value > 0


async def test_delegation_adds_a_trust_edge_so_a_struggling_delegate_raises_its_delegator() -> None:
    async with Runtime.open() as rt:
        failing = [use_tools(("fail", {"message": f"attempt {i}"})) for i in range(8)]
        await start_actor(rt, "worker", ScriptedModel([*failing, reply("gave up")]), Policy.allow_all())
        boss_model = ScriptedModel([message_actor("worker", "do the thing"), reply("worker gave up")])
        boss = await start_actor(rt, "boss", boss_model, Policy([], ["worker"]), delegation_trust=1.0)
        assert await boss.ask("delegate it") == "worker gave up"
        [edge] = await rt.events.query(type="vitals.trust")
        assert edge.payload == {"src": "worker", "dst": "boss", "trust": 1.0}
        await rt.vitals.caught_up()
        snapshot = await rt.vitals.snapshot()
        worker, boss_vitals = snapshot["worker"], snapshot["boss"]
        assert worker.pressure > boss_vitals.pressure
        assert boss_vitals.effective_pressure > boss_vitals.pressure  # the delegate's share


async def test_the_model_sees_only_the_tools_its_policy_allows() -> None:
    async with Runtime.open(vitals=False) as rt:
        seen: list[tuple[str, ...]] = []

        def capture(request: ModelRequest) -> ModelResponse:
            seen.append(tuple(t.name for t in request.tools))
            return reply("ok")

        actor = await start_actor(rt, "solo", ScriptedModel([responding(capture)]), Policy(["file_read"]))
        await actor.ask("which tools?")
        assert seen == [("file_read", "reject_task")]
        lead = await start_actor(
            rt, "lead2", ScriptedModel([responding(capture)]), Policy(["echo"], ["solo"])
        )
        await lead.ask("and you?")
        assert seen[-1] == ("echo", "message_actor", "reject_task")
