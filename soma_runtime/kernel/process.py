"""Processes: an asyncio task with a mailbox, a pid, links, monitors and an exit reason.

Why not anyio task groups per process: ``TaskGroup.start_soon`` costs ~43 us per task here
against ~7 us for ``loop.create_task``, and a ``CancelScope`` ~3 us. A kernel that wants to
spawn and stop tens of thousands of processes a second cannot pay that on every spawn, so a
process is a bare asyncio task, and structure comes from the kernel itself: every task is
owned by its :class:`~soma_runtime.kernel.node.Node`, which stops and awaits all of them when
it closes (nothing outlives the node), and links carry deaths up and down the tree.

Stopping, in increasing force:

* ``stop(reason)`` (what a supervisor's graceful shutdown does): the task is cancelled and the
  process's own cleanup runs (``finally`` blocks, a gen_server's ``terminate``); it exits with
  ``reason``.
* ``kill()``: the process is declared dead *now* with reason ``killed`` — links and monitors
  fire, its name is freed, pending callers fail — and its task is cancelled without waiting.
  Asyncio cannot pre-empt code that never awaits: a coroutine stuck in a CPU loop, or one
  that swallows cancellation, keeps its thread of control until it yields. It is dead to
  the rest of the system, but work that must be killable for real belongs in a subprocess.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Awaitable, Callable
from contextvars import Context, ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from ._timeouts import TIMED_OUT, TimeoutWheel, grain_mask
from .clock import Clock
from .errors import CallTimeout, CallToSelf, Exit, MailboxFull, NoProc, ProcessDied
from .mailbox import Closed, Mailbox, Overflow
from .reasons import KILL, KILLED, NOPROC, NORMAL, ExitReason

Body = Callable[..., Awaitable[None]]
Watcher = Callable[["Pid", ExitReason], None]

_current: ContextVar[Process | None] = ContextVar("soma_current_process", default=None)
_refs = itertools.count(1)


def current_process() -> Process | None:
    """The process whose task is running now, or None outside any process."""
    return _current.get()


def self_pid() -> Pid:
    """The pid of the calling process (Erlang's ``self()``)."""
    proc = _current.get()
    if proc is None:
        raise RuntimeError("self_pid() called outside a process")
    return proc.pid


class Host(Protocol):
    """What a process needs of the node that owns it (:class:`~soma_runtime.kernel.node.Node`).

    A protocol rather than the class: the node spawns processes, so it sits above them, and
    a process names only what it uses — the clock every timer reads, the shared wheel of call
    timeouts, where supervisors send their reports, and the node's forgetting of the dead.
    """

    clock: Clock
    call_timeouts: TimeoutWheel
    report_handlers: list[Callable[[Any], None]]
    callback_context: Context

    def forget(self, proc: Process) -> None: ...

    def forget_task(self, task: asyncio.Task[None], /) -> None: ...


class Ref:
    """A unique reference (monitors, timers)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = next(_refs)

    def __repr__(self) -> str:
        return f"#Ref<{self.n}>"


@dataclass(frozen=True, slots=True)
class Down:
    """A monitored process exited (or was never alive: ``reason`` is ``noproc``)."""

    ref: Ref
    pid: Pid
    reason: ExitReason


@dataclass(frozen=True, slots=True)
class ExitSignal:
    """A trapped exit signal from a linked process (or from ``pid.exit(reason)``)."""

    pid: Pid
    reason: ExitReason


class Call:
    """A request awaiting a reply. Handed to ``handle_call`` as the ``caller``."""

    __slots__ = ("_future", "_server", "request", "sender")

    def __init__(self, request: Any, future: asyncio.Future[Any], sender: Pid | None) -> None:
        self.request = request
        self._future = future
        self.sender = sender
        self._server: Process | None = None  # set while the reply is deferred (NOREPLY)

    def reply(self, value: Any) -> None:
        """Send the reply. A reply to a caller that gave up (timed out) is dropped."""
        if not self._future.done():
            self._future.set_result(value)
        if self._server is not None:
            self._server.deferred_calls.discard(self)  # type: ignore[union-attr]
            self._server = None

    def fail(self, exc: BaseException) -> None:
        """Make the caller's ``call`` raise ``exc``."""
        if not self._future.done():
            self._future.set_exception(exc)
        if self._server is not None:
            self._server.deferred_calls.discard(self)  # type: ignore[union-attr]
            self._server = None

    @property
    def answered(self) -> bool:
        return self._future.done()

    def __repr__(self) -> str:
        return f"Call({self.request!r}, from={self.sender})"


class Cast:
    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Cast({self.message!r})"


# Cast envelopes are recycled. A cast waits in a mailbox long enough to survive young-
# generation collections, so a stream of fresh envelopes keeps promoting objects to the old
# generation until the collector runs a *full* collection, whose cost grows with the whole
# heap (pydantic models, an agent's state): measured here, 17% of one-way throughput went to
# full collections. GenServer and GenStatem hand an envelope back once they have taken the
# message out (``recycle_cast``), so a steady stream of casts allocates nothing the collector
# counts. Envelopes that a plain process receives are never handed back, so never reused
# under it. The cap (one full default mailbox) bounds what an idle node keeps.
_free_casts: list[Cast] = []
_FREE_CASTS_MAX = 10_000


def recycle_cast(msg: Cast) -> None:
    """Give back a consumed envelope; the caller must hold no other reference to it."""
    msg.message = None
    if len(_free_casts) < _FREE_CASTS_MAX:
        _free_casts.append(msg)


class Pid:
    """The handle to a process. Stays valid (and answers ``is_alive() is False``) after exit."""

    __slots__ = ("_proc", "id")

    def __init__(self, proc: Process, id: int) -> None:
        self._proc = proc
        self.id = id

    def __repr__(self) -> str:
        name = self._proc.name
        return f"<0.{self.id}.0>" if name is None else f"<0.{self.id}.0 {name}>"

    def __lt__(self, other: Pid) -> bool:
        return self.id < other.id

    @property
    def name(self) -> str | None:
        return self._proc.name

    @property
    def process(self) -> Process:
        """The process behind this pid (for introspection; message it through the pid)."""
        return self._proc

    def is_alive(self) -> bool:
        return self._proc.exit_reason is None

    @property
    def exit_reason(self) -> ExitReason | None:
        return self._proc.exit_reason

    async def call(self, request: Any, timeout: float | None = 5.0) -> Any:
        """Send ``request`` and wait for the reply (gen_server:call).

        Raises ``NoProc`` at once if the process is dead, ``CallTimeout`` (in this caller
        only) if no reply comes in ``timeout`` seconds, ``ProcessDied`` if the process exits
        before replying, ``CallToSelf`` instead of deadlocking.
        """
        proc = self._proc
        if proc.exit_reason is not None:
            raise NoProc(self)
        me = _current.get()
        if me is proc:
            raise CallToSelf(self)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        msg = Call(request, future, None if me is None else me.pid)
        mailbox = proc.mailbox
        items = mailbox._items
        if not mailbox.closed and len(items) - mailbox._head < mailbox.capacity:
            items.append(msg)  # the fast path of Mailbox.try_put, inlined as in cast()
            getter = mailbox._getter
            if getter is not None:
                mailbox._getter = None
                if not getter.done():
                    getter.set_result(None)
        else:
            timeout = await self._put_call_slow(msg, timeout)
        if timeout is None:
            result = await future
        else:
            wheel = proc.node.call_timeouts  # TimeoutWheel.add, inlined
            tick = (int((wheel._now() + timeout) * 1000.0) | grain_mask(timeout)) + 1
            bucket = wheel._buckets.get(tick)
            if bucket is None:
                bucket = wheel.new_bucket(tick)
            bucket.add(future)
            try:
                result = await future
            finally:
                bucket.discard(future)
            if result is TIMED_OUT:
                raise CallTimeout(self, timeout)
        return result

    async def _put_call_slow(self, msg: Call, timeout: float | None) -> float | None:
        """Queue a call the fast path could not; returns what is left of ``timeout``."""
        mailbox = self._proc.mailbox
        try:
            if mailbox.try_put(msg):
                return timeout
            # A call is never silently dropped: drop_newest fails it like ``fail`` does.
            if mailbox.overflow is not Overflow.BLOCK:
                raise MailboxFull(self, mailbox.capacity)
            if timeout is None:
                while not mailbox.try_put(msg):
                    await mailbox.wait_for_room()
                return None
            # The caller's timeout bounds the wait for room too, not only the wait for the
            # reply (a call to a full, stuck server used to wait forever).
            clock = self._proc.node.clock
            deadline = clock.now() + timeout
            expired: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def expire() -> None:
                if not expired.done():
                    expired.set_result(None)

            timer = clock.call_at(deadline, expire)
            try:
                while not mailbox.try_put(msg):
                    if expired.done():
                        raise CallTimeout(self, timeout)
                    await mailbox.wait_for_room(until=expired)
            finally:
                timer.cancel()
            return max(deadline - clock.now(), 0.0)
        except Closed:
            raise NoProc(self) from None

    async def cast(self, message: Any) -> None:
        """Asynchronous request (gen_server:cast). Waits only for mailbox room under ``block``."""
        try:
            msg = _free_casts.pop()  # see recycle_cast
            msg.message = message
        except IndexError:
            msg = Cast(message)
        mailbox = self._proc.mailbox
        # Fast path inlined (one-way throughput is a headline figure): room -> append, wake.
        items = mailbox._items
        if not mailbox.closed and len(items) - mailbox._head < mailbox.capacity:
            items.append(msg)
            getter = mailbox._getter
            if getter is not None:
                mailbox._getter = None
                if not getter.done():
                    getter.set_result(None)
            return
        await self.send(msg)

    async def send(self, message: Any) -> None:
        """Send a plain message (Erlang's ``!``). Messages to a dead process are dropped.

        A full mailbox applies the target's overflow policy: wait (``block``), drop and count
        (``drop_newest``), or raise ``MailboxFull`` (``fail``).
        """
        mailbox = self._proc.mailbox
        try:
            if mailbox.try_put(message):
                return
            policy = mailbox.overflow
            if policy is Overflow.BLOCK:
                while not mailbox.try_put(message):
                    await mailbox.wait_for_room()
            elif policy is Overflow.DROP_NEWEST:
                mailbox.dropped += 1
            else:
                raise MailboxFull(self, mailbox.capacity)
        except Closed:
            return

    def send_nowait(self, message: Any) -> None:
        """Send without waiting: a full mailbox drops (``drop_newest``) or raises ``MailboxFull``."""
        mailbox = self._proc.mailbox
        try:
            if mailbox.try_put(message):
                return
        except Closed:
            return
        if mailbox.overflow is Overflow.DROP_NEWEST:
            mailbox.dropped += 1
            return
        raise MailboxFull(self, mailbox.capacity)

    def exit(self, reason: ExitReason) -> None:
        """Send an exit signal (Erlang's ``exit(Pid, Reason)``); ``KILL`` cannot be trapped.

        As ``erlang:exit/2``: ``normal`` is ignored by a non-trapping process, except when a
        process sends it to itself, which exits it with reason ``normal``. To a trapping
        process the signal is a message, and — unlike the exit signals of its links and
        monitors, bounded by how many it holds — any process may send these, so they obey the
        mailbox's capacity and overflow policy like :meth:`send_nowait`.
        """
        me = _current.get()
        proc = self._proc
        if proc is me and reason is NORMAL and not proc.trap_exit:
            proc.stop(NORMAL)
            return
        proc.exit_signal(None if me is None else me.pid, reason, from_link=False)

    def kill(self) -> None:
        """``exit(Pid, kill)``: the process is dead now, with reason ``killed``."""
        self._proc.kill()

    async def wait(self) -> ExitReason:
        """Wait until the process has exited; return its exit reason."""
        proc = self._proc
        if proc.exit_reason is not None:
            return proc.exit_reason
        done: asyncio.Future[ExitReason] = asyncio.get_running_loop().create_future()

        def on_exit(_pid: Pid, reason: ExitReason) -> None:
            if not done.done():
                done.set_result(reason)

        ref = proc.watch(on_exit)
        try:
            return await done
        finally:
            proc.unwatch(ref)


class Process:
    """Kernel-side state of one process. Bodies receive it as their first argument."""

    __slots__ = (
        "_links",
        "_monitoring",
        "_stop_reason",
        "_watchers",
        "behaviour",
        "current",
        "deferred_calls",
        "exit_reason",
        "mailbox",
        "name",
        "node",
        "parent",
        "pid",
        "task",
        "trap_exit",
    )

    def __init__(
        self,
        node: Host,
        pid_id: int,
        mailbox: Mailbox,
        parent: Pid | None,
        name: str | None,
        trap_exit: bool,
    ) -> None:
        self.node = node
        self.pid = Pid(self, pid_id)
        self.mailbox = mailbox
        self.parent = parent
        self.name = name
        self.trap_exit = trap_exit
        self.exit_reason: ExitReason | None = None
        self.current: Any = None  # the message being handled, for introspection
        self.behaviour: Any = None  # the GenServer / GenStatem / Supervisor instance, if any
        self.task: asyncio.Task[None] | None = None
        self.deferred_calls: set[Call] | None = None
        self._stop_reason: ExitReason | None = None
        self._links: set[Process] | None = None
        self._watchers: dict[Ref, Watcher] | None = None
        self._monitoring: dict[Ref, Process] | None = None

    def __repr__(self) -> str:
        return f"Process({self.pid!r})"

    @property
    def alive(self) -> bool:
        return self.exit_reason is None

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    # -- receiving -------------------------------------------------------------------------

    async def receive(self) -> Any:
        return await self.mailbox.get()

    def receive_nowait(self) -> Any:
        """The oldest message; raises IndexError when the mailbox is empty."""
        return self.mailbox.get_nowait()

    # -- links and monitors ------------------------------------------------------------------

    def link(self, other: Pid) -> None:
        """Bidirectional link. Linking to a dead process delivers ``noproc`` as an exit signal."""
        target = other._proc
        if target is self:
            return
        if target.exit_reason is not None:
            self.exit_signal(other, NOPROC)
            return
        if self._links is None:
            self._links = set()
        if target._links is None:
            target._links = set()
        self._links.add(target)
        target._links.add(self)

    def unlink(self, other: Pid) -> None:
        target = other._proc
        if self._links is not None:
            self._links.discard(target)
        if target._links is not None:
            target._links.discard(self)

    def links(self) -> list[Pid]:
        return sorted(p.pid for p in self._links or ())

    def monitor(self, other: Pid) -> Ref:
        """One-way monitor; ``Down(ref, pid, reason)`` arrives when ``other`` exits."""
        target = other._proc
        ref = Ref()
        if target.exit_reason is not None:
            self.mailbox.put_signal(Down(ref, other, NOPROC))
            return ref
        mailbox = self.mailbox

        def on_exit(pid: Pid, reason: ExitReason) -> None:
            if self._monitoring is not None:
                self._monitoring.pop(ref, None)
            mailbox.put_signal(Down(ref, pid, reason))

        target._watch(ref, on_exit)
        if self._monitoring is None:
            self._monitoring = {}
        self._monitoring[ref] = target
        return ref

    def demonitor(self, ref: Ref) -> None:
        if self._monitoring is None:
            return
        target = self._monitoring.pop(ref, None)
        if target is not None:
            target.unwatch(ref)

    def watch(self, callback: Watcher) -> Ref:
        """Kernel-internal monitor: ``callback(pid, reason)`` runs when this process exits."""
        ref = Ref()
        if self.exit_reason is not None:
            callback(self.pid, self.exit_reason)
            return ref
        self._watch(ref, callback)
        return ref

    def _watch(self, ref: Ref, callback: Watcher) -> None:
        if self._watchers is None:
            self._watchers = {}
        self._watchers[ref] = callback

    def unwatch(self, ref: Ref) -> None:
        if self._watchers is not None:
            self._watchers.pop(ref, None)

    # -- signals -----------------------------------------------------------------------------

    def exit_signal(self, sender: Pid | None, reason: ExitReason, *, from_link: bool = True) -> None:
        """Deliver an exit signal with Erlang's rules (links and ``exit/2`` both come here).

        ``from_link=False`` marks an ``exit/2`` from an arbitrary process: when trapped, it
        takes a mailbox slot under the overflow policy instead of bypassing the capacity.
        """
        if self.exit_reason is not None:
            return
        if reason is KILL:
            self.kill()
        elif self.trap_exit:
            signal = ExitSignal(sender if sender is not None else self.pid, reason)
            if from_link:
                self.mailbox.put_signal(signal)
            else:
                self.pid.send_nowait(signal)
        elif reason is not NORMAL:
            self.stop(reason)

    def stop(self, reason: ExitReason) -> None:
        """Graceful stop: cancel the task so cleanup runs; the process exits with ``reason``."""
        if self.exit_reason is not None or self._stop_reason is not None:
            return
        self._stop_reason = reason
        if self._cancel_task():
            # Cancelling a task that never ran throws into the unstarted coroutine, so
            # main() would never run and the process would linger as a zombie (alive,
            # named, links never fired). Nothing ran, nothing to clean up: exit now.
            self.exited(reason)

    def kill(self) -> None:
        """Dead now (reason ``killed``); the task is cancelled and not waited for."""
        if self.exit_reason is not None:
            return
        self._stop_reason = KILLED
        self.exited(KILLED)
        self._cancel_task()

    def _cancel_task(self) -> bool:
        """Cancel the task; True if it had never run (so main() never will)."""
        task = self.task
        if task is None:
            return False
        unstarted = inspect.getcoroutinestate(task.get_coro()) == inspect.CORO_CREATED  # type: ignore[arg-type]
        if unstarted:
            # main() removes its task from the node's set as its last act; a task that never
            # runs main() is removed when it is done instead.
            task.add_done_callback(self.node.forget_task, context=self.node.callback_context)
        task.cancel()
        return unstarted

    # -- running and exiting -------------------------------------------------------------------

    async def main(self, body: Body, args: tuple[Any, ...]) -> None:
        _current.set(self)
        reason: ExitReason = NORMAL
        try:
            try:
                running = body(self, *args)
                # The body's own frame keeps what it needs; holding the spawn arguments here
                # too would keep them (a start handshake's future, for one) for its life.
                del body, args
                await running
                if self._stop_reason is not None:
                    reason = self._stop_reason  # asked to stop; finished its cleanup and returned
            except Exit as e:
                reason = e.reason
            except asyncio.CancelledError:
                # Ours (stop/kill) or the loop's; either way the process ends here.
                reason = self._stop_reason if self._stop_reason is not None else KILLED
            except Exception as e:
                reason = e
            if self.exit_reason is None:
                self.exited(reason)
        finally:
            # The task ends with this frame: the node stops tracking it (see Node.__init__).
            if self.task is not None:
                self.node.forget_task(self.task)

    def exited(self, reason: ExitReason) -> None:
        """Record the exit and fire every consequence, synchronously and exactly once."""
        self.exit_reason = reason
        self.node.forget(self)
        # Callers left waiting get one ProcessDied, built only if there are any: most
        # processes (a ToolCall, a worker) exit owing no reply, and formatting the message
        # on every exit was a measurable part of spawn + stop.
        left = self.mailbox.close()
        waiting = [msg for msg in left if type(msg) is Call] if left else []
        current = self.current
        if type(current) is Call and not current.answered:
            waiting.append(current)
        if self.deferred_calls:
            waiting.extend(self.deferred_calls)
        if waiting:
            died = ProcessDied(self.pid, reason)
            if isinstance(reason, BaseException):
                died.__cause__ = reason
            for call in waiting:
                call.fail(died)
        if self._monitoring:
            for ref, target in self._monitoring.items():
                target.unwatch(ref)
            self._monitoring = None
        if self._links:
            links, self._links = self._links, None
            for other in links:
                if other._links is not None:
                    other._links.discard(self)
                other.exit_signal(self.pid, reason)
        if self._watchers:
            watchers, self._watchers = self._watchers, None
            for callback in watchers.values():
                callback(self.pid, reason)
        # A dead process has no state, as in OTP: its pid stays valid (``is_alive()``,
        # ``exit_reason``), but what it held — a Run's plan, steps and outputs, a server's
        # state — goes now, not when the last holder of the pid does (a session keeps its
        # finished runs' records, pids included, and each pinned its whole Run).
        self.behaviour = None
        self.current = None
