"""``wrap(client)`` with the real Anthropic and OpenAI SDKs against the local fake API: the
matrix client × sync/async × plain/stream (a test per cell), each asserting on the store —
and guidance into the system prompt without touching the caller's objects, ToolBlocked under
BLOCK, failures, a stream left early, double wrapping, copies, and a live runtime (control=)."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import anyio
import openai
import pytest
from _fake_llm import (
    FakeLLMServer,
    Reply,
    anthropic_error,
    anthropic_message,
    anthropic_stream,
    openai_completion,
    openai_stream,
    openai_tool_call,
)

from soma_actor import ToolBlocked, wrap
from soma_actor.integrations.served import register
from soma_runtime import Runtime
from soma_runtime.store.glance import glance
from soma_runtime.vitals import first_divergence

pytestmark = pytest.mark.anyio

CLAUDE = "claude-sonnet-4-6"
GPT = "gpt-4o-2024-08-06"
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls -la"}}
TEXT = {"type": "text", "text": "Listing the files first."}


def events(db: Path, agent: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    with glance(db) as log:
        return [(e.type, e.tool_call_id, e.payload) for e in log.query(agent_id=agent)]


def kinds(db: Path, agent: str) -> list[str]:
    return [k for k, _, _ in events(db, agent) if not k.startswith(("vitals.", "guidance."))]


def claude(server: FakeLLMServer, *, is_async: bool = False) -> Any:
    cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return cls(api_key="sk-ant-test-0123456789abcdefghij", base_url=server.base_url, max_retries=0)


def gpt(server: FakeLLMServer, *, is_async: bool = False) -> Any:
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return cls(api_key="sk-test-0123456789abcdefghij", base_url=server.base_url + "/v1", max_retries=0)


def tool_round(first: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The second request of a tool round trip: the answer, then the tool's result."""
    return [
        *first,
        {"role": "assistant", "content": [TEXT, TOOL_USE]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt b.txt"}],
        },
    ]


def check_round(db: Path, agent: str, provider: str, model: str) -> None:
    """A model call that asked for a tool, the tool's result sent back, a second model call."""
    assert kinds(db, agent) == [
        "session.started",
        "llm.started",
        "llm.succeeded",
        "tool.started",
        "tool.succeeded",
        "llm.started",
        "llm.succeeded",
    ]
    found = events(db, agent)
    # Who recorded them is on each envelope; the vitals events say the source of their cause.
    with sqlite3.connect(db) as conn:
        sources = conn.execute("SELECT DISTINCT source FROM events WHERE agent_id = ?", (agent,)).fetchall()
    assert sources == [("wrap",)]
    assert all("source" not in p for _, _, p in found)
    done = [p for k, _, p in found if k == "llm.succeeded"]
    assert [d["provider"] for d in done] == [provider, provider] and done[0]["model"] == model
    assert done[0]["usage"]["input_tokens"] == 10 and done[0]["usage"]["output_tokens"] == 5
    assert done[0]["cost_usd"] > 0 and done[0]["stop_reason"] in ("tool_use", "tool_calls")
    [started] = [(c, p) for k, c, p in found if k == "tool.started"]
    [ended] = [(c, p) for k, c, p in found if k == "tool.succeeded"]
    assert started[0] == ended[0] and started[1]["tool"] == ended[1]["tool"] == "Bash"
    with glance(db) as log:
        assert first_divergence(log.query()) is None  # the vitals are the engine's, bit for bit


# --------------------------------------------------------------------------- Anthropic


