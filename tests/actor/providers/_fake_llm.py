"""A fake model API: a real HTTP/1.1 server on loopback that the official SDK clients talk to.

It speaks just enough of each wire format (Anthropic Messages, OpenAI Chat Completions) for
the SDKs to parse its answers, records every request it gets (method, path, headers, JSON
body), and answers each one from the test's script, in order:

- ``Reply.json(body)``: a JSON answer (``anthropic_message`` / ``openai_completion`` build one);
- ``Reply.error(status, body)``: an error status with the provider's error JSON
  (``anthropic_error`` / ``openai_error``);
- ``Reply.raw(text)``: a body that is not JSON, for unreadable answers;
- ``Reply.sse(events)``: a streamed answer, as server-sent events (``anthropic_stream`` /
  ``openai_stream`` build one from the same content as the JSON builders);
- ``Reply.stall()``: never answers. The server sets ``stalled`` once it holds such a request,
  and ``closed_mid_request`` when the client then closes the connection — the proof that a
  timed-out or cancelled SDK call really closed its HTTP request.

Written on anyio streams only, so it needs nothing beyond the project's own dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import Listener, SocketStream, TaskGroup

_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    stall: bool = False

    @classmethod
    def json(cls, body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status=status, body=json.dumps(body).encode(), headers=dict(headers or {}))

    @classmethod
    def error(cls, status: int, body: Any, *, headers: Mapping[str, str] | None = None) -> Reply:
        return cls.json(body, status=status, headers=headers)

    @classmethod
    def raw(cls, text: str, *, content_type: str = "application/json") -> Reply:
        return cls(body=text.encode(), content_type=content_type)

    @classmethod
    def sse(cls, events: list[tuple[str | None, Any]]) -> Reply:
        """``(event name or None, data)`` pairs; data that is not a string is sent as JSON."""
        lines = []
        for name, data in events:
            head = f"event: {name}\n" if name else ""
            lines.append(f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n")
        return cls(body="".join(lines).encode(), content_type="text/event-stream")

    @classmethod
    def stalled(cls) -> Reply:
        return cls(stall=True)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # with the query string, as the client sent it
    headers: dict[str, str]  # names in lower case
    body: Any  # the decoded JSON body (None when there was none)


class FakeLLMServer:
    """``async with FakeLLMServer(Reply.json(...), ...) as server:`` — then point an SDK client
    at ``server.base_url``. A request beyond the script gets a 500 that says so."""

    def __init__(self, *replies: Reply) -> None:
        self._script = list(replies)
        self.requests: list[Recorded] = []
        self.stalled = anyio.Event()
        self.closed_mid_request = anyio.Event()
        self.failures: list[BaseException] = []  # the server's own bugs, raised on exit
        self._port = 0
        self._tg: TaskGroup | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def script(self, *replies: Reply) -> None:
        self._script.extend(replies)

    async def __aenter__(self) -> FakeLLMServer:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self._port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._accept, listener)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        suppress = await self._tg.__aexit__(exc_type, exc, tb)
        if self.failures and exc_type is None:
            raise AssertionError(f"the fake server failed: {self.failures!r}") from self.failures[0]
        return suppress

    async def _accept(self, listener: Listener[SocketStream]) -> None:
        async with listener:
            await listener.serve(self._serve_connection)

    async def _serve_connection(self, stream: SocketStream) -> None:
        # A failure here must not cancel the server's task group — it would cancel the test's
        # own code, which runs inside it — so it is kept and raised when the server exits.
        try:
            await self._converse(stream)
        except Exception as err:
            self.failures.append(err)

    async def _converse(self, stream: SocketStream) -> None:
        async with stream:
            buffer = b""
            while True:  # HTTP/1.1 keep-alive: requests follow each other on one connection
                head, buffer = await _read_until(stream, buffer, b"\r\n\r\n")
                if head is None:
                    return  # the client closed an idle connection
                method, path, headers = _parse_head(head)
                if "chunked" in headers.get("transfer-encoding", ""):
                    raise AssertionError("the fake server reads Content-Length bodies only")
                length = int(headers.get("content-length", "0"))
                while len(buffer) < length:
                    chunk = await _receive(stream)
                    if chunk is None:
                        self.closed_mid_request.set()
                        return
                    buffer += chunk
                raw_body, buffer = buffer[:length], buffer[length:]
                body = json.loads(raw_body) if raw_body else None
                self.requests.append(Recorded(method, path, headers, body))
                reply = self._script.pop(0) if self._script else _unscripted(method, path)
                if reply.stall:
                    await self._stall(stream)
                    return
                await stream.send(_render(reply))

    async def _stall(self, stream: SocketStream) -> None:
        # Hold the request unanswered; the only way out is the client closing the connection
        # (or the server shutting down, which cancels this task).
        self.stalled.set()
        while await _receive(stream) is not None:
            pass
        self.closed_mid_request.set()


async def _receive(stream: SocketStream) -> bytes | None:
    try:
        return await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
        return None


async def _read_until(stream: SocketStream, buffer: bytes, marker: bytes) -> tuple[bytes | None, bytes]:
    while marker not in buffer:
        if len(buffer) > _MAX_HEAD:
            raise AssertionError("request head too large for the fake server")
        chunk = await _receive(stream)
        if chunk is None:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(marker)
    return head, rest


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, path, headers


def _render(reply: Reply) -> bytes:
    try:
        reason = HTTPStatus(reply.status).phrase
    except ValueError:  # e.g. Anthropic's 529 "overloaded" is not a registered status
        reason = "Unassigned"
    lines = [
        f"HTTP/1.1 {reply.status} {reason}",
        f"Content-Type: {reply.content_type}",
        f"Content-Length: {len(reply.body)}",
        *(f"{name}: {value}" for name, value in reply.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


def _unscripted(method: str, path: str) -> Reply:
    return Reply.error(
        500, {"error": {"type": "fake_server", "message": f"no scripted reply for {method} {path}"}}
    )


# --- Anthropic Messages wire format -----------------------------------------------------------


def anthropic_message(
    content: list[dict[str, Any]],
    *,
    model: str = "claude-sonnet-4-6",
    stop_reason: str = "end_turn",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_creation_input_tokens: int | None = None,
    cache_read_input_tokens: int | None = None,
) -> dict[str, Any]:
    return {
        "id": "msg_fake_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
        },
    }


def anthropic_stream(
    content: list[dict[str, Any]],
    *,
    model: str = "claude-sonnet-4-6",
    stop_reason: str = "end_turn",
    input_tokens: int = 10,
    output_tokens: int = 5,
    complete: bool = True,
) -> list[tuple[str | None, Any]]:
    """The Messages API's stream of ``anthropic_message(content, …)``: text in two deltas,
    a tool call's input as JSON in two pieces. ``complete=False``: it stops before
    ``message_delta`` (a stream cut short)."""
    start = anthropic_message([], model=model, input_tokens=input_tokens, output_tokens=1)
    start["stop_reason"] = None
    events: list[tuple[str | None, Any]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(content):
        if block["type"] == "text":
            empty: dict[str, Any] = {"type": "text", "text": ""}
            half = len(block["text"]) // 2
            deltas = [
                {"type": "text_delta", "text": part} for part in (block["text"][:half], block["text"][half:])
            ]
        else:
            empty = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            text = json.dumps(block["input"])
            half = len(text) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": part} for part in (text[:half], text[half:])
            ]
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty})
        )
        for delta in deltas:
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if complete:
        delta = {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}}
        delta["usage"] = {"output_tokens": output_tokens}
        events.append(("message_delta", delta))
        events.append(("message_stop", {"type": "message_stop"}))
    return events


def anthropic_error(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


# --- OpenAI Chat Completions wire format ------------------------------------------------------


def openai_completion(
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    refusal: str | None = None,
    finish_reason: str = "stop",
    model: str = "gpt-4o-2024-08-06",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int | None = None,
    usage: bool = True,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if cached_tokens is not None:
            body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return body


def openai_stream(
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    model: str = "gpt-4o-2024-08-06",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    usage: bool = False,
    complete: bool = True,
) -> list[tuple[str | None, Any]]:
    """Chat Completions' stream of ``openai_completion(…)``: content in two chunks, each tool
    call's arguments in two; the usage chunk (``usage=True``) as with ``include_usage``."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {
            "id": "chatcmpl-fake-1",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [choice],
        }

    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    if content:
        half = len(content) // 2
        events += [(None, chunk({"content": part})) for part in (content[:half], content[half:])]
    for index, call in enumerate(tool_calls or ()):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        head = {"index": index, "id": call["id"], "type": "function"}
        head["function"] = {"name": call["function"]["name"], "arguments": arguments[:half]}
        events.append((None, chunk({"tool_calls": [head]})))
        events.append(
            (None, chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}))
        )
    if complete:
        events.append((None, chunk({}, finish_reason)))
        if usage:
            counts = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
            counts["total_tokens"] = prompt_tokens + completion_tokens
            last = chunk({})
            last["choices"] = []
            last["usage"] = counts
            events.append((None, last))
        events.append((None, "[DONE]"))
    return events


def openai_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def openai_error(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}
