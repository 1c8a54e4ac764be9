"""AnthropicModel through the real ``anthropic`` SDK client against a loopback fake of the
Messages API: the exact request the SDK sends, the reading of answers, usage and cost, and
each failure as a ModelError — status, timeout, connection, unreadable answers — and a
cancelled call that really closes its HTTP request."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from _fake_llm import FakeLLMServer, Reply, anthropic_error, anthropic_message

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
from soma_actor.providers import AnthropicModel
from soma_runtime.vitals import DEFAULT_PRICES, ModelPrice

pytestmark = pytest.mark.anyio

KEY = "sk-ant-test-key-0123456789"
MODEL = "claude-sonnet-4-6"
READ_FILE = ToolSchema(
    "read_file",
    "Read a text file.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
HELLO = ModelRequest(system="You are terse.", messages=(Message("user", "hello"),), max_tokens=64)


def anthropic(server: FakeLLMServer, **options: Any) -> AnthropicModel:
    options.setdefault("api_key", KEY)
    return AnthropicModel(MODEL, base_url=server.base_url, **options)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


async def test_a_text_reply_and_the_request_the_sdk_sent() -> None:
    answer = anthropic_message([text("Hi"), text(" there.")], input_tokens=12, output_tokens=3)
    async with FakeLLMServer(Reply.json(answer)) as server, anthropic(server) as model:
        response = await model.complete(HELLO)

    assert response.text == "Hi there."
    assert response.tool_uses == ()
    assert response.stop_reason is StopReason.END
    assert response.usage == Usage(input_tokens=12, output_tokens=3)
    assert response.model == MODEL
    [sent] = server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.body == {
        "model": MODEL,
        "max_tokens": 64,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": [text("hello")]}],
    }
    assert "anthropic-version" in sent.headers
    assert KEY in (
        sent.headers.get("x-api-key", ""),
        sent.headers.get("authorization", "").removeprefix("Bearer "),
    )


async def test_a_tool_use_round_trip() -> None:
    first = anthropic_message(
        [
            text("Reading both."),
            {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a.txt"}},
            {"type": "tool_use", "id": "toolu_2", "name": "read_file", "input": {"path": "b.txt"}},
        ],
        stop_reason="tool_use",
    )
    second = anthropic_message([text("a.txt says hi; b.txt is missing.")])
    async with FakeLLMServer(Reply.json(first), Reply.json(second)) as server, anthropic(server) as model:
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
            ToolUse("toolu_1", "read_file", {"path": "a.txt"}),
            ToolUse("toolu_2", "read_file", {"path": "b.txt"}),
        )
        follow_up = ModelRequest(
            system=ask.system,
            messages=(
                *ask.messages,
                Message("assistant", response.text, tool_uses=response.tool_uses),
                Message("tool", "hi", tool_use_id="toolu_1"),
                Message("tool", "no such file: b.txt", tool_use_id="toolu_2", is_error=True),
            ),
            tools=ask.tools,
            guidance=ask.guidance,
        )
        final = await model.complete(follow_up)

    assert final.text == "a.txt says hi; b.txt is missing."
    assert final.stop_reason is StopReason.END
    sent = server.requests[1].body
    assert sent["system"] == (
        "You read files.\n\nGuidance from the runtime's monitor (act on it):\n"
        "- Stop retrying the same command."
    )
    assert sent["tools"] == [
        {"name": "read_file", "description": "Read a text file.", "input_schema": READ_FILE.parameters}
    ]
    # Both results of the assistant's turn travel together in the next user turn.
    assert sent["messages"] == [
        {"role": "user", "content": [text("What do a.txt and b.txt say?")]},
        {
            "role": "assistant",
            "content": [
                text("Reading both."),
                {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a.txt"}},
                {"type": "tool_use", "id": "toolu_2", "name": "read_file", "input": {"path": "b.txt"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "hi", "is_error": False},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "no such file: b.txt",
                    "is_error": True,
                },
            ],
        },
    ]


async def test_an_assistant_turn_of_tool_calls_alone_sends_no_empty_text_block() -> None:
    async with (
        FakeLLMServer(Reply.json(anthropic_message([text("ok")]))) as server,
        anthropic(server) as model,
    ):
        call = ToolUse("toolu_9", "read_file", {"path": "x"})
        await model.complete(
            ModelRequest(
                system="",
                messages=(
                    Message("user", "go"),
                    Message("assistant", "", tool_uses=(call,)),
                    Message("tool", "x!", tool_use_id="toolu_9"),
                ),
            )
        )
    sent = server.requests[0].body
    assert "system" not in sent and "tools" not in sent
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_9", "name": "read_file", "input": {"path": "x"}}],
    }


async def test_cache_reads_and_writes_are_added_into_input_and_priced_at_their_rates() -> None:
    answer = anthropic_message(
        [text("ok")],
        input_tokens=100,
        output_tokens=50,
        cache_creation_input_tokens=1000,
        cache_read_input_tokens=2000,
    )
    async with FakeLLMServer(Reply.json(answer)) as server, anthropic(server) as model:
        response = await model.complete(HELLO)

    assert response.usage == Usage(
        input_tokens=3100, output_tokens=50, cache_read_tokens=2000, cache_write_tokens=1000
    )
    price = DEFAULT_PRICES["claude-sonnet-4"]
    expected = (
        100 * price.input + 50 * price.output + 2000 * price.cache_read + 1000 * price.cache_write
    ) / 1e6
    assert response.cost == pytest.approx(expected)
    assert response.cost == pytest.approx(0.0054)


async def test_a_price_table_override_and_an_unpriced_model() -> None:
    answers = (
        Reply.json(anthropic_message([text("a")])),
        Reply.json(anthropic_message([text("b")], model="x-1")),
    )
    async with FakeLLMServer(*answers) as server:
        async with anthropic(server, prices={MODEL: ModelPrice(1.0, 2.0)}) as model:
            assert (await model.complete(HELLO)).cost == pytest.approx((10 * 1.0 + 5 * 2.0) / 1e6)
        async with AnthropicModel("x-1", api_key=KEY, base_url=server.base_url) as unpriced:
            assert (await unpriced.complete(HELLO)).cost == 0.0


@pytest.mark.parametrize(
    ("wire", "stop"),
    [
        ("end_turn", StopReason.END),
        ("stop_sequence", StopReason.END),
        ("max_tokens", StopReason.MAX_TOKENS),
        ("model_context_window_exceeded", StopReason.MAX_TOKENS),
        ("refusal", StopReason.REFUSAL),
        ("a_reason_added_later", StopReason.END),
    ],
)
async def test_stop_reasons(wire: str, stop: StopReason) -> None:
    answer = anthropic_message([text("...")], stop_reason=wire)
    async with FakeLLMServer(Reply.json(answer)) as server, anthropic(server) as model:
        assert (await model.complete(HELLO)).stop_reason is stop


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error")],
)
async def test_an_error_status_is_a_model_error_with_the_status(status: int, error_type: str) -> None:
    reply = Reply.error(status, anthropic_error(error_type, "try later"), headers={"request-id": "req_42"})
    async with FakeLLMServer(reply) as server, anthropic(server) as model:
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)

    assert caught.value.kind is ModelErrorKind.STATUS
    assert caught.value.status == status
    assert f"{error_type}: try later" in caught.value.message
    assert "req_42" in caught.value.message
    assert len(server.requests) == 1  # max_retries=0: the actor decides about retrying


async def test_max_retries_retries_a_failed_call() -> None:
    replies = (
        Reply.error(500, anthropic_error("api_error", "blip"), headers={"retry-after-ms": "1"}),
        Reply.json(anthropic_message([text("second time lucky")])),
    )
    async with FakeLLMServer(*replies) as server, anthropic(server, max_retries=1) as model:
        assert (await model.complete(HELLO)).text == "second time lucky"
    assert len(server.requests) == 2


async def test_a_timeout_is_a_model_error_and_closes_the_request() -> None:
    async with FakeLLMServer(Reply.stalled()) as server, anthropic(server, timeout=0.2) as model:
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)
        assert caught.value.kind is ModelErrorKind.TIMEOUT
        assert caught.value.status is None
        with anyio.fail_after(5):
            await server.closed_mid_request.wait()


async def test_cancelling_a_call_closes_its_http_request() -> None:
    outcome: list[str] = []

    async def call(model: AnthropicModel) -> None:
        try:
            await model.complete(HELLO)
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise

    async with FakeLLMServer(Reply.stalled()) as server, anthropic(server) as model:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, model)
            with anyio.fail_after(5):
                await server.stalled.wait()
            tg.cancel_scope.cancel()
        assert outcome == ["cancelled"]  # cancellation propagates; it is not a ModelError
        with anyio.fail_after(5):
            await server.closed_mid_request.wait()


async def test_no_server_is_a_connection_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens on the port now
    async with AnthropicModel(MODEL, api_key=KEY, base_url=f"http://127.0.0.1:{port}") as model:
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)
    assert caught.value.kind is ModelErrorKind.CONNECTION


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (Reply.raw("<html>bad gateway</html>"), "not valid JSON"),
        (Reply.raw("<html>bad gateway</html>", content_type="text/html"), "not JSON: <html>bad gateway"),
        (Reply.json({"id": "msg_1", "type": "message"}), "cannot be read"),
        (
            Reply.json(
                anthropic_message([{"type": "tool_use", "id": "t", "name": "read_file", "input": "a.txt"}])
            ),
            "tool 'read_file' with arguments that are not a JSON object",
        ),
        (Reply.json(anthropic_message([text("hm")], stop_reason="tool_use")), "called no tool"),
        (Reply.json(anthropic_message([text("hm")], input_tokens=-3)), "cannot be read"),
    ],
)
async def test_an_unreadable_answer_is_an_invalid_response(reply: Reply, says: str) -> None:
    async with FakeLLMServer(reply) as server, anthropic(server) as model:
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)
    assert caught.value.kind is ModelErrorKind.INVALID_RESPONSE
    assert says in caught.value.message
