"""The Node: the root that owns every process, the name registry and the clock.

``async with Node.open() as node:`` is the structured-concurrency boundary of the kernel.
When the block exits, the node stops every process still alive — parentless ones
gracefully, in reverse start order, so a supervision tree shuts down the way OTP's does —
then kills what is left and awaits every task it ever created. Nothing leaks.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import anyio

from ._timeouts import TimeoutWheel
from .clock import Clock, MonotonicClock
from .errors import AlreadyRegistered, NameTaken, NoProc
from .mailbox import DEFAULT_CAPACITY, Mailbox, Overflow
from .process import Body, Pid, Process, current_process
from .reasons import SHUTDOWN, ExitReason

_current_node: ContextVar[Node | None] = ContextVar("soma_current_node", default=None)

DEFAULT_SHUTDOWN_TIMEOUT = 5.0


def current_node() -> Node:
    """The node of the calling task (set by ``Node.open`` and inherited by every process)."""
    node = _current_node.get()
    if node is None:
        raise RuntimeError("no kernel node: use `async with Node.open() as node:` first")
    return node


def whereis(name: str) -> Pid | None:
    """The live process registered as ``name`` on the current node, or None."""
    return current_node().whereis(name)


async def call(target: Pid | str, request: Any, timeout: float | None = 5.0) -> Any:
    """``gen_server:call(Target, Request)``: ``target`` is a pid or a registered name.

    An unregistered name raises ``NoProc`` at once, as a dead pid does."""
    return await current_node().resolve(target).call(request, timeout)


async def cast(target: Pid | str, message: Any) -> None:
    """``gen_server:cast(Target, Message)``: like OTP's, a cast to a name nobody holds is
    dropped without error (a cast never fails)."""
    pid = target if isinstance(target, Pid) else current_node().whereis(target)
    if pid is not None:
        await pid.cast(message)


async def send(target: Pid | str, message: Any) -> None:
    """``Target ! Message``: to an unregistered name raises ``NoProc`` (Erlang's badarg);
    to a dead pid, the message is dropped."""
    await current_node().resolve(target).send(message)


class Node:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.call_timeouts = TimeoutWheel(self.clock)
        self.default_capacity = DEFAULT_CAPACITY
        self._ids = itertools.count(1)
        self._procs: dict[int, Process] = {}
        self._names: dict[str, Process] = {}
        # Tasks leave this set from the last line of Process.main, not from a done-callback:
        # a callback is one more loop iteration's handle per process (~1.4 us of a ~5 us
        # spawn + exit here). A task cancelled before it ever ran never reaches that line;
        # Process.stop / kill give such a task the callback instead (``forget_task``), and
        # close() drops any other finished task it still finds.
        self._tasks: set[asyncio.Task[None]] = set()
        self.forget_task = self._tasks.discard
        self.callback_context = contextvars.Context()  # for that callback: it reads no context
        # Supervisor reports (restarts, give-ups) go to these; the runtime records them.
        self.report_handlers: list[Callable[[Any], None]] = []
        self.closed = False

    @classmethod
    @asynccontextmanager
    async def open(
        cls, clock: Clock | None = None, *, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    ) -> AsyncIterator[Node]:
        node = cls(clock)
        token = _current_node.set(node)
        try:
            yield node
        finally:
            try:
                # Shielded: anyio's cancellation is level-triggered, so if the block that
                # opened the node was cancelled, every await in close() would raise at once
                # and leave every process running. (test_process: opening block cancelled)
                with anyio.CancelScope(shield=True):
                    await node.close(shutdown_timeout)
            finally:
                _current_node.reset(token)

    # -- spawning --------------------------------------------------------------------------

    def spawn(
        self,
        body: Body,
        *args: Any,
        link: bool = False,
        name: str | None = None,
        trap_exit: bool = False,
        capacity: int | None = None,
        overflow: Overflow = Overflow.BLOCK,
    ) -> Pid:
        """Start ``body(process, *args)`` as a new process; returns at once.

        ``link=True`` links it to the calling process (Erlang's ``spawn_link``), which also
        becomes its ``parent``. Without a link there is no parent, as in OTP's ``gen:start``
        without a link: an exit signal from the starter is then an ordinary one (a message
        to a trapping server), not its parent's order to shut down.
        """
        if self.closed:
            raise RuntimeError("the node is closed")
        me = current_process()
        if name is not None and name in self._names:
            raise NameTaken(name, self._names[name].pid)
        mailbox = Mailbox(self.default_capacity if capacity is None else capacity, overflow)
        parent = me.pid if link and me is not None else None
        proc = Process(self, next(self._ids), mailbox, parent, name, trap_exit)
        self._procs[proc.pid.id] = proc
        if name is not None:
            self._names[name] = proc
        if link and me is not None:
            me.link(proc.pid)
        task = asyncio.get_running_loop().create_task(proc.main(body, args))
        proc.task = task
        self._tasks.add(task)
        return proc.pid

    def forget(self, proc: Process) -> None:
        """Called once by a process when it exits."""
        self._procs.pop(proc.pid.id, None)
        if proc.name is not None and self._names.get(proc.name) is proc:
            del self._names[proc.name]

    # -- registry ----------------------------------------------------------------------------

    def register(self, name: str, pid: Pid) -> None:
        """Register ``pid`` under ``name`` (``erlang:register/2``): ``NameTaken`` if a live
        process holds the name, ``NoProc`` for a dead pid, ``AlreadyRegistered`` if the process
        already has a name — a process has at most one, and registering never moves it."""
        holder = self._names.get(name)
        if holder is not None and holder.alive:
            raise NameTaken(name, holder.pid)
        if not pid.is_alive():
            raise NoProc(pid)
        proc = pid.process
        if proc.name is not None:
            raise AlreadyRegistered(pid, proc.name)
        proc.name = name
        self._names[name] = proc

    def unregister(self, name: str) -> None:
        proc = self._names.pop(name, None)
        if proc is not None:
            proc.name = None

    def whereis(self, name: str) -> Pid | None:
        proc = self._names.get(name)
        return proc.pid if proc is not None and proc.alive else None

    def resolve(self, target: Pid | str) -> Pid:
        """A pid, or the pid registered under a name; ``NoProc`` if there is none."""
        if isinstance(target, Pid):
            return target
        pid = self.whereis(target)
        if pid is None:
            raise NoProc(target)
        return pid

    # -- stopping ------------------------------------------------------------------------------

    async def stop(
        self, pid: Pid, reason: ExitReason = SHUTDOWN, timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT
    ) -> ExitReason:
        """Stop gracefully, then kill if still alive after ``timeout`` (None waits forever)."""
        return await shutdown_process(pid.process, reason, timeout, self.clock)

    def processes(self) -> Iterator[Process]:
        """Live processes, in start order."""
        return iter(list(self._procs.values()))

    def tasks(self) -> set[asyncio.Task[None]]:
        """Tasks the node created that have not finished (for leak checks)."""
        return set(self._tasks)

    async def close(self, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> None:
        """Stop roots gracefully in reverse start order, kill the rest, await every task."""
        if self.closed:
            return
        roots = [p for p in self._procs.values() if p.parent is None or not p.parent.is_alive()]
        for proc in reversed(roots):
            if proc.alive:
                await self._shutdown_root(proc, timeout)
        self.closed = True
        for proc in list(self._procs.values()):
            proc.kill()
        while self._tasks:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.wait(list(self._tasks), timeout=timeout)
            # A task cancelled before its first step ends without running Process.main, so
            # nothing took it out of the set (see __init__).
            self._tasks.difference_update([task for task in self._tasks if task.done()])


    async def _shutdown_root(self, proc: Process, timeout: float) -> None:
        if isinstance(self.clock, MonotonicClock):
            await shutdown_process(proc, SHUTDOWN, timeout, self.clock)
            return
        # A virtual clock does not move while the node closes, so its kill deadline would
        # never come: a stubborn process would hang the close. Bound it in real time too.
        stopping = asyncio.ensure_future(shutdown_process(proc, SHUTDOWN, timeout, self.clock))
        done, _ = await asyncio.wait({stopping}, timeout=timeout)
        if not done:
            proc.kill()
            stopping.cancel()
            await asyncio.wait({stopping})


async def shutdown_process(
    proc: Process, reason: ExitReason, timeout: float | None, clock: Clock
) -> ExitReason:
    """The supervisor's shutdown protocol for one process: stop, wait, kill at the deadline.

    Waits through an internal monitor, never a link, so a child that unlinked itself cannot
    hang its supervisor. A child that exits on its own meanwhile keeps its own reason.
    """
    if proc.exit_reason is not None:
        return proc.exit_reason
    if timeout is not None and timeout <= 0:
        proc.kill()
        assert proc.exit_reason is not None
        return proc.exit_reason
    done: asyncio.Future[ExitReason] = asyncio.get_running_loop().create_future()

    def on_exit(_pid: Pid, why: ExitReason) -> None:
        if not done.done():
            done.set_result(why)

    proc.watch(on_exit)
    proc.stop(reason)
    if timeout is None:
        return await done
    timer = clock.call_at(clock.now() + timeout, proc.kill)
    try:
        return await done
    finally:
        timer.cancel()
