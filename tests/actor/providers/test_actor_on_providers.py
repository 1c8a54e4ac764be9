"""An actor on the real SDK-backed providers (against the loopback fake): a cancelled task
closes the model's HTTP request, a model timeout does too, and the API key never reaches
the event store — not even when the provider echoes it in an error."""

from __future__ import annotations

import json

import anyio
import pytest
from _fake_llm import (
    FakeLLMServer,
    Reply,
    anthropic_error,
    anthropic_message,
    openai_error,
)

from soma_actor import ScriptedModel, TaskFailed, TaskState, start_actor
from soma_actor.providers import AnthropicModel, OpenAIModel
from soma_runtime import Runtime

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789abcdef"


async def test_cancelling_a_task_closes_the_model_http_request() -> None:
    async with (
        FakeLLMServer(Reply.stalled()) as server,
        OpenAIModel("gpt-4.1-mini", api_key=KEY, base_url=f"{server.base_url}/v1") as model,
        Runtime.open(vitals=False) as rt,
    ):
        actor = await start_actor(rt, "a", model)
        task_id = await actor.send("think")
        with anyio.fail_after(10):
            await server.stalled.wait()  # the request is at the server
        assert (await actor.cancel(task_id)).state is TaskState.CANCELLED
        with anyio.fail_after(10):
            await server.closed_mid_request.wait()  # and the client hung up on it
        assert [e.type for e in await rt.events.query(type="llm.*")] == ["llm.started", "llm.cancelled"]


async def test_a_model_timeout_closes_the_request_and_ends_the_task() -> None:
    async with (
        FakeLLMServer(Reply.stalled()) as server,
        AnthropicModel("claude-sonnet-4-6", api_key=KEY, base_url=server.base_url) as model,
        Runtime.open(vitals=False) as rt,
    ):
        actor = await start_actor(rt, "a", model, model_timeout=0.3)
        with pytest.raises(TaskFailed) as timed_out:
            await actor.ask("think")
        assert timed_out.value.result.state is TaskState.TIMEOUT
        with anyio.fail_after(10):
            await server.closed_mid_request.wait()


async def test_the_api_key_never_enters_the_event_store() -> None:
    echoing = Reply.error(401, openai_error(f"Incorrect API key provided: {KEY}", "invalid_request_error"))
    anthropic_echo = Reply.error(401, anthropic_error("authentication_error", f"bad key {KEY}"))
    async with (
        FakeLLMServer(echoing, anthropic_echo) as server,
        OpenAIModel("gpt-4.1", api_key=KEY, base_url=f"{server.base_url}/v1") as gpt,
        AnthropicModel("claude-x", api_key=KEY, base_url=server.base_url) as claude,
        Runtime.open(vitals=False) as rt,
    ):
        openai = await start_actor(rt, "o", gpt)
        anthropic = await start_actor(rt, "c", claude)
        for actor in (openai, anthropic):
            with pytest.raises(TaskFailed) as failed:
                await actor.ask("hello")
            assert "401" in (failed.value.result.error or "")
        recorded = json.dumps([e.model_dump(mode="json") for e in await rt.events.query()])
        assert KEY not in recorded and "llm.failed" in recorded
    assert server.requests[0].headers.get("authorization", "").endswith(KEY)  # it was sent, to the API only


async def test_a_real_provider_and_a_scripted_one_serve_the_same_loop() -> None:
    answer = Reply.json(
        anthropic_message([{"type": "text", "text": "four"}], input_tokens=1000, output_tokens=10)
    )
    async with (
        FakeLLMServer(answer) as server,
        AnthropicModel("claude-sonnet-4-6", api_key=KEY, base_url=server.base_url) as claude,
        Runtime.open(vitals=False) as rt,
    ):
        real = await start_actor(rt, "real", claude)
        scripted = await start_actor(rt, "scripted", ScriptedModel())
        assert await real.ask("2+2?") == "four"
        [succeeded] = await rt.events.query(agent_id="real", type="llm.succeeded")
        assert succeeded.payload["provider"] == "anthropic" and succeeded.payload["cost_usd"] > 0
        assert succeeded.payload["usage"]["input_tokens"] == 1000
        assert (await scripted.info()).model == "scripted"
