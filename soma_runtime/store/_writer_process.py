"""A file log's writer connection, in its own OS process.

Why a process and not the connection thread an in-process driver uses: the GIL. SQLite does
its work with the GIL released, but a connection thread needs the GIL back between
statements — to take its next request, to hand over the answer — and a busy event loop lets
go of it only when it polls for I/O or after a whole switch interval (5 ms). Measured here
(``BENCHMARKS.md``, issue 15): with the thread, a commit waited on the loop, and the loop on
the commit, for a third of a durable step; 64 producers appending one event each were held
to ~13k events/s by the switch interval alone. A process shares no GIL: SQLite runs on the
other core while the loop prepares the next batch, and the two meet only in a pipe.

The writer connection lives in the child (``_writer_child``); requests cross as frames and
are answered in the order they were sent (the store may send its next batch before it reads
the last one's answer). Errors come back as what they were — the same ``sqlite3``
exception class, extended code and message — so the log's error handling is the same for
either kind of connection. Reads stay in this process (their own connection): they never
wait behind writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import marshal
import os
import signal
import sqlite3
import sys
from collections import deque
from collections.abc import Sequence
from subprocess import PIPE
from typing import Any, Final

import anyio

from . import _writer_child
from .errors import WriterProcessLost

_HEAD: Final = _writer_child.HEAD
_CHILD: Final = _writer_child.__file__
_PIPE_GONE: Final = (asyncio.IncompleteReadError, ConnectionError, OSError)
_PIPE_BYTES: Final = 1 << 20
"""The request pipe's capacity asked for (Linux's default ``pipe-max-size``)."""
_DRAIN_ABOVE: Final = 1 << 20
"""Bytes a request may leave buffered for the pipe before the sender waits for it to drain."""


class WriterProcess:
    """One SQLite connection in a child process, with the writer's async methods.

    On asyncio's subprocess streams directly (as ``tools._child``): a request is one buffered
    write and its answer one or two reads of a stream that keeps what it read if the reader is
    cancelled — no per-call checkpoints, which on the write path cost a few µs a step.
    """

    def __init__(self, process: asyncio.subprocess.Process, path: str) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.path = path
        self.process = process
        self._requests = process.stdin
        self._answers = process.stdout
        self._turn = asyncio.Lock()  # one reader of the answers at a time
        self._broken: str | None = None
        # Requests sent whose answer is not read yet, in the order they were sent (the order
        # the child answers them in): each answer is kept in its request's future, whoever
        # waits for it — or nobody, if its caller was cancelled while waiting.
        self._owed: deque[asyncio.Future[tuple[Any, ...]]] = deque()
        self._setup: asyncio.Future[tuple[Any, ...]] | None = None  # ``configure``'s, until checked
        self._size: int | None = None  # of the answer being read, once its head is

    @classmethod
    async def start(
        cls, path: str, *, busy_timeout: float, synchronous: str, keep_fds: Sequence[int] = ()
    ) -> WriterProcess:
        """Start the child on ``path``, set its pragmas and wait until it answers. Raises
        ``sqlite3.Error`` if it cannot open the file, :class:`WriterProcessLost` if it did
        not start. (A store's open does not wait: :meth:`spawn`, then :meth:`configure`.)"""
        writer = await cls.spawn(path, busy_timeout=busy_timeout, keep_fds=keep_fds)
        try:
            writer.configure(synchronous)
            await writer.execute("SELECT 1")
        except BaseException:
            await writer.close()
            raise
        return writer

    @classmethod
    async def spawn(cls, path: str, *, busy_timeout: float, keep_fds: Sequence[int] = ()) -> WriterProcess:
        """Start the child on ``path``, not waiting for it to be up: its interpreter's start
        (~15 to 18 ms, most of a store's open) can overlap the opener's own work. ``keep_fds``:
        descriptors it inherits (the writer lock: held until the child is gone too)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-S",
            "-E",
            _CHILD,
            path,
            repr(busy_timeout),
            str(os.getpid()),
            stdin=PIPE,
            stdout=PIPE,
            pass_fds=keep_fds,
        )
        _widen(process.stdin)
        return cls(process, path)

    def configure(self, synchronous: str) -> None:
        """Send the connection's pragmas without waiting for the child to be up: its start
        (~15 ms) overlaps whatever its opener does next. The answer is read before the next
        request is sent, and if it is an error, that request raises it instead."""
        self._setup = self.send(f"PRAGMA synchronous = {synchronous}")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._ask(sql, params, fetch=False)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        rows: list[Any] = await self._ask(sql, params, fetch=True)
        return rows

    def send(self, sql: str, params: Sequence[Any] = (), *, fetch: bool = False) -> asyncio.Future[Any]:
        """Send a request without waiting: the child runs requests in the order they were sent.
        Its answer is :meth:`answer` of the future returned. (The store sends its next batch
        this way while it answers the callers of the last one.)"""
        if self._broken is not None:
            raise WriterProcessLost(self.path, self._broken)
        data = marshal.dumps((sql, tuple(params), fetch))
        self._requests.write(len(data).to_bytes(_HEAD, "big") + data)
        request: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._owed.append(request)
        return request

    async def answer(self, request: asyncio.Future[Any]) -> Any:
        """The answer to a request :meth:`send` sent: its rows if it fetched (else None), or
        the ``sqlite3`` error it raised, raised here. Cancellation-safe, and may be awaited
        again: the answers before it are read (kept in their own futures) until its own is."""
        if not request.done():
            async with self._turn:
                try:
                    while not request.done():
                        if self._broken is not None:
                            raise WriterProcessLost(self.path, self._broken)
                        await self._read_answer()
                except _PIPE_GONE as exc:
                    raise await self._lost(exc) from None
        answer = request.result()
        if answer[0] == "ok":
            return answer[1]
        raise _error(answer)

    async def _ask(self, sql: str, params: Sequence[Any], *, fetch: bool) -> Any:
        setup = self._setup
        if setup is not None:
            # The setup's answer first: a failed one is this request's error (raised once).
            try:
                await self.answer(setup)
            finally:
                if setup.done():
                    self._setup = None
        request = self.send(sql, params, fetch=fetch)
        if self._requests.transport.get_write_buffer_size() > _DRAIN_ABOVE:
            try:
                await self._requests.drain()
            except _PIPE_GONE as exc:
                raise await self._lost(exc) from None
        return await self.answer(request)

    async def _lost(self, exc: BaseException) -> WriterProcessLost:
        """The pipe to the child is gone: make sure the child is too, and say how it ended."""
        self.stop()
        with anyio.move_on_after(1.0):  # reaped at once if it died: its status tells how
            await self.process.wait()
        self._broken = f"{_exit_status(self.process)}; {type(exc).__name__} on its pipe"
        return WriterProcessLost(self.path, self._broken)

    async def _read_answer(self) -> None:
        """Read the next answer into the future of the request it answers. Cancellation-safe:
        a read interrupted anywhere resumes where it stopped (the stream consumes nothing
        until a whole read is there; the size read so far is kept)."""
        if self._size is None:
            self._size = int.from_bytes(await self._answers.readexactly(_HEAD), "big")
        body = await self._answers.readexactly(self._size)
        self._size = None
        self._owed.popleft().set_result(marshal.loads(body))

    async def close(self) -> None:
        """Close the child's stdin and wait for it to close its connection and exit."""
        with anyio.CancelScope(shield=True):
            if self.process.returncode is None:
                self._requests.close()
            await self.process.wait()

    def stop(self) -> None:
        """Kill the child at once (an owner that was killed): SQLite rolls back whatever it
        had not committed."""
        if self.process.returncode is None:
            # Not ``process.kill()``: its ``Popen`` polls first, reaping a child that just
            # died behind the event loop's back, whose status is then lost (255).
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)


