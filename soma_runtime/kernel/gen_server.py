"""GenServer: the client-server behaviour.

Subclass and override the async callbacks. The loop below is the whole behaviour:

* ``start_link``/``start`` return only after ``init`` has run (OTP's synchronous start);
  an exception in ``init`` fails the start with ``StartError`` and the linked caller does not
  receive an exit signal for it (OTP 26's ``init_fail`` semantics).
* ``handle_call``'s return value is the reply. Return ``NOREPLY`` to reply later through
  ``caller.reply(value)``; raise ``Stop(reason, reply=…)`` to stop, replying first.
* An exception in any callback crashes the server with the exception as its exit reason;
  the caller whose call was being served gets ``ProcessDied``.
* ``terminate(reason)`` runs on a graceful stop (``Stop``, a supervisor's shutdown, an exit
  signal from the parent while trapping, a link death while not trapping) and, as in OTP,
  after a callback crashed (with the exception) — never on kill.
* ``set_timeout(s)``: OTP's inactivity timeout. If no message arrives within ``s`` seconds
  after the current callback, ``handle_info(TIMEOUT)`` runs; ``0`` means "as soon as the
  mailbox is empty", the idiom for batching work (group commit) behind a burst of messages.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, ClassVar, TypeVar

from . import _behaviour
from ._behaviour import IGNORE as IGNORE
from .errors import Exit
from .process import Call, Cast, ExitSignal, Pid, Process, current_process, recycle_cast
from .reasons import NORMAL, ExitReason

S = TypeVar("S", bound="GenServer")


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NOREPLY: Any = _Sentinel("NOREPLY")
"""Return from ``handle_call`` to reply later with ``caller.reply(value)``."""


TIMEOUT: Any = _Sentinel("TIMEOUT")
"""The message ``handle_info`` gets when a ``set_timeout`` inactivity timeout expires."""


class Stop(Exception):
    """Raise from a callback to stop the server gracefully (``terminate`` runs)."""

    _no_reply: ClassVar[object] = object()

    def __init__(self, reason: ExitReason = NORMAL, reply: Any = _no_reply) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply


class _InactivityTimeout:
    __slots__ = ("generation",)

    def __init__(self, generation: int) -> None:
        self.generation = generation


class GenServer(_behaviour.Behaviour):
    """Base class of client-server processes. ``self.pid`` is set before ``init`` runs."""

    pid: Pid
    _proc: Process
    _timeout: float | None = None
    _timeout_generation: int = 0

    # -- callbacks --------------------------------------------------------------------------

    async def init(self, *args: Any) -> Any:
        """Set up state. Return ``IGNORE`` to not start; raise to fail the start."""
        return None

    async def handle_call(self, request: Any, caller: Call) -> Any:
        raise NotImplementedError(f"{type(self).__name__} got an unexpected call {request!r}")

    async def handle_cast(self, message: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} got an unexpected cast {message!r}")

    async def handle_info(self, message: Any) -> None:
        """Plain messages, ``Down``, trapped ``ExitSignal`` and ``TIMEOUT``. Ignored by default."""

    async def terminate(self, reason: ExitReason) -> None:
        """Clean up on a graceful stop. Not called when the process is killed."""

    # -- helpers for subclasses ----------------------------------------------------------------

    def set_timeout(self, seconds: float | None) -> None:
        """Arm (or with None, disarm) the inactivity timeout after the current callback."""
        self._timeout = seconds

    # -- the loop ------------------------------------------------------------------------------

    async def _serve(self, proc: Process, args: tuple[Any, ...], started: asyncio.Future[Any]) -> None:
        self.pid = proc.pid
        self._proc = proc
        proc.behaviour = self
        # partial, not a lambda: a lambda's closure would turn self and args into cells
        # that this frame keeps for the server's whole life.
        outcome = await _behaviour.initialise(proc, started, partial(self.init, *args), _start_failure)
        if outcome is IGNORE:
            return
        started.set_result(None)
        del started, args  # answered: an idle server keeps neither
        proc.current = None  # the start handshake is answered
        # The serving loop lives in this same frame (no helper coroutines while idle):
        # every suspended frame is memory held by every idle server.
        mailbox = proc.mailbox
        try:
            while True:
                if self._timeout is not None:
                    msg = await self._next_with_timeout(proc)
                else:
                    # ``_items`` is empty exactly when no message is pending (see Mailbox).
                    while not mailbox._items:
                        await mailbox.waiter()
                    msg = mailbox.get_nowait()
                proc.current = msg
                kind = type(msg)
                try:
                    if kind is Call:
                        reply = await self.handle_call(msg.request, msg)
                        if reply is NOREPLY:
                            if not msg.answered:
                                if proc.deferred_calls is None:
                                    proc.deferred_calls = set()
                                proc.deferred_calls.add(msg)
                                msg._server = proc
                        else:
                            msg.reply(reply)
                    elif kind is Cast:
                        await self.handle_cast(msg.message)
                        recycle_cast(msg)  # ours alone now: proc.current is cleared below
                    elif kind is ExitSignal and msg.pid == proc.parent and proc.trap_exit:
                        # OTP: an exit signal from the parent stops a trapping server.
                        raise Stop(msg.reason)
                    elif kind is _InactivityTimeout:
                        pass  # a timer that fired as a message arrived: stale, never user data
                    else:
                        await self.handle_info(msg)
                except Stop as stop:
                    if kind is Call and stop.reply is not Stop._no_reply:
                        msg.reply(stop.reply)
                    # An unanswered call stays current: exited() fails it with the reason
                    # (it used to be dropped here, leaving the caller hanging).
                    if kind is not Call or msg.answered:
                        proc.current = None
                    await self.terminate(stop.reason)
                    raise Exit(stop.reason) from None
                except (Exception, Exit) as crash:
                    # OTP's gen_server runs terminate(Reason) when a callback crashes or
                    # exits too (only a kill skips it), then exits with that reason.
                    await self.terminate(crash.reason if isinstance(crash, Exit) else crash)
                    raise
                proc.current = None
        except asyncio.CancelledError:
            stop_reason = proc._stop_reason
            if stop_reason is None or not proc.alive:
                raise  # killed, or cancelled from outside the kernel: no terminate
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self.terminate(stop_reason)
            raise Exit(stop_reason) from None

    async def _next_with_timeout(self, proc: Process) -> Any:
        """The next message, or TIMEOUT if none arrives within the armed inactivity timeout."""
        mailbox = proc.mailbox
        timeout = self._timeout
        assert timeout is not None
        self._timeout = None
        while len(mailbox):
            msg = mailbox.get_nowait()
            # Any expiry already queued is stale (this timeout has no timer yet). Handed to
            # the loop, it would be dropped there and take this armed timeout with it.
            if type(msg) is not _InactivityTimeout:
                return msg
        if timeout <= 0:
            return TIMEOUT
        self._timeout_generation += 1
        generation = self._timeout_generation
        clock = proc.node.clock
        timer = clock.call_at(
            clock.now() + timeout, lambda: mailbox.put_signal(_InactivityTimeout(generation))
        )
        try:
            while True:
                msg = await mailbox.get()
                if type(msg) is not _InactivityTimeout:
                    return msg
                if msg.generation == generation:
                    return TIMEOUT
        finally:
            timer.cancel()


def _start_failure(e: BaseException) -> ExitReason:
    # Stop(reason) from init is OTP's {stop, Reason}: the start fails with Reason.
    return e.reason if isinstance(e, (Exit, Stop)) else e


def whoami() -> GenServer | None:
    """The GenServer instance of the calling process, if it is one (for tests and tools)."""
    proc = current_process()
    behaviour = None if proc is None else proc.behaviour
    return behaviour if isinstance(behaviour, GenServer) else None
