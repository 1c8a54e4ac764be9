"""The actor proofs: an AgentActor is a long-lived process that owns tasks; everything that
goes wrong in a task ends the task with the reason as data, never the actor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from _actor_tools import GATE, TOOL_PROCESSES, crash, wait_gate, where
from _stubborn import quiesce, stubborn, stubborn_probe

from soma_actor import (
    ActorAlreadyRunning,
    Budget,
    Policy,
    ScriptedModel,
    TaskFailed,
    TaskState,
    start_actor,
)
from soma_actor.actor import actor_name
from soma_actor.providers import after, fail, reply, use_tools
from soma_actor.supervisor import ACTOR_SUPERVISOR
from soma_runtime import Runtime
from soma_runtime.kernel import current_node
from soma_runtime.kernel.introspection import tree

pytestmark = pytest.mark.anyio

TOOLS = [crash, wait_gate, where, stubborn]
ALL = Policy.allow_all()


@pytest.fixture
async def rt() -> AsyncIterator[Runtime]:
    async with Runtime.open(tools=TOOLS, vitals=False) as runtime:
        yield runtime


# 1
async def test_an_actor_starts_under_the_actor_supervisor_and_emits_actor_started(rt: Runtime) -> None:
    actor = await start_actor(rt, "scout", ScriptedModel(), Policy(["echo"]), Budget(max_model_calls=3))
    pid = actor.pid
    assert pid.is_alive() and current_node().whereis(actor_name("scout")) == pid
    sup = current_node().whereis(ACTOR_SUPERVISOR)
    assert sup is not None and pid.process.parent == sup
    assert any(info.pid == sup for root in tree(current_node()) for info in root.walk())
    [started] = await rt.events.query(agent_id="scout", type="actor.started")
    assert started.payload["policy"]["allowed_tools"] == ["echo"]
    assert started.payload["budget"]["max_model_calls"] == 3
    assert started.session_id is not None  # the actor's own runtime session
    with pytest.raises(ActorAlreadyRunning):
        await start_actor(rt, "scout", ScriptedModel())


# 2
async def test_a_message_creates_a_task_id_and_a_correlation_id(rt: Runtime) -> None:
    actor = await start_actor(rt, "a", ScriptedModel([reply("hi")]))
    task_id = await actor.send("greet me")
    status = await actor.task_status(task_id)
    assert task_id.startswith("task-") and status.correlation_id.startswith("corr-")
    [received] = await rt.events.query(agent_id="a", type="actor.task.received")
    assert (received.task_id, received.correlation_id) == (task_id, status.correlation_id)
    assert received.payload["message"] == "greet me"
    second = await actor.send("again")
    assert second != task_id and (await actor.task_status(second)).correlation_id != status.correlation_id


# 3
async def test_approved_steps_run_through_a_run_of_the_actors_session(rt: Runtime) -> None:
    TOOL_PROCESSES.clear()
    model = ScriptedModel([use_tools(("where", {}), ("echo", {"value": 7})), reply("ran")])
    actor = await start_actor(rt, "a", model, ALL)
    task_id = await actor.send("run two steps")
    result = await actor.task_result(task_id)
    [run_id] = result.runs
    run_events = await rt.events.query(run_id=run_id)
    assert [e.type for e in run_events if e.type.startswith("step.")] == [
        "step.started",
        "step.succeeded",
        "step.started",
        "step.succeeded",
    ]
    assert {e.task_id for e in run_events} == {task_id}
    # The tool ran in its own ToolCall process: not the actor's, and gone now.
    [tool_proc] = TOOL_PROCESSES
    assert tool_proc is not actor.pid.process and not tool_proc.alive  # type: ignore[attr-defined]


# 4
async def test_run_completion_produces_a_result_and_the_model_hears_the_outputs(rt: Runtime) -> None:
    model = ScriptedModel([use_tools(("echo", {"value": {"n": 1}})), reply("the answer is 1")])
    actor = await start_actor(rt, "a", model, Policy(["echo"]))
    result = await actor.task_result(await actor.send("compute"))
    assert result.state is TaskState.COMPLETED and result.reply == "the answer is 1"
    assert result.usage.model_calls == 2 and result.usage.steps == 1 and result.usage.tokens > 0
    tool_turn = model.requests[1].messages[-1]
    assert tool_turn.role == "tool" and tool_turn.content == '{"n": 1}' and not tool_turn.is_error
    [run_completed] = await rt.events.query(type="run.completed")
    assert run_completed.run_id == result.runs[0]


# 5
async def test_ask_returns_the_final_reply(rt: Runtime) -> None:
    actor = await start_actor(rt, "a", ScriptedModel([reply("forty-two")]))
    assert await actor.ask("what is the answer?") == "forty-two"


# 6
async def test_a_long_task_is_queryable_by_id_while_it_runs(rt: Runtime) -> None:
    gate = anyio.Event()
    actor = await start_actor(rt, "a", ScriptedModel([after(gate, reply("finally"))]))
    task_id = await actor.send("take your time")
    status = await actor.task_status(task_id)
    assert status.state is TaskState.THINKING and status.message == "take your time"
    gate.set()
    assert (await actor.task_result(task_id)).reply == "finally"
    assert (await actor.task_status(task_id)).state is TaskState.COMPLETED


# 7
async def test_every_event_of_a_task_is_queryable_by_its_correlation_id(rt: Runtime) -> None:
    actor = await start_actor(rt, "a", ScriptedModel([use_tools(("echo", {"value": 1})), reply("ok")]), ALL)
    task_id = await actor.send("go")
    result = await actor.task_result(task_id)
    chain = await rt.events.query(correlation_id=result.correlation_id)
    types = [e.type for e in chain]
    for expected in (
        "actor.task.received",
        "llm.started",
        "llm.succeeded",
        "proposal.approved",
        "run.started",
        "tool.succeeded",
        "run.completed",
        "actor.task.completed",
    ):
        assert expected in types
    assert {e.task_id for e in chain} == {task_id} and {e.agent_id for e in chain} == {"a"}


# 8
async def test_the_actor_survives_a_run_failure_and_the_model_hears_why(rt: Runtime) -> None:
    model = ScriptedModel([use_tools(("fail", {"message": "disk on fire"})), reply("could not do it")])
    actor = await start_actor(rt, "a", model, ALL)
    pid = actor.pid
    result = await actor.task_result(await actor.send("try"))
    assert result.reply == "could not do it"
    heard = model.requests[1].messages[-1]
    assert heard.is_error and "disk on fire" in heard.content
    [failed] = await rt.events.query(type="run.failed")
    assert failed.task_id == result.task_id
    assert actor.pid == pid and pid.is_alive()


# 9
async def test_the_actor_survives_a_tool_that_crashes_its_os_process(rt: Runtime) -> None:
    model = ScriptedModel([use_tools(("crash", {"code": 9})), reply("the tool died")])
    actor = await start_actor(rt, "a", model, ALL)
    pid = actor.pid
    assert await actor.ask("crash it") == "the tool died"
    assert "exit" in model.requests[1].messages[-1].content.lower()
    assert actor.pid == pid and pid.is_alive()


# 10
async def test_cancel_stops_the_active_run_and_its_tool(rt: Runtime) -> None:
    """The task ends only once its run has stopped the tool: the tool's cleanup is held open
    until the test releases it, and the cancel must not be answered before."""
    tool = stubborn_probe("actor-cancel")
    actor = await start_actor(
        rt, "a", ScriptedModel([use_tools(("stubborn", {"name": "actor-cancel"}))]), ALL
    )
    task_id = await actor.send("block")
    await tool.started.wait()
    status = await actor.task_status(task_id)
    assert status.state is TaskState.RUNNING
    [run_pid] = [info.pid for root in tree(current_node()) for info in root.walk() if info.module == "Run"]
    seen: list[tuple[TaskState, bool, bool]] = []

    async def cancel() -> None:
        result = await actor.cancel(task_id)
        seen.append((result.state, tool.task.done(), run_pid.is_alive()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancel)
        await tool.stopping.wait()
        await quiesce(rt.events)
        assert seen == [], "the task ended while its tool was still running"
        assert run_pid.is_alive() and (await actor.task_status(task_id)).state is TaskState.RUNNING
        tool.release.set()
    assert seen == [(TaskState.CANCELLED, True, False)]
    assert not tool.pids[0].is_alive()
    [cancelled] = await rt.events.query(type="run.cancelled")
    assert cancelled.run_id == status.runs[0] and cancelled.task_id == task_id
    assert (await actor.cancel(task_id)).state is TaskState.CANCELLED  # idempotent


async def test_cancel_stops_the_active_model_call(rt: Runtime) -> None:
    actor = await start_actor(rt, "a", ScriptedModel([after(anyio.Event(), reply("never"))]))
    task_id = await actor.send("think forever")
    assert (await actor.task_status(task_id)).state is TaskState.THINKING
    workers = [p for p in current_node().processes() if p.parent == actor.pid and p.alive]
    assert len(workers) == 1  # the ModelCall worker
    result = await actor.cancel(task_id)
    assert result.state is TaskState.CANCELLED
    assert not workers[0].alive and workers[0].task is not None and workers[0].task.done()
    [cancelled] = await rt.events.query(type="llm.cancelled")
    assert cancelled.task_id == task_id


# 11
async def test_the_actor_takes_new_messages_after_failure_cancel_and_timeout(rt: Runtime) -> None:
    model = ScriptedModel(
        [
            fail("upstream overloaded", status=529),
            after(anyio.Event(), reply("cancelled before this")),
            after(anyio.Event(), reply("timed out before this")),
            reply("still here"),
        ]
    )
    actor = await start_actor(rt, "a", model, model_timeout=5.0)
    with pytest.raises(TaskFailed) as failure:
        await actor.ask("one")
    assert failure.value.result.state is TaskState.FAILED and "529" in (failure.value.result.error or "")
    cancelled = await actor.send("two")
    while len(model.requests) < 2:  # the model call is in flight, not merely spawned
        await anyio.wait_all_tasks_blocked()
    assert (await actor.cancel(cancelled)).state is TaskState.CANCELLED
    with pytest.raises(TaskFailed) as timeout:
        await actor.ask("three", timeout=0.05)
    assert timeout.value.result.state is TaskState.TIMEOUT
    assert await actor.ask("four") == "still here"
    types = [e.type for e in await rt.events.query(agent_id="a", type="llm.*")]
    assert types.count("llm.failed") == 1 and types.count("llm.cancelled") == 2


# 12
async def test_actor_to_actor_messages_keep_the_correlation_id(rt: Runtime) -> None:
    from soma_actor.providers import message_actor

    helper = await start_actor(
        rt, "helper", ScriptedModel([use_tools(("echo", {"value": 2})), reply("2")]), ALL
    )
    lead_model = ScriptedModel([message_actor("helper", "what is 1+1?"), reply("helper says 2")])
    lead = await start_actor(rt, "lead", lead_model, Policy(["echo"], ["helper"]))
    result = await lead.task_result(await lead.send("ask the helper"))
    assert result.reply == "helper says 2"
    assert lead_model.requests[1].messages[-1].content == "2"
    chain = await rt.events.query(correlation_id=result.correlation_id)
    assert {e.agent_id for e in chain} == {"lead", "helper"}
    [child] = [e for e in chain if e.type == "actor.task.received" and e.agent_id == "helper"]
    assert child.payload["from_actor"] == "lead" and child.payload["parent_task_id"] == result.task_id
    assert any(e.type == "run.completed" and e.agent_id == "helper" for e in chain)
    assert await helper.task_status(child.task_id or "")


# 13
async def test_budget_exhaustion_fails_the_task_not_the_actor(rt: Runtime) -> None:
    looping = [use_tools(("echo", {"value": i})) for i in range(5)]
    actor = await start_actor(
        rt, "a", ScriptedModel([*looping, reply("done")]), ALL, Budget(max_model_calls=3)
    )
    pid = actor.pid
    with pytest.raises(TaskFailed) as exhausted:
        await actor.ask("loop")
    result = exhausted.value.result
    assert result.state is TaskState.FAILED and "max_model_calls=3" in (result.error or "")
    assert result.usage.model_calls == 3
    steps = await start_actor(
        rt,
        "b",
        ScriptedModel([use_tools(*[("echo", {"value": i}) for i in range(4)])]),
        ALL,
        Budget(max_steps=3),
    )
    with pytest.raises(TaskFailed, match="max_steps=3"):
        await steps.ask("too many steps")
    assert await rt.events.query(agent_id="b", type="run.*") == []  # nothing ran
    assert pid.is_alive() and steps.pid.is_alive()
    [rejected] = await rt.events.query(agent_id="b", type="proposal.rejected")
    assert rejected.payload["stage"] == "budget"


# 14
async def test_policy_rejection_fails_the_task_not_the_actor(rt: Runtime) -> None:
    model = ScriptedModel([use_tools(("file_write", {"path": "x", "content": "y"})), reply("fine")])
    actor = await start_actor(rt, "a", model, Policy(["echo"]))
    with pytest.raises(TaskFailed, match="may not use tool\\(s\\) 'file_write'"):
        await actor.ask("write a file")
    [rejected] = await rt.events.query(agent_id="a", type="proposal.rejected")
    assert rejected.payload["stage"] == "policy"
    assert await rt.events.query(agent_id="a", type="run.*") == []
    assert await actor.ask("then just answer") == "fine"


# 15
async def test_the_actor_answers_status_while_a_model_call_or_a_run_is_in_flight(rt: Runtime) -> None:
    GATE["run"] = anyio.Event()
    thinking = anyio.Event()
    model = ScriptedModel([after(thinking, use_tools(("wait_gate", {"name": "run"}))), reply("both done")])
    actor = await start_actor(rt, "a", model, ALL)
    task_id = await actor.send("slow work")
    assert (await actor.task_status(task_id)).state is TaskState.THINKING
    assert (await actor.info()).state == "thinking"
    thinking.set()
    while (await actor.task_status(task_id)).state is not TaskState.RUNNING:
        await anyio.wait_all_tasks_blocked()
    queued = await actor.send("next in line")
    assert (await actor.task_status(queued)).state is TaskState.QUEUED
    GATE["run"].set()
    assert (await actor.task_result(task_id)).reply == "both done"


async def test_an_invalid_proposal_goes_back_to_the_model(rt: Runtime) -> None:
    model = ScriptedModel(
        [use_tools(("no_such_tool", {})), use_tools(("echo", {"wrong": 1})), reply("gave up on tools")]
    )
    actor = await start_actor(rt, "a", model, ALL)
    assert await actor.ask("x") == "gave up on tools"
    assert "unknown tool 'no_such_tool'" in model.requests[1].messages[-1].content
    assert "value" in model.requests[2].messages[-1].content
    assert len(await rt.events.query(agent_id="a", type="proposal.invalid")) == 2


async def test_a_model_that_declines_rejects_the_task(rt: Runtime) -> None:
    from soma_actor.providers import reject

    actor = await start_actor(rt, "a", ScriptedModel([reject("out of scope")]))
    with pytest.raises(TaskFailed) as declined:
        await actor.ask("do my taxes")
    assert declined.value.result.state is TaskState.REJECTED and declined.value.result.error == "out of scope"


async def test_a_model_call_that_overruns_its_timeout_ends_the_task(rt: Runtime) -> None:
    actor = await start_actor(
        rt, "a", ScriptedModel([after(anyio.Event(), reply("late"))]), model_timeout=0.05
    )
    with pytest.raises(TaskFailed) as timed_out:
        await actor.ask("hurry")
    assert timed_out.value.result.state is TaskState.TIMEOUT
    assert [e.type for e in await rt.events.query(agent_id="a", type="llm.*")] == [
        "llm.started",
        "llm.timeout",
    ]


async def test_tasks_run_one_at_a_time_in_arrival_order(rt: Runtime) -> None:
    actor = await start_actor(rt, "a", ScriptedModel([reply("first"), reply("second"), reply("third")]))
    ids = [await actor.send(m) for m in ("1", "2", "3")]
    assert [(await actor.task_result(i)).reply for i in ids] == ["first", "second", "third"]


async def test_stopping_an_actor_cancels_its_tasks_and_records_them(rt: Runtime) -> None:
    actor = await start_actor(rt, "a", ScriptedModel([after(anyio.Event(), reply("never"))]))
    busy, queued = await actor.send("busy"), await actor.send("queued")
    pid = actor.pid
    await actor.stop()
    assert not pid.is_alive() and current_node().whereis(actor_name("a")) is None
    for task_id in (busy, queued):
        assert (await actor.task_result(task_id)).state is TaskState.CANCELLED  # from the store
    assert [e.type for e in await rt.events.query(agent_id="a", type="actor.stopped")] == ["actor.stopped"]


async def test_a_killed_actor_is_restarted_and_records_the_tasks_it_lost(rt: Runtime) -> None:
    model = ScriptedModel([after(anyio.Event(), reply("never")), reply("after restart")])
    actor = await start_actor(rt, "a", model)
    lost = await actor.send("in flight when killed")
    assert (await actor.task_status(lost)).state is TaskState.THINKING
    first = actor.pid
    first.kill()  # untrappable: no terminate, the supervisor restarts it
    while current_node().whereis(actor_name("a")) in (None, first):
        await anyio.wait_all_tasks_blocked()
    assert actor.pid != first and not first.is_alive()
    result = await actor.task_result(lost)
    assert result.state is TaskState.FAILED and "restarted" in (result.error or "")
    assert await actor.ask("still serving?") == "after restart"
    restarted = (await rt.events.query(agent_id="a", type="actor.started"))[-1]
    assert restarted.payload["lost_tasks"] == 1


async def test_an_unknown_request_gets_an_error_and_the_actor_keeps_serving(rt: Runtime) -> None:
    actor = await start_actor(rt, "a", ScriptedModel([reply("fine")]))
    with pytest.raises(ValueError, match="unknown request"):
        await actor.pid.call(("bogus", 1))
    assert await actor.ask("ok?") == "fine"


async def test_actor_events_are_typed_and_a_malformed_one_is_refused(rt: Runtime) -> None:
    from soma_runtime.store.errors import InvalidEvent

    with pytest.raises(InvalidEvent, match="message"):
        await rt.events.append("actor.task.received", {"timeout": 1.0}, agent_id="a")
    with pytest.raises(InvalidEvent, match="reason"):
        await rt.events.append("proposal.rejected", {"stage": "policy"}, agent_id="a")
