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

from ...providers.openai_model import usage_of
from ._anthropic import _get
from ._calls import Proxy, acreate, create
from ._observer import Answer, ToolResult

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


class Wire:
    """How Chat Completions' requests and answers read (``_calls.Wire``)."""

    UNFINISHED = "the stream ended without a finish_reason"
    request_results = staticmethod(request_results)
    with_guidance = staticmethod(with_guidance)
    answer_of = staticmethod(answer_of)
    accumulator = staticmethod(_Chunks)


WIRE = Wire()


class Chat(Proxy):
    @property
    def completions(self) -> Completions:
        return Completions(self._real.completions, self._observer)


class Completions(Proxy):
    def create(self, **kwargs: Any) -> Any:
        return create(self._observer, WIRE, self._real.create, kwargs)


class AsyncChat(Proxy):
    @property
    def completions(self) -> AsyncCompletions:
        return AsyncCompletions(self._real.completions, self._observer)


class AsyncCompletions(Proxy):
    async def create(self, **kwargs: Any) -> Any:
        return await acreate(self._observer, WIRE, self._real.create, kwargs)
