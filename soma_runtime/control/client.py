"""``ControlClient``: talk to a live runtime over its control socket.

    async with ControlClient.connect("soma.sock") as client:
        print((await client.hello())["last_seq"])
        for run in await client.runs():
            print(run["run_id"], run["state"])
        async for event in client.follow(from_seq=1, types=["run.*"]):
            print(event.seq, event.type)
        started = await client.start_run([Step("s1", "echo", {"value": "hi"})], agent_id="ops")
        print((await client.run_result(started["run_id"]))["outputs"])

Requests on one client are sent one at a time (concurrent callers take turns). ``follow``
opens a connection of its own, so a client can follow events and keep asking at once.
Nothing answering raises :class:`NoRuntimeListening`; an error reply raises
:class:`ControlError` with the server's code.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import anyio

from ._unix import UnixStream, connect_unix
from .errors import ControlError, NoRuntimeListening
from .protocol import (
    INTERNAL,
    MAX_REPLY_BYTES,
    PROTOCOL_VERSION,
    VERSION,
    HelloView,
    LineReader,
    LineTooLong,
    ProcessView,
    RunResultView,
    RunView,
    SessionView,
    StartedRunView,
    request_line,
)

if TYPE_CHECKING:
    from ..execution.steps import Step
    from ..store.events import Event

DEFAULT_TIMEOUT = 10.0
"""Seconds to connect, or to wait for one reply (``cancel_run`` waits for the run to end)."""

_UNREACHABLE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, ConnectionError)


class ControlClient:
    """One connection to a runtime's control socket. Open it with :meth:`connect`."""

    def __init__(self, path: str, stream: UnixStream, timeout: float | None) -> None:
        self.path = path
        self.timeout = timeout
        self._stream = stream
        self._reader = LineReader(stream, MAX_REPLY_BYTES)
        self._ids = itertools.count(1)
        self._lock = anyio.Lock()

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, path: str | os.PathLike[str], *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> AsyncIterator[ControlClient]:
        """Connect to the runtime serving ``path``; :class:`NoRuntimeListening` if none does."""
        where = os.fspath(path)
        stream = await _open(where, timeout)
        async with stream:
            yield cls(where, stream, timeout)

    # -- the ops --------------------------------------------------------------------------------

    async def hello(self) -> HelloView:
        """Protocol version, Soma version, OS pid, database, last seq and the ops served."""
        return cast(HelloView, await self.request("hello"))

    async def sessions(self) -> list[SessionView]:
        return cast(list[SessionView], await self.request("sessions"))

    async def runs(self, recent: int = 20) -> list[RunView]:
        """Live runs, then up to ``recent`` finished ones (newest first)."""
        return cast(list[RunView], await self.request("runs", recent=recent))

    async def actors(self) -> list[dict[str, Any]]:
        """The actor layer's actors (``[]`` when no actor layer runs in the runtime)."""
        return cast(list[dict[str, Any]], await self.request("actors"))

    async def tree(self) -> list[ProcessView]:
        """The supervision tree: pids, names, states, queue depths, current messages."""
        return cast(list[ProcessView], await self.request("tree"))

    async def cancel_run(self, run_id: str) -> RunResultView:
        """Cancel a run; returns its result once terminal (``not_found`` for an unknown run)."""
        return cast(RunResultView, await self.request("cancel_run", run_id=run_id))

    async def cancel_task(self, task_id: str) -> Any:
        """Cancel an actor task (served by the actor layer when one runs)."""
        return await self.request("cancel_task", task_id=task_id)

    async def start_run(
        self,
        steps: Sequence[Step | Mapping[str, Any]],
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        timeout: float | None = None,
        wait: bool = False,
    ) -> StartedRunView | RunResultView:
        """Start a run of ``steps`` in the session kept for ``agent_id`` (or in the live
        session ``session_id``); ``timeout`` bounds the run. Returns where it started, or
        with ``wait`` its result once it ended (this request then waits as long as the run).
        A run the runtime refuses raises ``ControlError`` (code ``bad_request``)."""
        params: dict[str, Any] = {
            "steps": [dict(s) if isinstance(s, Mapping) else s.to_json() for s in steps],
            "agent_id": agent_id,
            "session_id": session_id,
            "timeout": timeout,
            "wait": wait,
        }
        params = {k: v for k, v in params.items() if v is not None}
        return cast(StartedRunView | RunResultView, await self._request("start_run", params, not wait))

    async def run_result(self, run_id: str) -> RunResultView:
        """Wait for the run to end (however long it takes) and return its result."""
        return cast(RunResultView, await self._request("run_result", {"run_id": run_id}, False))

    async def send_task(
        self, actor_id: str, message: str, *, timeout: float | None = None, wait: bool = False
    ) -> Any:
        """Give the actor ``actor_id`` a task (served by the actor layer): its
        ``TaskStartedView``, or with ``wait`` the task's result once it ended."""
        params: dict[str, Any] = {"actor_id": actor_id, "message": message, "wait": wait}
        if timeout is not None:
            params["timeout"] = timeout
        return await self._request("send_task", params, not wait)

    async def request(self, op: str, **params: Any) -> Any:
        """Send any op (those a layer registered, too) and return its result."""
        return await self._request(op, params, True)

    async def _request(self, op: str, params: dict[str, Any], bounded: bool) -> Any:
        """``bounded``: the reply must come within :attr:`timeout` (ops that wait for work
        to end are not)."""
        limit = self.timeout if bounded else None
        async with self._lock:
            request_id = next(self._ids)
            try:
                with anyio.fail_after(limit):
                    await self._stream.send(request_line(request_id, op, params))
                    reply = await _reply(self._reader, self.path)
            except _UNREACHABLE:
                raise NoRuntimeListening(self.path, "the runtime closed the connection") from None
            except TimeoutError:
                # A late reply would be read as the answer to the next request: this
                # connection is done.
                await self._stream.aclose()
                raise NoRuntimeListening(self.path, f"no reply to {op!r} within {limit}s") from None
        return _result(reply, request_id)

    # -- events ---------------------------------------------------------------------------------

    async def follow(
        self,
        from_seq: int = 0,
        types: Sequence[str] | None = None,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        correlation_id: str | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Every event from ``from_seq`` on (``types``: names or families like ``"run.*"``;
        the ids: only events that carry them), history first, then live, until the caller
        stops iterating or the runtime stops."""
        # Imported here: a client that only asks and cancels never builds an event, and a
        # command like `soma cancel` must not pay for the envelope's pydantic model.
        from ..store.events import Event

        stream = await _open(self.path, self.timeout)
        async with stream:
            reader = LineReader(stream, MAX_REPLY_BYTES)
            params: dict[str, Any] = {"from_seq": from_seq}
            if types is not None:
                params["types"] = [types] if isinstance(types, str) else list(types)
            ids = {"run_id": run_id, "session_id": session_id, "agent_id": agent_id}
            ids["correlation_id"] = correlation_id
            params.update({name: value for name, value in ids.items() if value is not None})
            try:
                with anyio.fail_after(self.timeout):
                    await stream.send(request_line(0, "follow", params))
                    _result(await _reply(reader, self.path), 0)
                while True:
                    line = await reader.next()
                    if line is None:
                        return  # the runtime stopped
                    yield Event.model_validate(_decode(line, self.path)["event"])
            except _UNREACHABLE:
                return
            except TimeoutError:
                raise NoRuntimeListening(self.path, f"no reply to 'follow' within {self.timeout}s") from None


async def _open(path: str, timeout: float | None) -> UnixStream:
    try:
        with anyio.fail_after(timeout):
            return await connect_unix(path)
    except FileNotFoundError:
        raise NoRuntimeListening(path, "no such socket (is `soma serve` running?)") from None
    except ConnectionRefusedError:
        raise NoRuntimeListening(path, "connection refused (a stale socket: its runtime is gone)") from None
    except PermissionError:
        raise NoRuntimeListening(path, "permission denied (the socket belongs to another user)") from None
    except TimeoutError:
        raise NoRuntimeListening(path, f"could not connect within {timeout}s") from None
    except OSError as exc:
        raise NoRuntimeListening(path, exc.strerror or str(exc)) from None


async def _reply(reader: LineReader, path: str) -> dict[str, Any]:
    while True:
        try:
            line = await reader.next()
        except LineTooLong as exc:
            raise ControlError(INTERNAL, f"a reply was longer than {exc.limit} bytes") from None
        if line is None:
            raise NoRuntimeListening(path, "the runtime closed the connection")
        if line.strip():
            return _decode(line, path)


def _decode(line: bytes, path: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except ValueError:
        raise ControlError(INTERNAL, f"{path} answered with a line that is not JSON: {line[:80]!r}") from None
    if not isinstance(data, dict):
        raise ControlError(INTERNAL, f"{path} answered with a JSON {type(data).__name__}, not an object")
    if data.get("v") != PROTOCOL_VERSION:
        version = data.get("v")
        raise ControlError(VERSION, f"{path} speaks protocol {version!r}; this client v{PROTOCOL_VERSION}")
    return data


def _result(reply: dict[str, Any], request_id: int) -> Any:
    if reply.get("id") not in (request_id, None):
        raise ControlError(INTERNAL, f"reply to request {reply.get('id')!r} while waiting for {request_id}")
    if reply.get("ok") is True:
        return reply.get("result")
    error = reply.get("error")
    if not isinstance(error, dict):
        raise ControlError(INTERNAL, f"malformed reply: {reply!r:.200}")
    raise ControlError(str(error.get("code", INTERNAL)), str(error.get("message", "")))
