"""Policy as the actor enforces it, watched on what actually ran: a default actor runs no tool
(no tool process, no run in the store), a message to an actor the policy does not name never
reaches it, and a delegation that would come back round its own chain is refused before the
second actor hears of it (which would otherwise deadlock both: each waits for the other)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from _actor_tools import TOOL_PROCESSES, where

from soma_actor import Actor, Policy, ScriptedModel, TaskFailed, TaskState, start_actor
from soma_actor.providers import after, message_actor, reject, reply, use_tools
from soma_runtime import Runtime
from soma_runtime.kernel import current_node
from soma_runtime.store.events import Event

pytestmark = pytest.mark.anyio


@pytest.fixture
async def rt() -> AsyncIterator[Runtime]:
    async with Runtime.open(tools=[where], vitals=False) as runtime:
        yield runtime


async def test_an_actor_started_without_a_policy_runs_no_tool(rt: Runtime) -> None:
    TOOL_PROCESSES.clear()
    model = ScriptedModel([use_tools(("where", {})), use_tools(("echo", {"value": 1})), reply("no")])
    actor = await start_actor(rt, "plain", model)  # no policy given: deny by default
    with pytest.raises(TaskFailed) as refused:
        await actor.ask("run where")
    assert refused.value.result.state is TaskState.FAILED
    assert refused.value.result.error == "policy: actor 'plain' may not use tool(s) 'where'"
    assert TOOL_PROCESSES == [], "the tool ran in a process although no policy allowed it"
    assert await rt.events.query(agent_id="plain", type=["run.*", "tool.*", "step.*"]) == []
    # What the model was offered: only the way to decline — no tool, no delegation.
    assert [t.name for t in model.requests[0].tools] == ["reject_task"]
    [started] = await rt.events.query(agent_id="plain", type="actor.started")
    assert started.payload["policy"] == {
        "allowed_tools": [],
        "allowed_actors": [],
        "max_steps_per_proposal": None,
    }


async def test_a_message_to_an_actor_the_policy_does_not_name_never_reaches_it(rt: Runtime) -> None:
    other_model = ScriptedModel([reply("I should never be asked")])
    await start_actor(rt, "other", other_model, Policy.allow_all())
    await start_actor(rt, "helper", ScriptedModel([reply("helping")]))
    lead = await start_actor(
        rt, "lead", ScriptedModel([message_actor("other", "do my work")]), Policy([], ["helper"])
    )
    with pytest.raises(TaskFailed) as refused:
        await lead.ask("delegate")
    assert refused.value.result.error == "policy: actor 'lead' may not message actor 'other'"
    assert other_model.requests == [], "the disallowed actor's model was called"
    assert await rt.events.query(agent_id="other", type="actor.task.*") == []
    assert await rt.events.query(agent_id="lead", type="actor.message.sent") == []
    [rejected] = await rt.events.query(agent_id="lead", type="proposal.rejected")
    assert rejected.payload["stage"] == "policy"


async def _first(rt: Runtime, agent_id: str, types: tuple[str, ...]) -> Event:
    """The first event of ``agent_id`` among ``types``, as it is recorded."""
    async for event in rt.events.subscribe(0, agent_id=agent_id, type=types):
        return event
    raise AssertionError("the log ended")


async def test_a_delegation_back_into_its_own_chain_is_refused(rt: Runtime) -> None:
    """a → b → a: b's proposal to message a is refused as a cycle. Without the check b would
    send a task to a, which is busy waiting for b: both would wait for ever."""
    a_model = ScriptedModel([message_actor("b", "ask a back"), reply("b could not help")])
    b_model = ScriptedModel([message_actor("a", "back to you")])
    a = await start_actor(rt, "a", a_model, Policy([], ["b"]))
    await start_actor(rt, "b", b_model, Policy([], ["a"]))
    task_id = await a.send("start the chain")
    # Whatever b decided is recorded before anything else happens: refused, or sent on.
    decided = await _first(rt, "b", ("proposal.rejected", "actor.message.sent"))
    assert decided.type == "proposal.rejected", f"b delegated back to a: {decided.payload}"
    assert decided.payload["stage"] == "policy"
    assert decided.payload["reason"] == "delegation cycle: a → b → a"
    result = await a.task_result(task_id)
    assert result.state is TaskState.COMPLETED and result.reply == "b could not help"
    heard = a_model.requests[1].messages[-1]
    assert heard.is_error and "delegation cycle" in heard.content
    received = await rt.events.query(agent_id="a", type="actor.task.received")
    assert [e.task_id for e in received] == [task_id], "a was handed a task from its own chain"


async def test_a_longer_cycle_is_refused_where_it_closes(rt: Runtime) -> None:
    """a → b → c → a: refused at c, the actor whose message would close the loop."""
    await start_actor(rt, "a", ScriptedModel([message_actor("b", "1"), reply("done")]), Policy([], ["*"]))
    await start_actor(rt, "b", ScriptedModel([message_actor("c", "2"), reply("c failed")]), Policy([], ["*"]))
    await start_actor(rt, "c", ScriptedModel([message_actor("a", "3")]), Policy([], ["*"]))
    task_id = await Actor("a", rt).send("go round")
    decided = await _first(rt, "c", ("proposal.rejected", "actor.message.sent"))
    assert decided.type == "proposal.rejected"
    assert decided.payload["reason"] == "delegation cycle: a → b → c → a"
    assert (await Actor("a", rt).task_result(task_id)).reply == "done"
    assert len(await rt.events.query(agent_id="a", type="actor.task.received")) == 1


async def test_a_message_to_no_running_actor_or_to_itself_goes_back_to_the_model(rt: Runtime) -> None:
    proposals = [message_actor("ghost", "hello?"), message_actor("me", "talk to myself"), reply("gave up")]
    model = ScriptedModel(proposals)
    me = await start_actor(rt, "me", model, Policy([], ["*"]))
    assert await me.ask("delegate") == "gave up"
    ghost, itself = model.requests[1].messages[-1], model.requests[2].messages[-1]
    assert (ghost.is_error, ghost.content) == (True, "invalid: no actor 'ghost' is running")
    assert ghost.tool_use_id == proposals[0].tool_uses[0].id
    assert (itself.is_error, itself.content) == (True, "invalid: an actor cannot delegate to itself")
    assert len(await rt.events.query(agent_id="me", type="actor.task.received")) == 1


async def test_a_delegate_that_dies_does_not_leave_its_delegator_waiting(rt: Runtime) -> None:
    """The delegator monitors its delegate: killed mid-task (no answer will ever come), the
    delegator's model hears that it exited, and the task goes on."""
    helper_model = ScriptedModel([after(anyio.Event(), reply("never")), reply("restarted")])
    helper = await start_actor(rt, "helper", helper_model)
    delegation = message_actor("helper", "work on this")
    lead_model = ScriptedModel([delegation, reply("helper died")])
    lead = await start_actor(rt, "lead", lead_model, Policy([], ["helper"]))
    task_id = await lead.send("delegate")
    await _first(rt, "helper", ("llm.started",))  # the helper is working on it
    first = helper.pid
    first.kill()
    result = await lead.task_result(task_id)
    assert result.state is TaskState.COMPLETED and result.reply == "helper died"
    heard = lead_model.requests[1].messages[-1]
    assert heard.is_error and heard.content == "actor 'helper' exited: killed"
    assert heard.tool_use_id == delegation.tool_uses[0].id
    assert not first.is_alive()


