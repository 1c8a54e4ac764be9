"""A file log's writer connection, in its own OS process.

Why a process and not the connection thread an in-process driver uses: the GIL. SQLite does
its work with the GIL released, but a connection thread needs the GIL back between
statements — to take its next request, to hand over the answer — and a busy event loop lets
go of it only when it polls for I/O or after a whole switch interval (5 ms). Measured here
(``BENCHMARKS.md``, issue 15): with the thread, a commit waited on the loop, and the loop on
the commit, for a third of a durable step; 64 producers appending one event each were held
to ~13k events/s by the switch interval alone. A process shares no GIL: SQLite runs on the
other core while the loop prepares the next batch, and the two meet only in a pipe.

The writer connection lives in the child (``_writer_child``); requests cross as frames, one
at a time, answered in order. Errors come back as what they were — the same ``sqlite3``
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
        self._turn = asyncio.Lock()  # one request in flight: answers come in order
        self._broken: str | None = None
        # Requests sent whose answer is not read yet, in order: True where an error in the
        # answer must still be raised (the setup's), False where nobody waits for it.
        self._owed: deque[bool] = deque()
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
        request's, and if it is an error, that request raises it instead of being sent."""
        self._send(f"PRAGMA synchronous = {synchronous}", (), fetch=False)
        self._owed.append(True)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._ask(sql, params, fetch=False)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        rows: list[Any] = await self._ask(sql, params, fetch=True)
        return rows

    async def _ask(self, sql: str, params: Sequence[Any], *, fetch: bool) -> Any:
        async with self._turn:
            if self._broken is not None:
                raise WriterProcessLost(self.path, self._broken)
            try:
                # Answers still owed come first, in order: the child runs its requests in
                # order, whoever still waits for them. One whose caller was cancelled while
                # waiting is read and dropped — so a request asked after an interrupted
                # INSERT is answered after that INSERT finished, as on an in-process
                # connection (``EventStore._settle``); the setup's is checked (``configure``).
                while self._owed:
                    checked = self._owed[0]
                    owed = await self._answer()
                    if checked and owed[0] != "ok":
                        raise _error(owed)
                self._send(sql, params, fetch=fetch)
                self._owed.append(False)
                if self._requests.transport.get_write_buffer_size() > _DRAIN_ABOVE:
                    await self._requests.drain()
                answer = await self._answer()
            except _PIPE_GONE as exc:
                self.stop()
                with anyio.move_on_after(1.0):  # reaped at once if it died: its status tells how
                    await self.process.wait()
                self._broken = f"{_exit_status(self.process)}; {type(exc).__name__} on its pipe"
                raise WriterProcessLost(self.path, self._broken) from None
        if answer[0] == "ok":
            return answer[1]
        raise _error(answer)

    def _send(self, sql: str, params: Sequence[Any], *, fetch: bool) -> None:
        data = marshal.dumps((sql, tuple(params), fetch))
        self._requests.write(len(data).to_bytes(_HEAD, "big") + data)

    async def _answer(self) -> Any:
        """The next answer. Cancellation-safe: a read interrupted anywhere resumes where it
        stopped (the stream consumes nothing until a whole read is there; the size read so
        far is kept)."""
        if self._size is None:
            self._size = int.from_bytes(await self._answers.readexactly(_HEAD), "big")
        body = await self._answers.readexactly(self._size)
        self._size = None
        self._owed.popleft()
        return marshal.loads(body)

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