def _widen(requests: asyncio.StreamWriter | None) -> None:
    """Give the request pipe room for a whole group commit (~200 KB for 1,000 events). At
    the default 64 KiB a large request is written in pieces, one per turn of the event loop,
    and while the loop is busy the child sits with half a request: measured here, that cost
    ``append_many`` a fifth of its rate. Best effort: the pipe works at any size."""
    pipe = requests.transport.get_extra_info("pipe") if requests is not None else None
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if pipe is not None and set_size is not None:
        with contextlib.suppress(OSError):  # above the system's pipe-max-size: keep the default
            fcntl.fcntl(pipe.fileno(), set_size, _PIPE_BYTES)


def _error(answer: tuple[Any, ...]) -> sqlite3.Error:
    """The ``sqlite3`` exception the child's connection raised (its ``"error"`` answer),
    raised here: the same class, extended code, code name and message."""
    _, name, code, code_name, message = answer
    kind = getattr(sqlite3, name, None)
    if not (isinstance(kind, type) and issubclass(kind, sqlite3.Error)):
        kind = sqlite3.Error
    exc = kind(message)
    exc.sqlite_errorcode = code
    exc.sqlite_errorname = code_name
    return exc


def _exit_status(process: asyncio.subprocess.Process) -> str:
    code = process.returncode
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit status {code}"
