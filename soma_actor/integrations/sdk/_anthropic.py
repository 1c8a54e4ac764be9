"""``wrap`` for the Anthropic SDK: ``messages.create`` (with and without ``stream=True``) and
``messages.stream``, on ``Anthropic`` and ``AsyncAnthropic``.

A request's ``tool_result`` blocks are the results of tool calls the model asked for
earlier; its ``system`` is where pending guidance goes (a new string or list: the caller's
is never changed). A response's ``tool_use`` blocks are the model's tool calls. A stream is
recorded when it ends — read to its ``message_stop`` — or, closed before, as cancelled.
"""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import anyio

from ...providers.anthropic_model import usage_of
from ._calls import Proxy, acreate, create
from ._observer import Answer, Call, Observer, ToolResult

if TYPE_CHECKING:
    from types import TracebackType

PROVIDER = "anthropic"


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def request_results(kwargs: dict[str, Any]) -> list[ToolResult]:
    results = []
    for message in kwargs.get("messages") or ():
        content = _get(message, "content")
        if _get(message, "role") != "user" or not isinstance(content, list):
            continue
        for block in content:
            if _get(block, "type") == "tool_result" and isinstance(_get(block, "tool_use_id"), str):
                results.append(
                    ToolResult(
                        _get(block, "tool_use_id"), _get(block, "content"), bool(_get(block, "is_error"))
                    )
                )
    return results


def with_guidance(kwargs: dict[str, Any], guidance: str | None) -> dict[str, Any]:
    """The request with ``guidance`` at the end of its system prompt (a copy: the caller's
    arguments are not touched)."""
    if guidance is None:
        return kwargs
    sent = dict(kwargs)
    system = kwargs.get("system")
    if isinstance(system, str) and system:
        sent["system"] = f"{system}\n\n{guidance}"
    elif isinstance(system, list | tuple):
        sent["system"] = [*system, {"type": "text", "text": guidance}]
    else:
        sent["system"] = guidance
    return sent


def answer_of(message: Any) -> Answer:
    texts: list[str] = []
    uses: list[tuple[str, str, dict[str, Any]]] = []
    for block in message.content or ():
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            arguments = block.input if isinstance(block.input, dict) else {"input": block.input}
            uses.append((block.id, block.name, arguments))
    return Answer("".join(texts), uses, message.stop_reason, message.model, usage_of(message.usage))


class _Events:
    """A raw event stream (``create(stream=True)``) read into an :class:`Answer`."""

    def __init__(self) -> None:
        self.model: str | None = None
        self.text: list[str] = []
        self.tools: dict[int, tuple[str, str, list[str]]] = {}
        self.usage: dict[str, Any] = {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None,
        }
        self.stop_reason: str | None = None
        self.complete = False

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = event.message
            self.model = message.model
            self._usage(message.usage)
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.tools[event.index] = (block.id, block.name, [])
            elif block.type == "text" and block.text:
                self.text.append(block.text)
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                self.text.append(delta.text)
            elif delta.type == "input_json_delta" and event.index in self.tools:
                self.tools[event.index][2].append(delta.partial_json)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason
            self._usage(event.usage)
        elif kind == "message_stop":
            self.complete = True

    def _usage(self, usage: Any) -> None:
        for name in self.usage:
            value = getattr(usage, name, None)
            if value is not None:
                self.usage[name] = value

    def answer(self) -> Answer:
        uses = []
        for call_id, name, parts in self.tools.values():
            try:
                arguments = json.loads("".join(parts) or "{}")
            except ValueError:
                arguments = {"input": "".join(parts)}
            uses.append((call_id, name, arguments if isinstance(arguments, dict) else {"input": arguments}))
        usage = usage_of(SimpleNamespace(**self.usage))  # type: ignore[arg-type]
        return Answer("".join(self.text), uses, self.stop_reason, self.model, usage)


class Wire:
    """How the Messages API's requests and answers read (``_calls.Wire``)."""

    UNFINISHED = "the stream ended before message_stop"
    request_results = staticmethod(request_results)
    with_guidance = staticmethod(with_guidance)
    answer_of = staticmethod(answer_of)
    accumulator = staticmethod(_Events)


WIRE = Wire()


# --------------------------------------------------------------------------- sync


class Messages(Proxy):
    def create(self, **kwargs: Any) -> Any:
        return create(self._observer, WIRE, self._real.create, kwargs)

    def stream(self, **kwargs: Any) -> Any:
        call, guidance = self._observer.begin(kwargs.get("model"), request_results(kwargs))
        return StreamManager(self._real.stream(**with_guidance(kwargs, guidance)), call)


class StreamManager:
    """``messages.stream(...)``: the SDK's manager, recorded when its block ends."""

    def __init__(self, manager: Any, call: Call) -> None:
        self._manager = manager
        self._call = call
        self._stream: Any = None

    def __enter__(self) -> Any:
        try:
            self._stream = self._manager.__enter__()
        except Exception as error:
            self._call.failed(error)
            raise
        return self._stream

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._manager.__exit__(exc_type, exc, tb)
        _settle(self._call, self._stream, exc)


def _snapshot(stream: Any) -> Any:
    try:
        return stream.current_message_snapshot
    except AssertionError:  # no event came at all
        return None


def _settle(call: Call, stream: Any, exc: BaseException | None) -> None:
    snapshot = _snapshot(stream) if stream is not None else None
    if snapshot is not None and snapshot.stop_reason is not None:
        if exc is None:
            call.succeeded(answer_of(snapshot), snapshot)  # may raise ToolBlocked
        else:
            with contextlib.suppress(Exception):  # the block's own exception is the one to see
                call.succeeded(answer_of(snapshot), snapshot)
    elif exc is not None and _api_error(exc):
        call.failed(exc)
    else:
        partial = answer_of(snapshot) if snapshot is not None else None
        call.abandoned("the stream was left before its end", partial)


def _api_error(exc: BaseException) -> bool:
    import anthropic

    return isinstance(exc, anthropic.AnthropicError)


# --------------------------------------------------------------------------- async


class AsyncMessages(Proxy):
    async def create(self, **kwargs: Any) -> Any:
        return await acreate(self._observer, WIRE, self._real.create, kwargs)

    def stream(self, **kwargs: Any) -> Any:
        return AsyncStreamManager(self._real, self._observer, kwargs)


class AsyncStreamManager:
    """``messages.stream(...)`` of the async client: the request (and its recording) starts
    when the block is entered."""

    def __init__(self, real: Any, observer: Observer, kwargs: dict[str, Any]) -> None:
        self._real = real
        self._observer = observer
        self._kwargs = kwargs
        self._manager: Any = None
        self._call: Call | None = None
        self._stream: Any = None

    async def __aenter__(self) -> Any:
        kwargs = self._kwargs
        call, guidance = await anyio.to_thread.run_sync(
            self._observer.begin, kwargs.get("model"), request_results(kwargs)
        )
        self._call = call
        self._manager = self._real.stream(**with_guidance(kwargs, guidance))
        try:
            self._stream = await self._manager.__aenter__()
        except Exception as error:
            await anyio.to_thread.run_sync(call.failed, error)
            raise
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._manager.__aexit__(exc_type, exc, tb)
        assert self._call is not None
        await anyio.to_thread.run_sync(_settle, self._call, self._stream, exc)
