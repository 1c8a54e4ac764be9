"""The control API's Unix-socket streams (``control._unix``), on asyncio's own transports.

* A read cancelled in the very turn of the event loop in which its data arrived leaves
  nothing raised on the loop (anyio 4.16's raw-socket streams raise ``InvalidStateError``
  there, every time: the reason this module exists).
* The listener's file is owner-only, and each connection reaches the callback as a stream.
* A peer that went away is the end of the stream to a reader, a broken one to a writer.
* A connection the server has no room for is refused, not queued.
"""

from __future__ import annotations

import asyncio
import socket
import stat
from pathlib import Path
from typing import Any

import anyio
import pytest

from soma_runtime.control._unix import UnixListener, UnixStream, connect_unix
from soma_runtime.control.server import _hand_over
from soma_runtime.kernel import Node, Process

pytestmark = pytest.mark.anyio


async def test_a_read_cancelled_as_its_data_arrives_raises_nothing_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    raised: list[dict[str, Any]] = []
    handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: raised.append(context))
    try:
        for _ in range(50):
            ours, theirs = socket.socketpair(socket.AF_UNIX)
            trigger, pull = socket.socketpair(socket.AF_UNIX)
            reader, writer = await asyncio.open_unix_connection(sock=ours)
            stream = UnixStream(reader, writer)
            receiving = asyncio.ensure_future(stream.receive())
            await anyio.wait_all_tasks_blocked()

            def cancel_it(trigger: socket.socket, receiving: asyncio.Future[bytes]) -> None:
                loop.remove_reader(trigger)
                receiving.cancel()

            # Both sockets readable in one turn: the trigger's callback (registered first)
            # cancels the read after the selector queued the read's own wake-up.
            loop.add_reader(trigger, cancel_it, trigger, receiving)
            pull.send(b"!")
            theirs.send(b"data")
            with pytest.raises(asyncio.CancelledError):
                await receiving
            await stream.aclose()
            for sock in (theirs, trigger, pull):
                sock.close()
    finally:
        loop.set_exception_handler(handler)
    assert raised == []


async def test_a_listener_is_owner_only_and_hands_over_each_connection(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    listener = UnixListener.bind(path, mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    accepted: list[UnixStream] = []
    arrived = anyio.Event()

    def take(stream: UnixStream) -> None:
        accepted.append(stream)
        arrived.set()

    async with anyio.create_task_group() as tg, listener:
        tg.start_soon(listener.serve, take)
        async with await connect_unix(path) as client:
            await client.send(b"ping")
            with anyio.fail_after(5):
                await arrived.wait()
                assert await accepted[0].receive() == b"ping"
            await accepted[0].send(b"pong")
            assert await client.receive() == b"pong"
            await accepted[0].aclose()
            with pytest.raises(anyio.EndOfStream):
                await client.receive()
        tg.cancel_scope.cancel()


async def test_a_peer_gone_ends_the_stream_for_a_reader_and_breaks_it_for_a_writer() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    stream = UnixStream(reader, writer)
    theirs.close()
    with anyio.fail_after(5):
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        with pytest.raises(anyio.BrokenResourceError):
            for _ in range(100):  # the first writes may land in the socket's buffer
                await stream.send(b"x" * 65536)
    await stream.aclose()


async def test_a_connection_the_server_has_no_room_for_is_refused_not_queued() -> None:
    """The listener hands connections over from asyncio's accept callback, which cannot wait:
    a server whose mailbox is full refuses the connection (its client reads the end)."""
    async with Node.open() as node:
        full = node.spawn(_never_receives, capacity=1)
        full.send_nowait("the one message it has room for")
        ours, theirs = socket.socketpair(socket.AF_UNIX)
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        _hand_over(full, UnixStream(reader, writer))
        theirs.setblocking(False)
        with anyio.fail_after(5):
            await anyio.wait_readable(theirs)
        assert theirs.recv(1) == b"", "the refused connection was left open"
        theirs.close()
        full.kill()


async def _never_receives(_process: Process) -> None:
    await anyio.sleep_forever()
