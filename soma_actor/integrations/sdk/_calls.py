"""One observed model call, whichever SDK: the request, the answer or the stream — written
once, sync and async, over a :class:`Wire` (how one SDK's requests and answers read).

A stream is recorded as it is read: each item goes to the wire's accumulator, and when the
stream ends the call succeeded (the accumulator saw the end of the answer) or was cut short;
closed before its end, it was abandoned. The async versions run the recording (blocking
database or socket I/O) in a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._observer import Answer, Call, Observer, ToolResult


class Accumulator(Protocol):
    """A stream's items read into the answer they make up."""

    @property
    def complete(self) -> bool:
        """Whether the end of the answer was seen."""
        ...

    def add(self, item: Any) -> None: ...

    def answer(self) -> Answer: ...


class Wire(Protocol):
    """How one SDK's requests and answers read (its module: ``_anthropic``, ``_openai``)."""

    UNFINISHED: str
    """Why a stream that ended without the end of its answer is recorded as cancelled."""

    def request_results(self, kwargs: dict[str, Any]) -> list[ToolResult]: ...

    def with_guidance(self, kwargs: dict[str, Any], guidance: str | None) -> dict[str, Any]: ...

    def answer_of(self, response: Any) -> Answer: ...

    def accumulator(self) -> Accumulator: ...


CLOSED = "the caller closed the stream before its end"


def create(observer: Observer, wire: Wire, send: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """``send(**kwargs)`` observed: recorded before and after, guidance added, a stream wrapped."""
    call, guidance = observer.begin(kwargs.get("model"), wire.request_results(kwargs))
    try:
        response = send(**wire.with_guidance(kwargs, guidance))
    except Exception as error:
        call.failed(error)
        raise
    if kwargs.get("stream"):
        return Stream(response, call, wire)
    return call.succeeded(wire.answer_of(response), response)


async def acreate(
    observer: Observer, wire: Wire, send: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]
) -> Any:
    """:func:`create` for an async client."""
    begin = observer.begin
    call, guidance = await anyio.to_thread.run_sync(begin, kwargs.get("model"), wire.request_results(kwargs))
    try:
        response = await send(**wire.with_guidance(kwargs, guidance))
    except Exception as error:
        await anyio.to_thread.run_sync(call.failed, error)
        raise
    if kwargs.get("stream"):
        return AsyncStream(response, call, wire)
    return await anyio.to_thread.run_sync(call.succeeded, wire.answer_of(response), response)


class Stream:
    """An SDK stream, recorded as it is read (everything else is the SDK's)."""

    def __init__(self, stream: Any, call: Call, wire: Wire) -> None:
        self._stream = stream
        self._iterator = iter(stream)
        self._call = call
        self._wire = wire
        self._items = wire.accumulator()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self._iterator)
        except StopIteration:
            if self._items.complete:
                self._call.succeeded(self._items.answer(), self)  # may raise ToolBlocked
            else:
                self._call.abandoned(self._wire.UNFINISHED, self._items.answer())
            raise
        except Exception as error:
            self._call.failed(error)
            raise
        self._items.add(item)
        return item

    def close(self) -> None:
        self._stream.close()
        self._call.abandoned(CLOSED, self._items.answer())

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream:
    """An async SDK stream, recorded as it is read."""

    def __init__(self, stream: Any, call: Call, wire: Wire) -> None:
        self._stream = stream
        self._iterator = stream.__aiter__()
        self._call = call
        self._wire = wire
        self._items = wire.accumulator()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self._iterator.__anext__()
        except StopAsyncIteration:
            answer = self._items.answer()
            if self._items.complete:
                await anyio.to_thread.run_sync(self._call.succeeded, answer, self)
            else:
                await anyio.to_thread.run_sync(self._call.abandoned, self._wire.UNFINISHED, answer)
            raise
        except Exception as error:
            await anyio.to_thread.run_sync(self._call.failed, error)
            raise
        self._items.add(item)
        return item

    async def close(self) -> None:
        await self._stream.close()
        await anyio.to_thread.run_sync(self._call.abandoned, CLOSED, self._items.answer())

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Proxy:
    """An SDK resource with everything it has, except what a subclass observes."""

    def __init__(self, real: Any, observer: Observer) -> None:
        self._real = real
        self._observer = observer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)
