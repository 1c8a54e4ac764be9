"""What GenServer and GenStatem share: OTP's synchronous start.

The starter spawns the process and waits on a handshake future until ``init`` has run. The
handshake is registered as the call the new process is serving, so if the process dies
before answering (killed or stopped during ``init``, or before its task ever ran)
``Process.exited`` fails it like any interrupted call, and the starter gets ``StartError``
instead of hanging. A failed ``init`` unlinks from the parent first: the starter hears of
the failure as ``StartError``, not also as an exit signal that would take it down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from .errors import Exit, ProcessDied, StartError
from .mailbox import Overflow
from .node import current_node
from .process import Call, Pid, Process
from .reasons import ExitReason


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


IGNORE: Any = _Sentinel("IGNORE")
"""Return from ``init`` to not start (a supervisor keeps the spec with no pid)."""

_INIT = _Sentinel("init")  # the request of the start handshake


class StartFailed:
    __slots__ = ("reason",)

    def __init__(self, reason: ExitReason) -> None:
        self.reason = reason


async def start(
    serve: Callable[..., Awaitable[None]],
    args: tuple[Any, ...],
    *,
    link: bool,
    name: str | None,
    trap_exit: bool,
    capacity: int | None,
    overflow: Overflow,
) -> Pid | None:
    """Spawn ``serve(process, args, started)`` and return once its ``init`` has answered."""
    started: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    pid = current_node().spawn(
        serve, args, started, link=link, name=name, trap_exit=trap_exit, capacity=capacity, overflow=overflow
    )
    pid.process.current = Call(_INIT, started, None)
    try:
        outcome = await started
    except ProcessDied as died:
        raise StartError(died.reason) from None
    except BaseException:
        pid.kill()  # the starter was cancelled mid-start: leave no orphan behind
        raise
    if outcome is IGNORE:
        return None
    if isinstance(outcome, StartFailed):
        cause = outcome.reason if isinstance(outcome.reason, BaseException) else None
        raise StartError(outcome.reason) from cause
    return pid


async def initialise(
    proc: Process,
    started: asyncio.Future[Any],
    init: Callable[[], Awaitable[Any]],
    reason_of: Callable[[BaseException], ExitReason],
) -> Any:
    """Run ``init`` in the new process. Returns its outcome once the start is acknowledged,
    or ``IGNORE`` (the caller then returns: a normal exit). A failure exits the process."""
    try:
        outcome = await init()
    except (Exception, Exit) as e:
        reason = reason_of(e)
        if proc.parent is not None:
            proc.unlink(proc.parent)
        if not started.done():
            started.set_result(StartFailed(reason))
        raise Exit(reason) from None
    if outcome is IGNORE:
        if proc.parent is not None:
            proc.unlink(proc.parent)
        started.set_result(IGNORE)
        return IGNORE
    return outcome


class Behaviour:
    """The starting half of GenServer and GenStatem: class-level process options and the
    ``start_link`` / ``start`` pair. A subclass supplies ``_serve``."""

    trap_exit: ClassVar[bool] = False
    mailbox_capacity: ClassVar[int | None] = None
    overflow: ClassVar[Overflow] = Overflow.BLOCK

    async def _serve(self, proc: Process, args: tuple[Any, ...], started: asyncio.Future[Any]) -> None:
        raise NotImplementedError

    @classmethod
    async def start_link(cls, *args: Any, name: str | None = None, capacity: int | None = None) -> Pid | None:
        """Start linked to the calling process; returns after ``init`` (None if it ignored)."""
        return await cls._start_server(args, link=True, name=name, capacity=capacity)

    @classmethod
    async def start(cls, *args: Any, name: str | None = None, capacity: int | None = None) -> Pid | None:
        """Start without a link; returns after ``init`` (None if it ignored)."""
        return await cls._start_server(args, link=False, name=name, capacity=capacity)

    @classmethod
    async def _start_server(
        cls, args: tuple[Any, ...], *, link: bool, name: str | None, capacity: int | None
    ) -> Pid | None:
        return await start(
            cls()._serve,
            args,
            link=link,
            name=name,
            trap_exit=cls.trap_exit,
            capacity=capacity if capacity is not None else cls.mailbox_capacity,
            overflow=cls.overflow,
        )
