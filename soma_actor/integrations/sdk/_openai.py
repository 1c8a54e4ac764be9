"""``wrap`` for the OpenAI SDK: ``chat.completions.create``, with and without ``stream=True``,
on ``OpenAI`` and ``AsyncOpenAI`` (and their subclasses, such as the Azure clients).

A request's ``tool`` messages are the results of tool calls the model asked for earlier.
Chat Completions has no error flag on a tool result, so one whose text starts with
``Error`` counts as failed (what Soma's own OpenAI provider sends for a failed step); pending
guidance goes in as one more ``system`` message after the leading ones, in a new list. A
response's ``tool_calls`` are the model's tool calls. A stream reports usage only when the
request asked for it (``stream_options={"include_usage": True}``); without it the call is
recorded with no token counts rather than with the request changed under the caller.
"""

from __future__ import annotations

import json
from typing import Any

import anyio

from ...providers.openai_model import usage_of
from ._anthropic import _get, _Proxy
from ._observer import Answer, Call, ToolResult

PROVIDER = "openai"
_FAILED_PREFIXES = ("error", "Error", "ERROR")


def request_results(kwargs: dict[str, Any]) -> list[ToolResult]:
    results = []
    for message in kwargs.get("messages") or ():
        call_id = _get(message, "tool_call_id")
        if _get(message, "role") == "tool" and isinstance(call_id, str):
            content = _get(message, "content")
            text = content if isinstance(content, str) else ""
            results.append(ToolResult(call_id, content, text.lstrip().startswith(_FAILED_PREFIXES)))
    return results


def with_guidance(kwargs: dict[str, Any], guidance: str | None) -> dict[str, Any]:
    """The request with ``guidance`` as a system message after the leading system (or
    developer) messages, in a new list."""
    if guidance is None:
        return kwargs
    messages = list(kwargs.get("messages") or ())
    at = 0
    while at < len(messages) and _get(messages[at], "role") in ("system", "developer"):
        at += 1
    messages.insert(at, {"role": "system", "content": guidance})
    return {**kwargs, "messages": messages}


def _arguments(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except ValueError:
        return {"arguments": raw}
    return value if isinstance(value, dict) else {"arguments": value}


def answer_of(completion: Any) -> Answer:
    choice = completion.choices[0] if completion.choices else None
    message = choice.message if choice is not None else None
    uses = []
    for call in (message.tool_calls if message is not None else None) or ():
        function = getattr(call, "function", None)
        if function is not None:
            uses.append((call.id, function.name, _arguments(function.arguments)))
    text = (message.content or message.refusal or "") if message is not None else ""
    finish = choice.finish_reason if choice is not None else None
    return Answer(text, uses, finish, completion.model, usage_of(completion.usage))


class _Chunks:
    """A stream of chunks read into an :class:`Answer`."""

    def __init__(self) -> None:
        self.model: str | None = None
        self.text: list[str] = []
        self.tools: dict[int, list[Any]] = {}  # index -> [id, name, argument parts]
        self.finish: str | None = None
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices or ():
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    self.text.append(delta.content)
                for call in delta.tool_calls or ():
                    entry = self.tools.setdefault(call.index, [None, None, []])
                    entry[0] = call.id or entry[0]
                    if call.function is not None:
                        entry[1] = call.function.name or entry[1]
                        if call.function.arguments:
                            entry[2].append(call.function.arguments)
            if choice.finish_reason:
                self.finish = choice.finish_reason

    @property
    def complete(self) -> bool:
        return self.finish is not None

    def answer(self) -> Answer:
        uses = [(i or "", n or "?", _arguments("".join(parts))) for i, n, parts in self.tools.values()]
        return Answer("".join(self.text), uses, self.finish, self.model, usage_of(self.usage))


# --------------------------------------------------------------------------- sync


class Chat(_Proxy):
    @property
    def completions(self) -> Completions:
        return Completions(self._real.completions, self._observer)


class Completions(_Proxy):
    def create(self, **kwargs: Any) -> Any:
        call, guidance = self._observer.begin(kwargs.get("model"), request_results(kwargs))
        try:
            response = self._real.create(**with_guidance(kwargs, guidance))
        except Exception as error:
            call.failed(error)
            raise
        if kwargs.get("stream"):
            return ChunkStream(response, call)
        return call.succeeded(answer_of(response), response)


class ChunkStream:
    def __init__(self, stream: Any, call: Call) -> None:
        self._stream = stream
        self._iterator = iter(stream)
        self._call = call
        self._chunks = _Chunks()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._iterator)
        except StopIteration:
            if self._chunks.complete:
                self._call.succeeded(self._chunks.answer(), self)
            else:
                self._call.abandoned("the stream ended without a finish_reason", self._chunks.answer())
            raise
        except Exception as error:
            self._call.failed(error)
            raise
        self._chunks.add(chunk)
        return chunk

    def close(self) -> None:
        self._stream.close()
        self._call.abandoned("the caller closed the stream before its end", self._chunks.answer())

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- async


class AsyncChat(_Proxy):
    @property
    def completions(self) -> AsyncCompletions:
        return AsyncCompletions(self._real.completions, self._observer)


class AsyncCompletions(_Proxy):
    async def create(self, **kwargs: Any) -> Any:
        observer = self._observer
        call, guidance = await anyio.to_thread.run_sync(
            observer.begin, kwargs.get("model"), request_results(kwargs)
        )
        try:
            response = await self._real.create(**with_guidance(kwargs, guidance))
        except Exception as error:
            await anyio.to_thread.run_sync(call.failed, error)
            raise
        if kwargs.get("stream"):
            return AsyncChunkStream(response, call)
        return await anyio.to_thread.run_sync(call.succeeded, answer_of(response), response)


class AsyncChunkStream:
    def __init__(self, stream: Any, call: Call) -> None:
        self._stream = stream
        self._iterator = stream.__aiter__()
        self._call = call
        self._chunks = _Chunks()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __aiter__(self) -> AsyncChunkStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            answer = self._chunks.answer()
            if self._chunks.complete:
                await anyio.to_thread.run_sync(self._call.succeeded, answer, self)
            else:
                reason = "the stream ended without a finish_reason"
                await anyio.to_thread.run_sync(self._call.abandoned, reason, answer)
            raise
        except Exception as error:
            await anyio.to_thread.run_sync(self._call.failed, error)
            raise
        self._chunks.add(chunk)
        return chunk

    async def close(self) -> None:
        await self._stream.close()
        reason = "the caller closed the stream before its end"
        await anyio.to_thread.run_sync(self._call.abandoned, reason, self._chunks.answer())

    async def __aenter__(self) -> AsyncChunkStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
