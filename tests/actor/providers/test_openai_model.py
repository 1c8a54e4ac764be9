"""OpenAIModel through the real ``openai`` SDK client against a loopback fake of the Chat
Completions API (OpenAI's and a compatible server's): the exact request the SDK sends, the
reading of answers, usage and cost, and each failure as a ModelError — status, timeout,
malformed tool calls — and a cancelled call that really closes its HTTP request."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from _fake_llm import FakeLLMServer, Reply, openai_completion, openai_error, openai_tool_call

from soma_actor.model import (
    Message,
    ModelError,
    ModelErrorKind,
    ModelRequest,
    StopReason,
    ToolSchema,
    ToolUse,
    Usage,
)
from soma_actor.providers import TOOL_ERROR_PREFIX, OpenAIModel
from soma_runtime.vitals import DEFAULT_PRICES

pytestmark = pytest.mark.anyio

KEY = "sk-openai-test-key-0123456789"
MODEL = "gpt-4o"
READ_FILE = ToolSchema(
    "read_file",
    "Read a text file.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
HELLO = ModelRequest(system="You are terse.", messages=(Message("user", "hello"),), max_tokens=64)


def openai(server: FakeLLMServer, **options: Any) -> OpenAIModel:
    options.setdefault("api_key", KEY)
    return OpenAIModel(MODEL, base_url=f"{server.base_url}/v1", **options)


async def test_a_text_reply_and_the_request_the_sdk_sent() -> None:
    answer = openai_completion(content="Hi there.", prompt_tokens=12, completion_tokens=3)
    async with FakeLLMServer(Reply.json(answer)) as server, openai(server) as model:
        response = await model.complete(HELLO)

    assert response.text == "Hi there."
    assert response.tool_uses == ()
    assert response.stop_reason is StopReason.END
    assert response.usage == Usage(input_tokens=12, output_tokens=3)
    assert response.model == "gpt-4o-2024-08-06"  # the model that answered
    [sent] = server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.body == {
        "model": MODEL,
        "max_completion_tokens": 64,
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hello"}],
    }
    assert sent.headers["authorization"] == f"Bearer {KEY}"


async def test_a_tool_use_round_trip() -> None:
    first = openai_completion(
        content="Reading both.",
        tool_calls=[
            openai_tool_call("call_1", "read_file", '{"path": "a.txt"}'),
            openai_tool_call("call_2", "read_file", '{"path": "b.txt"}'),
        ],
        finish_reason="tool_calls",
    )
    second = openai_completion(content="a.txt says hi; b.txt is missing.")
    async with FakeLLMServer(Reply.json(first), Reply.json(second)) as server, openai(server) as model:
        ask = ModelRequest(
            system="You read files.",
            messages=(Message("user", "What do a.txt and b.txt say?"),),
            tools=(READ_FILE,),
            guidance=("Stop retrying the same command.",),
        )
        response = await model.complete(ask)
        assert response.stop_reason is StopReason.TOOL_USE
        assert response.text == "Reading both."
        assert response.tool_uses == (
            ToolUse("call_1", "read_file", {"path": "a.txt"}),
            ToolUse("call_2", "read_file", {"path": "b.txt"}),
        )
        follow_up = ModelRequest(
            system=ask.system,
            messages=(
                *ask.messages,
                Message("assistant", response.text, tool_uses=response.tool_uses),
                Message("tool", "hi", tool_use_id="call_1"),
                Message("tool", "no such file: b.txt", tool_use_id="call_2", is_error=True),
            ),
            tools=ask.tools,
            guidance=ask.guidance,
        )
        final = await model.complete(follow_up)

    assert final.text == "a.txt says hi; b.txt is missing."
    sent = server.requests[1].body
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a text file.",
                "parameters": READ_FILE.parameters,
            },
        }
    ]
    assert sent["messages"] == [
        {
            "role": "system",
            "content": "You read files.\n\nGuidance from the runtime's monitor (act on it):\n"
            "- Stop retrying the same command.",
        },
        {"role": "user", "content": "What do a.txt and b.txt say?"},
        {
            "role": "assistant",
            "content": "Reading both.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": json.dumps({"path": "a.txt"})},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": json.dumps({"path": "b.txt"})},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "hi"},
        {"role": "tool", "tool_call_id": "call_2", "content": TOOL_ERROR_PREFIX + "no such file: b.txt"},
    ]


async def test_an_assistant_turn_of_tool_calls_alone_has_null_content() -> None:
    async with FakeLLMServer(Reply.json(openai_completion(content="ok"))) as server, openai(server) as model:
        call = ToolUse("call_9", "read_file", {})
        await model.complete(
            ModelRequest(
                system="",
                messages=(
                    Message("user", "go"),
                    Message("assistant", "", tool_uses=(call,)),
                    Message("tool", "x!", tool_use_id="call_9"),
                ),
            )
        )
    sent = server.requests[0].body
    assert "tools" not in sent
    assert sent["messages"][0] == {"role": "user", "content": "go"}  # no empty system message
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
        ],
    }


async def test_cached_prompt_tokens_are_part_of_the_input_and_priced_as_cache_reads() -> None:
    answer = openai_completion(content="ok", prompt_tokens=1000, completion_tokens=100, cached_tokens=400)
    async with FakeLLMServer(Reply.json(answer)) as server, openai(server) as model:
        response = await model.complete(HELLO)

    assert response.usage == Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=400)
    price = DEFAULT_PRICES["gpt-4o"]
    expected = (600 * price.input + 100 * price.output + 400 * price.cache_read) / 1e6
    assert response.cost == pytest.approx(expected)
    assert response.cost == pytest.approx(0.003)


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", StopReason.END),
        ("length", StopReason.MAX_TOKENS),
        ("content_filter", StopReason.REFUSAL),
        ("eos", StopReason.END),  # a compatible server's own reason
    ],
)
async def test_finish_reasons(finish: str, stop: StopReason) -> None:
    answer = openai_completion(content="...", finish_reason=finish)
    async with FakeLLMServer(Reply.json(answer)) as server, openai(server) as model:
        assert (await model.complete(HELLO)).stop_reason is stop


async def test_a_refusal_is_the_text_of_a_refused_turn() -> None:
    answer = openai_completion(refusal="I can't help with that.")
    async with FakeLLMServer(Reply.json(answer)) as server, openai(server) as model:
        response = await model.complete(HELLO)
    assert (response.text, response.stop_reason) == ("I can't help with that.", StopReason.REFUSAL)


async def test_tool_calls_under_finish_reason_stop_are_still_tool_use() -> None:
    answer = openai_completion(tool_calls=[openai_tool_call("c1", "read_file", "")], finish_reason="stop")
    async with FakeLLMServer(Reply.json(answer)) as server, openai(server) as model:
        response = await model.complete(HELLO)
    assert response.stop_reason is StopReason.TOOL_USE
    assert response.tool_uses == (ToolUse("c1", "read_file", {}),)  # "" means no arguments


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ('{"path": "a.txt"', "tool 'read_file' with arguments that are not valid JSON"),
        ('["a.txt"]', "tool 'read_file' with arguments that are not a JSON object"),
    ],
)
async def test_malformed_tool_call_arguments_are_an_invalid_response(arguments: str, says: str) -> None:
    answer = openai_completion(
        tool_calls=[openai_tool_call("c1", "read_file", arguments)], finish_reason="tool_calls"
    )
    async with FakeLLMServer(Reply.json(answer)) as server, openai(server) as model:
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)
    assert caught.value.kind is ModelErrorKind.INVALID_RESPONSE
    assert says in caught.value.message


async def test_an_answer_without_choices_is_an_invalid_response() -> None:
    answer = {**openai_completion(content="x"), "choices": []}
    async with FakeLLMServer(Reply.json(answer)) as server, openai(server) as model:
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)
    assert caught.value.kind is ModelErrorKind.INVALID_RESPONSE
    assert "no choices" in caught.value.message


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [(429, "requests", "rate_limit_exceeded"), (500, "server_error", None)],
)
async def test_an_error_status_is_a_model_error_with_the_status(
    status: int, error_type: str, code: str | None
) -> None:
    reply = Reply.error(
        status, openai_error("try later", error_type, code), headers={"x-request-id": "req_7"}
    )
    async with FakeLLMServer(reply) as server, openai(server) as model:
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)

    assert caught.value.kind is ModelErrorKind.STATUS
    assert caught.value.status == status
    assert f"{error_type}: try later" in caught.value.message
    assert "req_7" in caught.value.message
    assert len(server.requests) == 1  # max_retries=0


async def test_a_timeout_is_a_model_error_and_closes_the_request() -> None:
    async with FakeLLMServer(Reply.stalled()) as server, openai(server, timeout=0.2) as model:
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)
        assert caught.value.kind is ModelErrorKind.TIMEOUT
        with anyio.fail_after(5):
            await server.closed_mid_request.wait()


async def test_cancelling_a_call_closes_its_http_request() -> None:
    outcome: list[str] = []

    async def call(model: OpenAIModel) -> None:
        try:
            await model.complete(HELLO)
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise

    async with FakeLLMServer(Reply.stalled()) as server, openai(server) as model:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, model)
            with anyio.fail_after(5):
                await server.stalled.wait()
            tg.cancel_scope.cancel()
        assert outcome == ["cancelled"]
        with anyio.fail_after(5):
            await server.closed_mid_request.wait()


async def test_an_openai_compatible_endpoint() -> None:
    # A local server under a path prefix, with its own model name (no price: cost 0), the
    # older max_tokens parameter, and no usage in its answer.
    answer = openai_completion(content="hello from llama", model="llama-3.1-8b-instruct", usage=False)
    async with FakeLLMServer(Reply.json(answer)) as server:
        model = OpenAIModel(
            "llama-3.1-8b-instruct",
            api_key="unused",
            base_url=f"{server.base_url}/compat/llm/v1",
            max_tokens_param="max_tokens",
        )
        async with model:
            response = await model.complete(HELLO)

    assert response.text == "hello from llama"
    assert (response.usage, response.cost, response.model) == (Usage(), 0.0, "llama-3.1-8b-instruct")
    [sent] = server.requests
    assert sent.path == "/compat/llm/v1/chat/completions"
    assert sent.body["max_tokens"] == 64
    assert "max_completion_tokens" not in sent.body
