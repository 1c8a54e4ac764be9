"""The control server: a Unix socket that lets other processes see and steer a live runtime.

    soma_sup
    └── ControlServer  (gen_server "soma.control", traps exits)
        ├── acceptor              accepts connections, hands each one to the server
        └── connection × N        one process per client, linked to the server

The server owns the socket. Each accepted connection is served by its own process, so a
slow or stuck client (or a ``follow`` that streams for hours) holds up nobody else, and a
connection that crashes is only logged. When the server stops — the runtime shutting down,
or its supervisor restarting it — it stops the acceptor and every connection first, then
removes the socket file, if the file is still its own.

The socket file is created under a random name, made owner-only (0600) and only then renamed
into place, so no other user can connect in between. A socket file left behind by a dead
runtime is replaced; one on which a runtime still answers is refused (``ControlSocketError``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio

from ..kernel import SHUTDOWN, ExitSignal, GenServer, MailboxFull, Pid, Process, Stop, current_node
from ..kernel.reasons import ExitReason, describe, is_orderly
from ._unix import UnixListener, UnixStream, connect_unix
from .errors import ControlSocketError
from .ops import FOLLOW, BuiltinOps, ControlOps, RuntimeView
from .protocol import (
    BAD_REQUEST,
    INTERNAL,
    MAX_REQUEST_BYTES,
    NOT_FOUND,
    UNKNOWN_OP,
    LineReader,
    LineTooLong,
    ProtocolError,
    Request,
    error_reply,
    event_line,
    ok_reply,
    parse_request,
)

log = logging.getLogger("soma.control")

CONTROL_NAME: Final = "soma.control"
MAX_SOCKET_PATH: Final = 107  # sun_path is 108 bytes on Linux, with its terminating NUL
STOP_TIMEOUT: Final = 1.0  # how long a connection may take to close when the server stops
_FOLLOW_IDS: Final = ("run_id", "session_id", "agent_id", "correlation_id")  # what follow filters on

_CLIENT_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, ConnectionError)


@dataclass(frozen=True, slots=True)
class Accepted:
    """Acceptor → server: a new client connection to serve."""

    stream: UnixStream


class ControlServer(GenServer):
    trap_exit = True  # its acceptor's and connections' exits arrive as messages

    async def init(self, path: str, view: RuntimeView, registered: ControlOps) -> None:
        self.path = Path(path)  # absolute: the runtime made it so
        self.ops = BuiltinOps(view, registered)
        self.listener, identity = await bind_socket(self.path)
        # The file goes with the server however it exits — killed too, when terminate does
        # not run — as a port closes with its owner in OTP: a restarted server then binds
        # afresh instead of finding its predecessor's path still taken.
        self._proc.watch(lambda _pid, _reason: _remove_if_ours(self.path, identity))
        self.connections: set[Pid] = set()
        self.acceptor = current_node().spawn(_accept, self.pid, self.listener, link=True)
        log.info("control API listening on %s", self.path)

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, Accepted):
            pid = current_node().spawn(_connection, message.stream, self.ops, link=True)
            self.connections.add(pid)
        elif isinstance(message, ExitSignal):
            if message.pid == self.acceptor:
                # Without its acceptor the server serves nobody: let the supervisor restart it.
                raise Stop(message.reason)
            self.connections.discard(message.pid)
            if not is_orderly(message.reason):
                log.warning("control connection %s crashed: %s", message.pid, describe(message.reason))

    async def terminate(self, reason: ExitReason) -> None:
        node = current_node()
        await node.stop(self.acceptor, SHUTDOWN, STOP_TIMEOUT)
        await self.listener.aclose()  # the acceptor closed it, unless it never got to run
        await asyncio.gather(*(node.stop(pid, SHUTDOWN, STOP_TIMEOUT) for pid in self.connections))


# --------------------------------------------------------------------------- the socket


async def bind_socket(path: Path) -> tuple[UnixListener, tuple[int, int]]:
    """Listen on ``path`` (owner-only), replacing a dead runtime's socket file; returns the
    listener and the file's identity (device, inode), to remove only our own file later."""
    temp = path.with_name(f".soma-{secrets.token_hex(4)}")
    if _socket_in_the_way(path, temp):
        if await _answers(path):
            raise ControlSocketError(path, "another runtime is listening on it")
        log.info("replacing the stale control socket %s (its runtime is gone)", path)
    listener = UnixListener.bind(temp, mode=0o600)
    try:
        return listener, _move_into_place(temp, path)
    except BaseException:
        await listener.aclose()
        temp.unlink(missing_ok=True)
        raise


def _socket_in_the_way(path: Path, temp: Path) -> bool:
    """Check ``path`` can be served; True if a socket file is already there."""
    size = len(os.fsencode(path))
    limit = MAX_SOCKET_PATH - max(0, len(temp.name) - len(path.name))  # the temporary name must fit too
    if size > limit:
        raise ControlSocketError(path, f"the path is {size} bytes, too long for a Unix socket (max {limit})")
    if not path.parent.is_dir():
        raise ControlSocketError(path, f"directory {str(path.parent)!r} does not exist")
    try:
        found = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(found.st_mode):
        raise ControlSocketError(path, "it exists and is not a socket; refusing to replace it")
    return True