async def test_a_delegation_is_recorded_under_the_delegators_task_and_answers_its_tool_call(
    rt: Runtime,
) -> None:
    """The message is an event of the delegator's task, naming the child task the delegate
    records; the answer (an empty reply too) goes back under the delegation's tool call id;
    the vitals trust edge delegate → delegator is recorded once, however many delegations."""
    helper = await start_actor(rt, "helper", ScriptedModel([reply(""), reply("second")]))
    first, second = message_actor("helper", "one"), message_actor("helper", "two")
    lead_model = ScriptedModel([first, second, reply("done")])
    lead = await start_actor(rt, "lead", lead_model, Policy([], ["helper"]), delegation_trust=0.5)
    result = await lead.task_result(await lead.send("delegate twice"))
    assert result.reply == "done"
    answers = [lead_model.requests[i].messages[-1] for i in (1, 2)]
    assert [(m.tool_use_id, m.content, m.is_error) for m in answers] == [
        (first.tool_uses[0].id, "", False),
        (second.tool_uses[0].id, "second", False),
    ]
    sent = await rt.events.query(agent_id="lead", type="actor.message.sent")
    assert [(e.task_id, e.correlation_id) for e in sent] == [(result.task_id, result.correlation_id)] * 2
    received = await rt.events.query(agent_id="helper", type="actor.task.received")
    assert [e.payload["child_task_id"] for e in sent] == [e.task_id for e in received]
    assert all(e.correlation_id == result.correlation_id for e in received)
    assert [(await helper.task_result(e.task_id or "")).reply for e in received] == ["", "second"]
    [trust] = await rt.events.query(type="vitals.trust")
    assert trust.payload == {"src": "helper", "dst": "lead", "trust": 0.5}


async def test_a_failed_delegation_answers_its_tool_call_as_an_error(rt: Runtime) -> None:
    await start_actor(rt, "helper", ScriptedModel([reject("not my job")]))
    delegation = message_actor("helper", "do it")
    lead_model = ScriptedModel([delegation, reply("helper declined")])
    lead = await start_actor(rt, "lead", lead_model, Policy([], ["helper"]))
    assert await lead.ask("delegate") == "helper declined"
    heard = lead_model.requests[1].messages[-1]
    assert (heard.tool_use_id, heard.content, heard.is_error) == (
        delegation.tool_uses[0].id,
        "rejected: not my job",
        True,
    )


async def test_cancelling_a_delegating_task_cancels_the_delegated_one(rt: Runtime) -> None:
    helper = await start_actor(rt, "helper", ScriptedModel([after(anyio.Event(), reply("never"))]))
    lead = await start_actor(rt, "lead", ScriptedModel([message_actor("helper", "think")]), Policy([], ["*"]))
    task_id = await lead.send("delegate")
    started = await _first(rt, "helper", ("llm.started",))
    [model_call] = [p for p in current_node().processes() if p.parent == helper.pid and p.alive]
    assert (await lead.cancel(task_id)).state is TaskState.CANCELLED
    child = await helper.task_result(started.task_id or "")
    assert child.state is TaskState.CANCELLED
    assert not model_call.alive and model_call.task is not None and model_call.task.done()
