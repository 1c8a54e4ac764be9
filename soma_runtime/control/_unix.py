"""Unix-socket streams for the control API, on asyncio's own transports.

Why not anyio's (``anyio.connect_unix``, ``create_unix_listener``): on asyncio, those wait for
a readable socket with a future that the selector's callback completes. A wait cancelled in
the same turn of the event loop in which its socket became readable gets that future
completed after its cancellation: ``InvalidStateError``, raised on the loop, outside any task
(anyio 4.16). In a service that is an error logged at shutdown; in Soma's suite it failed a
test whose dashboard polled a runtime that was closing; ``tests/control/test_unix.py``
reproduces it every time. The control API cancels reads all the time — every connection
process is stopped when the server stops, every client call has a timeout — so it reads
through asyncio's streams, whose protocol wakes a reader only if it still waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import AsyncResource, ByteStream

_CLOSE_GRACE: Final = 1.0
"""Seconds a closing stream may take to flush what it still has to send, before it is cut."""


class UnixStream(ByteStream):
    """One connection: anyio's byte-stream interface over an asyncio reader and writer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def receive(self, max_bytes: int = 65536) -> bytes:
        try:
            data = await self._reader.read(max_bytes)
        except OSError as exc:
            raise anyio.BrokenResourceError from exc
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        if self._writer.is_closing():
            raise anyio.BrokenResourceError  # closed by us, or the peer went away
        self._writer.write(item)
        try:
            await self._writer.drain()
        except OSError as exc:
            raise anyio.BrokenResourceError from exc

    async def send_eof(self) -> None:
        self._writer.write_eof()

    async def aclose(self) -> None:
        self._writer.close()
        # Shielded and bounded: a close completes (what is buffered is flushed, or cut after
        # a grace) even when its closer is being cancelled — a connection process stopped.
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_GRACE), contextlib.suppress(OSError):
            await self._writer.wait_closed()
        self.abort()

    def abort(self) -> None:
        """Cut the connection at once, dropping whatever was not sent yet (a no-op once it
        is closed)."""
        self._writer.transport.abort()


async def connect_unix(path: str | Path) -> UnixStream:
    """Connect to the Unix socket at ``path``; raises what ``socket.connect`` raises
    (``FileNotFoundError``, ``ConnectionRefusedError``, ``PermissionError``…)."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    return UnixStream(reader, writer)


class UnixListener(AsyncResource):
    """A listening Unix socket; :meth:`serve` hands each connection to a callback."""

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock
        self._server: asyncio.Server | None = None

    @classmethod
    def bind(cls, path: Path, mode: int) -> UnixListener:
        """Listen at ``path`` (which must not exist), the file made ``mode`` before anyone can
        connect: a connection needs ``listen``, which comes after the ``chmod``."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            os.chmod(path, mode)
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def serve(self, accepted: Callable[[UnixStream], None]) -> None:
        """Accept connections until cancelled, calling ``accepted`` with each (at once, in
        the event loop's turn that accepted it). Accepting is asyncio's: out of descriptors
        or memory, it logs and tries again a moment later rather than giving up."""
        server = self._server = await asyncio.start_unix_server(
            lambda reader, writer: accepted(UnixStream(reader, writer)), sock=self._socket
        )
        try:
            await server.serve_forever()
        finally:
            server.close()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()  # it lets go of the socket first (closing it too)
        self._socket.close()