def _move_into_place(temp: Path, path: Path) -> tuple[int, int]:
    os.replace(temp, path)  # atomic: a stale file is swapped out, never missing
    st = path.stat()
    return st.st_dev, st.st_ino


async def _answers(path: Path) -> bool:
    """Whether something accepts connections on the socket at ``path``."""
    try:
        with anyio.fail_after(1.0):
            stream = await connect_unix(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except PermissionError:
        raise ControlSocketError(path, "the socket belongs to another user") from None
    except TimeoutError:
        return True  # a backlog so full that it cannot accept is a busy runtime, not a dead one
    await stream.aclose()
    return True


def _remove_if_ours(path: Path, identity: tuple[int, int]) -> None:
    try:
        st = path.stat()
        if (st.st_dev, st.st_ino) == identity:
            path.unlink()
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------- processes


async def _accept(proc: Process, server: Pid, listener: UnixListener) -> None:
    # Closing the listener when the acceptor ends (a killed server stops it through the
    # link) frees the socket even when the server's terminate never runs.
    async with listener:
        await listener.serve(lambda stream: _hand_over(server, stream))


def _hand_over(server: Pid, stream: UnixStream) -> None:
    try:
        server.send_nowait(Accepted(stream))
    except MailboxFull:
        # More connections waiting than the server holds: this one is refused, not queued.
        log.warning("control API: too many connections waiting; one was refused")
        stream.abort()


async def _connection(proc: Process, stream: UnixStream, ops: BuiltinOps) -> None:
    """Serve one client: requests in order, each answered before the next is read."""
    async with stream:
        reader = LineReader(stream, MAX_REQUEST_BYTES)
        try:
            while True:
                try:
                    line = await reader.next()
                except LineTooLong as exc:
                    message = f"request line is longer than {exc.limit} bytes (discarded)"
                    await stream.send(error_reply(None, BAD_REQUEST, message))
                    continue
                if line is None:
                    return
                if not line.strip():
                    continue
                try:
                    request = parse_request(line)
                    if request.op == FOLLOW:
                        await _follow(stream, reader, ops, request)
                        return
                except ProtocolError as exc:
                    await stream.send(error_reply(exc.request_id, exc.code, exc.message))
                    continue
                await stream.send(await _answer(ops, request))
        except _CLIENT_GONE:
            return


async def _answer(ops: BuiltinOps, request: Request) -> bytes:
    handler = ops.handler(request.op)
    if handler is None:
        known = ", ".join(ops.names())
        return error_reply(request.id, UNKNOWN_OP, f"unknown op {request.op!r}; this runtime serves {known}")
    try:
        result = await handler(dict(request.params))
    except LookupError as exc:
        return error_reply(request.id, NOT_FOUND, _message(exc))
    except (ValueError, TypeError) as exc:
        return error_reply(request.id, BAD_REQUEST, _message(exc))
    except Exception as exc:
        log.exception("control op %r failed", request.op)
        return error_reply(request.id, INTERNAL, f"op {request.op!r} failed: {type(exc).__name__}: {exc}")
    try:
        return ok_reply(request.id, result)
    except (TypeError, ValueError) as exc:
        return error_reply(request.id, INTERNAL, f"the result of op {request.op!r} is not JSON: {exc}")


def _message(exc: Exception) -> str:
    # str(KeyError("x")) is "'x'": a handler's message should read as written.
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__


async def _follow(stream: UnixStream, reader: LineReader, ops: BuiltinOps, request: Request) -> None:
    """Stream events from ``from_seq`` on until the client closes (or the store stops)."""
    params = dict(request.params)
    from_seq = params.pop("from_seq", 0)
    types = params.pop("types", None)
    ids = {name: params.pop(name) for name in _FOLLOW_IDS if name in params}
    if params:
        raise ProtocolError(BAD_REQUEST, f"op 'follow' takes no parameter {sorted(params)[0]!r}", request.id)
    for name, value in ids.items():
        if not isinstance(value, str) or not value:
            message = f"{name!r} must be a non-empty string, got {value!r:.80}"
            raise ProtocolError(BAD_REQUEST, message, request.id)
    if isinstance(from_seq, bool) or not isinstance(from_seq, int) or from_seq < 0:
        raise ProtocolError(BAD_REQUEST, f"'from_seq' must be an int >= 0, got {from_seq!r:.80}", request.id)
    if types is not None and (
        not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types)
    ):
        raise ProtocolError(
            BAD_REQUEST, f"'types' must be a non-empty list of event types, got {types!r:.80}", request.id
        )
    subscription = ops.view.events.subscribe(from_seq, type=types, **ids)
    await stream.send(ok_reply(request.id, {"from_seq": from_seq}))

    async def until_closed(scope: anyio.CancelScope) -> None:
        # A follow connection carries nothing more from the client: read only to notice it
        # closing, which ends the stream even while no event comes.
        try:
            while True:
                try:
                    if await reader.next() is None:
                        break
                except LineTooLong:
                    continue
        except _CLIENT_GONE:
            pass
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(until_closed, tg.cancel_scope)
        async for event in subscription:
            await stream.send(event_line(request.id, event.model_dump(mode="json")))
        tg.cancel_scope.cancel()  # the store stopped in an orderly way: nothing more will come