async def test_anthropic_sync_create(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with FakeLLMServer(
        Reply.json(anthropic_message([TEXT, TOOL_USE], stop_reason="tool_use")),
        Reply.json(anthropic_message([{"type": "text", "text": "Two files."}])),
    ) as server:

        def script() -> None:
            client = wrap(claude(server), agent_id="a", db=db)
            reply = client.messages.create(model=CLAUDE, max_tokens=64, messages=first)
            assert reply.content[1].name == "Bash"
            client.messages.create(model=CLAUDE, max_tokens=64, messages=tool_round(first))

        await anyio.to_thread.run_sync(script)
    check_round(db, "a", "anthropic", CLAUDE)


async def test_anthropic_sync_create_stream(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with FakeLLMServer(
        Reply.sse(anthropic_stream([TEXT, TOOL_USE], stop_reason="tool_use")),
        Reply.sse(anthropic_stream([{"type": "text", "text": "Two files."}])),
    ) as server:

        def script() -> None:
            client = wrap(claude(server), agent_id="a", db=db)
            seen = [
                e.type
                for e in client.messages.create(model=CLAUDE, max_tokens=64, messages=first, stream=True)
            ]
            assert seen[0] == "message_start" and seen[-1] == "message_stop"
            for _ in client.messages.create(
                model=CLAUDE, max_tokens=64, messages=tool_round(first), stream=True
            ):
                pass

        await anyio.to_thread.run_sync(script)
    check_round(db, "a", "anthropic", CLAUDE)
    [tool] = [p for k, _, p in events(db, "a") if k == "tool.started"]
    assert tool["args"] == {"command": "ls -la"}, "input assembled from the JSON deltas"


async def test_anthropic_sync_messages_stream(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with FakeLLMServer(
        Reply.sse(anthropic_stream([TEXT, TOOL_USE], stop_reason="tool_use")),
        Reply.sse(anthropic_stream([{"type": "text", "text": "Two files."}])),
    ) as server:

        def script() -> None:
            client = wrap(claude(server), agent_id="a", db=db)
            with client.messages.stream(model=CLAUDE, max_tokens=64, messages=first) as stream:
                assert stream.get_final_message().stop_reason == "tool_use"
            with client.messages.stream(model=CLAUDE, max_tokens=64, messages=tool_round(first)) as stream:
                assert "".join(stream.text_stream) == "Two files."

        await anyio.to_thread.run_sync(script)
    check_round(db, "a", "anthropic", CLAUDE)


async def test_anthropic_async_create(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with (
        FakeLLMServer(
            Reply.json(anthropic_message([TEXT, TOOL_USE], stop_reason="tool_use")),
            Reply.json(anthropic_message([{"type": "text", "text": "Two files."}])),
        ) as server,
        claude(server, is_async=True) as raw,
    ):  # closed on this loop
        client = wrap(raw, agent_id="a", db=db)
        assert isinstance(client, anthropic.AsyncAnthropic)
        await client.messages.create(model=CLAUDE, max_tokens=64, messages=first)
        await client.messages.create(model=CLAUDE, max_tokens=64, messages=tool_round(first))
    check_round(db, "a", "anthropic", CLAUDE)


async def test_anthropic_async_create_stream(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with (
        FakeLLMServer(
            Reply.sse(anthropic_stream([TEXT, TOOL_USE], stop_reason="tool_use")),
            Reply.sse(anthropic_stream([{"type": "text", "text": "Two files."}])),
        ) as server,
        claude(server, is_async=True) as raw,
    ):  # closed on this loop
        client = wrap(raw, agent_id="a", db=db)
        async for _ in await client.messages.create(model=CLAUDE, max_tokens=64, messages=first, stream=True):
            pass
        stream = await client.messages.create(
            model=CLAUDE, max_tokens=64, messages=tool_round(first), stream=True
        )
        assert [e.type async for e in stream][-1] == "message_stop"
    check_round(db, "a", "anthropic", CLAUDE)


async def test_anthropic_async_messages_stream(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with (
        FakeLLMServer(
            Reply.sse(anthropic_stream([TEXT, TOOL_USE], stop_reason="tool_use")),
            Reply.sse(anthropic_stream([{"type": "text", "text": "Two files."}])),
        ) as server,
        claude(server, is_async=True) as raw,
    ):  # closed on this loop
        client = wrap(raw, agent_id="a", db=db)
        async with client.messages.stream(model=CLAUDE, max_tokens=64, messages=first) as stream:
            assert (await stream.get_final_message()).stop_reason == "tool_use"
        async with client.messages.stream(model=CLAUDE, max_tokens=64, messages=tool_round(first)) as stream:
            assert "".join([t async for t in stream.text_stream]) == "Two files."
    check_round(db, "a", "anthropic", CLAUDE)


# --------------------------------------------------------------------------- OpenAI

CALL = openai_tool_call("call_1", "Bash", json.dumps({"command": "ls -la"}))


def gpt_round(first: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        *first,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt b.txt"},
    ]


async def test_openai_sync_create(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with FakeLLMServer(
        Reply.json(openai_completion(tool_calls=[CALL], finish_reason="tool_calls")),
        Reply.json(openai_completion(content="Two files.")),
    ) as server:

        def script() -> None:
            client = wrap(gpt(server), agent_id="o", db=db)
            reply = client.chat.completions.create(model="gpt-4o", messages=first)
            assert reply.choices[0].message.tool_calls[0].function.name == "Bash"
            client.chat.completions.create(model="gpt-4o", messages=gpt_round(first))

        await anyio.to_thread.run_sync(script)
    check_round(db, "o", "openai", GPT)


async def test_openai_sync_create_stream(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with FakeLLMServer(
        Reply.sse(openai_stream(tool_calls=[CALL], finish_reason="tool_calls", usage=True)),
        Reply.sse(openai_stream(content="Two files.", usage=True)),
    ) as server:

        def script() -> None:
            client = wrap(gpt(server), agent_id="o", db=db)
            usage = {"include_usage": True}
            chunks = list(
                client.chat.completions.create(
                    model="gpt-4o", messages=first, stream=True, stream_options=usage
                )
            )
            assert chunks[-1].usage is not None
            for _ in client.chat.completions.create(
                model="gpt-4o", messages=gpt_round(first), stream=True, stream_options=usage
            ):
                pass

        await anyio.to_thread.run_sync(script)
    check_round(db, "o", "openai", GPT)
    [tool] = [p for k, _, p in events(db, "o") if k == "tool.started"]
    assert tool["args"] == {"command": "ls -la"}, "arguments assembled from the chunks"


async def test_openai_async_create(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with (
        FakeLLMServer(
            Reply.json(openai_completion(tool_calls=[CALL], finish_reason="tool_calls")),
            Reply.json(openai_completion(content="Two files.")),
        ) as server,
        gpt(server, is_async=True) as raw,
    ):  # closed on this loop
        client = wrap(raw, agent_id="o", db=db)
        assert isinstance(client, openai.AsyncOpenAI)
        await client.chat.completions.create(model="gpt-4o", messages=first)
        await client.chat.completions.create(model="gpt-4o", messages=gpt_round(first))
    check_round(db, "o", "openai", GPT)


async def test_openai_async_create_stream(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = [{"role": "user", "content": "What is here?"}]
    async with (
        FakeLLMServer(
            Reply.sse(openai_stream(tool_calls=[CALL], finish_reason="tool_calls", usage=True)),
            Reply.sse(openai_stream(content="Two files.", usage=True)),
        ) as server,
        gpt(server, is_async=True) as raw,
    ):  # closed on this loop
        client = wrap(raw, agent_id="o", db=db)
        usage = {"include_usage": True}
        async for _ in await client.chat.completions.create(
            model="gpt-4o", messages=first, stream=True, stream_options=usage
        ):
            pass
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=gpt_round(first), stream=True, stream_options=usage
        )
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "Two files."
    check_round(db, "o", "openai", GPT)


# --------------------------------------------------------------------------- behaviour


def failing_round(i: int) -> list[Reply]:
    """One more try of the failing command; the conversation (the input) grows with each."""
    use = {"type": "tool_use", "id": f"toolu_{i}", "name": "Bash", "input": {"command": "make release"}}
    return [Reply.json(anthropic_message([use], stop_reason="tool_use", input_tokens=1000 + 900 * i))]


def storm(client: Any, rounds: int) -> list[dict[str, Any]]:
    """The caller keeps running ``make release``, which keeps failing, and says so."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Ship the release."}]
    for i in range(rounds):
        reply = client.messages.create(
            model=CLAUDE, max_tokens=64, system="You ship releases.", messages=messages
        )
        messages = [
            *messages,
            {"role": "assistant", "content": [b.model_dump() for b in reply.content]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": f"toolu_{i}",
                        "content": "exit 2",
                        "is_error": True,
                    }
                ],
            },
        ]
    return messages


async def test_guidance_joins_the_system_prompt_without_touching_the_callers_arguments(
    tmp_path: Path,
) -> None:
    db = tmp_path / "soma.db"
    replies = [r for i in range(8) for r in failing_round(i)]
    async with FakeLLMServer(*replies, Reply.json(anthropic_message([TEXT]))) as server:

        def script() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            client = wrap(claude(server), agent_id="a", db=db)
            messages = storm(client, 8)
            system = [{"type": "text", "text": "You ship releases."}]
            kept = copy.deepcopy((messages, system))
            client.messages.create(model=CLAUDE, max_tokens=64, system=system, messages=messages)
            assert (messages, system) == kept, "the caller's objects are untouched"
            return messages, system

        await anyio.to_thread.run_sync(script)
    sent = [r.body for r in server.requests]
    guided = [b for b in sent if "Soma vitals" in json.dumps(b.get("system"))]
    assert guided, "guidance reached a request's system prompt"
    last = sent[-1]["system"]
    assert last[0] == {"type": "text", "text": "You ship releases."} and "Soma vitals" in last[-1]["text"]
    delivered = [p for k, _, p in events(db, "a") if k == "guidance.delivered"]
    assert delivered and all(p["channel"] == "wrap" for p in delivered)
    fired = {p["firing_id"] for k, _, p in events(db, "a") if k == "guidance.fired"}
    assert sorted(f for p in delivered for f in p["firing_ids"]) == sorted(fired)


async def test_under_block_a_destructive_tool_call_raises_tool_blocked(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    rm = {"type": "tool_use", "id": "toolu_rm", "name": "Bash", "input": {"command": "rm -rf build/"}}
    replies = [r for i in range(12) for r in failing_round(i)]
    async with FakeLLMServer(*replies, Reply.json(anthropic_message([rm], stop_reason="tool_use"))) as server:

        def script() -> ToolBlocked:
            client = wrap(claude(server), agent_id="a", db=db)
            messages = storm(client, 12)
            with pytest.raises(ToolBlocked) as blocked:
                client.messages.create(model=CLAUDE, max_tokens=64, messages=messages)
            return blocked.value

        blocked = await anyio.to_thread.run_sync(script)
    assert blocked.response.content[0].id == "toolu_rm", "the response comes with it, untouched"
    assert [(b[0], b[1]) for b in blocked.blocked] == [("toolu_rm", "Bash")] and blocked.pressure >= 0.75
    assert [c for k, c, _ in events(db, "a") if k == "tool.blocked"] == ["toolu_rm"]


async def test_on_block_handles_it_instead(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    rm = {"type": "tool_use", "id": "toolu_rm", "name": "Bash", "input": {"command": "git push --force"}}
    replies = [r for i in range(12) for r in failing_round(i)]
    handled: list[ToolBlocked] = []

    def on_block(error: ToolBlocked) -> str:
        handled.append(error)
        return "handled"

    async with FakeLLMServer(*replies, Reply.json(anthropic_message([rm], stop_reason="tool_use"))) as server:

        def script() -> Any:
            client = wrap(claude(server), agent_id="a", db=db, on_block=on_block)
            return client.messages.create(model=CLAUDE, max_tokens=64, messages=storm(client, 12))

        assert await anyio.to_thread.run_sync(script) == "handled"
    assert len(handled) == 1 and "git push --force" in str(handled[0])


async def test_a_failed_call_is_recorded_and_the_sdk_error_raised(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with FakeLLMServer(Reply.error(529, anthropic_error("overloaded_error", "Overloaded"))) as server:

        def script() -> None:
            client = wrap(claude(server), agent_id="a", db=db)
            with pytest.raises(anthropic.APIStatusError):
                client.messages.create(
                    model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
                )

        await anyio.to_thread.run_sync(script)
    [failed] = [p for k, _, p in events(db, "a") if k == "llm.failed"]
    assert "Overloaded" in failed["error"] and "sk-ant-test" not in failed["error"]


async def test_a_stream_left_before_its_end_is_cancelled(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with FakeLLMServer(Reply.sse(openai_stream(content="a long answer", usage=True))) as server:

        def script() -> None:
            client = wrap(gpt(server), agent_id="o", db=db)
            stream = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
            )
            next(iter(stream))
            stream.close()

        await anyio.to_thread.run_sync(script)
    assert kinds(db, "o")[-1] == "llm.cancelled"


async def test_wrapping_twice_is_a_no_op_and_copies_are_observed(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with FakeLLMServer(
        Reply.json(anthropic_message([TEXT])), Reply.json(anthropic_message([TEXT]))
    ) as server:

        def script() -> None:
            raw = claude(server)
            client = wrap(raw, agent_id="a", db=db)
            assert client is raw and isinstance(client, anthropic.Anthropic)
            assert wrap(client, agent_id="b", db=db) is client
            client.messages.create(model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
            client.with_options(timeout=5.0).messages.create(
                model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )

        await anyio.to_thread.run_sync(script)
    assert kinds(db, "a").count("llm.succeeded") == 2 and kinds(db, "b") == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'session.started'").fetchone()[0] == 1


async def test_wrap_refuses_what_it_cannot_observe(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"anthropic\.Anthropic"):
        wrap(object(), agent_id="a", db=tmp_path / "soma.db")
    with pytest.raises(ValueError, match="agent_id"):
        wrap(anthropic.Anthropic(api_key="k"), agent_id=" ")
    with pytest.raises(ValueError, match="not both"):
        wrap(openai.OpenAI(api_key="k"), agent_id="a", db="x.db", control="x.sock")


async def test_through_a_live_runtime(tmp_path: Path) -> None:
    socket = tmp_path / "soma.sock"
    first = [{"role": "user", "content": "What is here?"}]
    async with (
        Runtime.open(db=tmp_path / "soma.db", control=str(socket)) as rt,
        FakeLLMServer(
            Reply.json(anthropic_message([TEXT, TOOL_USE], stop_reason="tool_use")),
            Reply.json(anthropic_message([{"type": "text", "text": "Two files."}])),
        ) as server,
    ):
        register(rt)

        def script() -> None:
            client = wrap(claude(server), agent_id="a", control=socket)
            client.messages.create(model=CLAUDE, max_tokens=64, messages=first)
            client.messages.create(model=CLAUDE, max_tokens=64, messages=tool_round(first))

        await anyio.to_thread.run_sync(script)
        await rt.vitals.caught_up()
        recorded = [
            e.type
            for e in await rt.events.query(agent_id="a")
            if not e.type.startswith(("vitals.", "guidance."))
        ]
        assert recorded == [
            "session.started",
            "llm.started",
            "llm.succeeded",
            "tool.started",
            "tool.succeeded",
            "llm.started",
            "llm.succeeded",
        ]
        assert len(await rt.events.query(agent_id="a", type="vitals.updated")) == 3


MATRIX: dict[tuple[str, str, str], Callable[..., Any]] = {
    ("anthropic", "sync", "plain"): test_anthropic_sync_create,
    ("anthropic", "sync", "create(stream=True)"): test_anthropic_sync_create_stream,
    ("anthropic", "sync", "messages.stream"): test_anthropic_sync_messages_stream,
    ("anthropic", "async", "plain"): test_anthropic_async_create,
    ("anthropic", "async", "create(stream=True)"): test_anthropic_async_create_stream,
    ("anthropic", "async", "messages.stream"): test_anthropic_async_messages_stream,
    ("openai", "sync", "plain"): test_openai_sync_create,
    ("openai", "sync", "create(stream=True)"): test_openai_sync_create_stream,
    ("openai", "async", "plain"): test_openai_async_create,
    ("openai", "async", "create(stream=True)"): test_openai_async_create_stream,
}
"""The wrap matrix: client × sync/async × stream, and the test of each cell."""
