"""ScriptedModel: deterministic turns, recorded requests, clear errors."""

from __future__ import annotations

import anyio
import pytest

from soma_actor import Message, ModelError, ModelErrorKind, ModelRequest, ScriptedModel, Usage
from soma_actor.providers import after, fail, reply, use_tools

pytestmark = pytest.mark.anyio


def request(text: str = "hello there") -> ModelRequest:
    return ModelRequest("system", (Message("user", text),))


async def test_turns_play_in_order_and_requests_are_recorded() -> None:
    model = ScriptedModel([use_tools(("echo", {"value": 1})), reply("done")])
    first = await model.complete(request("one"))
    second = await model.complete(request("two"))
    assert [u.name for u in first.tool_uses] == ["echo"] and second.text == "done"
    assert [r.messages[0].content for r in model.requests] == ["one", "two"]
    assert model.remaining == 0


async def test_usage_is_deterministic_and_a_scripted_usage_wins() -> None:
    model = ScriptedModel([reply("x" * 40), reply("y", usage=Usage(5, 6))], price_per_mtok=(1.0, 2.0))
    answer = await model.complete(request("z" * 400))
    assert answer.usage.output_tokens == 10 and answer.usage.input_tokens == (400 + len("system")) // 4
    assert answer.cost == pytest.approx((answer.usage.input_tokens * 1.0 + 10 * 2.0) / 1e6)
    assert (await model.complete(request())).usage == Usage(5, 6)


async def test_errors_are_raised_and_an_exhausted_script_says_so() -> None:
    model = ScriptedModel([fail("overloaded", status=529)])
    with pytest.raises(ModelError) as error:
        await model.complete(request())
    assert error.value.kind is ModelErrorKind.STATUS and error.value.status == 529
    with pytest.raises(ModelError, match="exhausted after 1 turns"):
        await model.complete(request())


async def test_a_gated_turn_waits_for_its_event() -> None:
    gate = anyio.Event()
    model = ScriptedModel([after(gate, reply("now"))])
    async with anyio.create_task_group() as tg:
        answers: list[str] = []

        async def call() -> None:
            answers.append((await model.complete(request())).text)

        tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        assert answers == []
        gate.set()
    assert answers == ["now"]
