"""Supervisor: OTP's supervisor behaviour, strategies one_for_one / one_for_all / rest_for_one.

A supervisor is a GenServer that traps exits. Children are linked to it; each child's exit
arrives as an ``ExitSignal`` and is decided by the child's restart type and the strategy.
Every restart is first checked against a sliding intensity window over *all* children; a
restart that would exceed it makes the supervisor stop its children (reverse start order)
and exit ``shutdown``, so that its own supervisor decides — escalation.

A restart whose start fails counts as a restart: the child shows as ``RESTARTING`` and a
retry is queued behind the mailbox, so the supervisor keeps answering admin calls (and can
be shut down) between attempts, exactly as OTP's ``try_again_restart`` does.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from ._supervision import ChildRestarted, IntensityWindow, SupervisorShutdown, report, shutdown_child
from .child_spec import (
    RESTARTING,
    AutoShutdown,
    Backoff,
    ChildCounts,
    ChildInfo,
    ChildSpec,
    Kind,
    Restart,
    Strategy,
    SupFlags,
)
from .clock import TimerHandle
from .errors import (
    AlreadyPresent,
    AlreadyStarted,
    ChildNotFound,
    ChildRestarting,
    ChildRunning,
    Exit,
    InvalidSpec,
    StartError,
    SupervisorError,
)
from .gen_server import GenServer, Stop
from .node import current_node
from .process import Call, ExitSignal, Pid
from .reasons import SHUTDOWN, Atom, ExitReason, is_orderly


class _Child:
    __slots__ = ("pid", "restart_times", "spec", "timer")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.pid: Pid | Atom | None = None  # a Pid, RESTARTING, or None (not running)
        self.restart_times: list[float] = []
        # A backed-off restart's timer; cancelled when the child is stopped (terminate_child,
        # a group restart), so that restart cannot fire later, after the child was restarted.
        self.timer: TimerHandle | None = None

    @property
    def running(self) -> bool:
        return isinstance(self.pid, Pid)


class _Retry:
    """Queued by the supervisor to itself: try this child's restart again."""

    __slots__ = ("child", "counted", "old", "reason")

    def __init__(self, child: _Child, old: Pid | None, reason: ExitReason, counted: bool) -> None:
        self.child = child
        self.old = old  # the pid whose exit started this restart, for the report
        self.reason = reason
        self.counted = counted  # already checked against the intensity (a backoff timer)


async def start_child_process(spec: ChildSpec) -> Pid | None:
    """Run a spec's start function; any failure becomes ``StartError`` naming the child."""
    try:
        pid = await spec.start(*spec.args)
    except StartError as e:
        # A child that is itself a supervisor names its own failed child: keep that error
        # whole as the reason, so the message reads child -> grandchild -> cause, the way
        # OTP nests {failed_to_start_child, Id, Reason}.
        raise StartError(e.reason if e.child_id is None else e, spec.id) from e
    except (Exception, Exit) as e:
        reason = e.reason if isinstance(e, Exit) else e
        raise StartError(reason, spec.id) from e
    if pid is not None and not isinstance(pid, Pid):
        raise StartError(TypeError(f"start returned {pid!r}, expected a Pid or None"), spec.id)
    return pid


class SupervisorServer(GenServer):
    """The supervisor process. Use :class:`Supervisor`'s methods to start and administer it."""

    trap_exit = True

    flags: SupFlags
    children: list[_Child]

    async def init(self, specs: Sequence[ChildSpec], flags: SupFlags) -> None:
        self.flags = flags
        self.window = IntensityWindow(self._proc.node.clock, flags.intensity, flags.period)
        self.children = []
        self._by_pid: dict[Pid, _Child] = {}
        for spec in specs:
            child = _Child(spec)
            try:
                await self._start(child)
            except StartError:
                await self._stop_children(list(reversed(self.children)))
                raise
            if child.pid is None and spec.restart is Restart.TEMPORARY:
                continue  # a temporary child that ignored is not kept
            self.children.append(child)

    # -- starting and stopping children ---------------------------------------------------

    async def _start(self, child: _Child) -> None:
        pid = await start_child_process(child.spec)
        child.pid = pid
        if pid is not None:
            self._proc.link(pid)  # start functions should link; make sure
            self._by_pid[pid] = child

    async def _stop(self, child: _Child) -> None:
        """Stop a child (or cancel its pending restart); it is not running afterwards."""
        if child.timer is not None:
            child.timer.cancel()
            child.timer = None
        pid = child.pid
        if isinstance(pid, Pid):
            self._by_pid.pop(pid, None)
            await shutdown_child(self._proc, pid, child.spec.shutdown_timeout)
        # Cleared only once the child is dead: a supervisor told to stop while it waits
        # here (mid-restart, mid-terminate_child) still finds the child in ``terminate``
        # and stops it there — nothing outlives its supervisor.
        child.pid = None

    async def _stop_children(self, children: Sequence[_Child]) -> None:
        for child in children:
            await self._stop(child)

    async def terminate(self, reason: ExitReason) -> None:
        await self._stop_children(list(reversed(self.children)))

    # -- exits and restarts ------------------------------------------------------------------

    async def handle_info(self, message: Any) -> None:
        if type(message) is ExitSignal:
            child = self._by_pid.pop(message.pid, None)
            if child is not None:
                child.pid = None
                await self._child_exited(child, message.pid, message.reason)
        elif type(message) is _Retry:
            child = message.child
            if child.pid is RESTARTING and child in self.children:
                child.timer = None
                if message.counted:
                    await self._restart_now(child, message.old, message.reason)
                else:
                    await self._restart(child, message.old, message.reason)

    async def _child_exited(self, child: _Child, pid: Pid, reason: ExitReason) -> None:
        restart = child.spec.restart
        if restart is Restart.PERMANENT or (restart is Restart.TRANSIENT and not is_orderly(reason)):
            await self._restart(child, pid, reason)
            return
        if restart is Restart.TEMPORARY:
            self.children.remove(child)
        if child.spec.significant and self._auto_shutdown_due():
            report(self._proc, SupervisorShutdown(self.pid, "significant child exited"))
            raise Stop(SHUTDOWN)

    def _auto_shutdown_due(self) -> bool:
        mode = self.flags.auto_shutdown
        if mode is AutoShutdown.ANY_SIGNIFICANT:
            return True
        if mode is AutoShutdown.ALL_SIGNIFICANT:
            return not any(c.spec.significant and c.pid is not None for c in self.children)
        return False

    async def _restart(self, child: _Child, old: Pid | None, reason: ExitReason) -> None:
        if not self.window.allow():
            report(self._proc, SupervisorShutdown(self.pid, "reached max restart intensity"))
            raise Stop(SHUTDOWN)
        backoff = self.flags.backoff
        if backoff is not None:
            self._schedule_retry(child, old, reason, backoff)
            return
        await self._restart_now(child, old, reason)

    def _schedule_retry(
        self, child: _Child, old: Pid | None, reason: ExitReason, backoff: Backoff
    ) -> None:
        clock = self._proc.node.clock
        now = clock.now()
        child.restart_times = [t for t in child.restart_times if t > now - self.flags.period]
        child.restart_times.append(now)
        delay = backoff.delay(len(child.restart_times))
        child.pid = RESTARTING
        retry = _Retry(child, old, reason, counted=True)
        mailbox = self._proc.mailbox
        child.timer = clock.call_at(now + delay, lambda: mailbox.put_signal(retry))

    async def _restart_now(self, child: _Child, old: Pid | None, reason: ExitReason) -> None:
        group = self._restart_group(child)
        # Stop the other members, last started first (a pending restart of one is cancelled:
        # the group restart starts it). Temporary bystanders are dropped.
        for member in reversed(group):
            if member is child:
                continue
            await self._stop(member)
            if member.spec.restart is Restart.TEMPORARY:
                self.children.remove(member)
        for member in group:
            if member is not child and member.spec.restart is Restart.TEMPORARY:
                continue
            try:
                await self._start(member)
            except StartError:
                # Counts as a restart and is retried behind the mailbox (OTP's
                # try_again_restart); members after it stay stopped until then.
                member.pid = RESTARTING
                self._proc.mailbox.put_signal(
                    _Retry(member, old if member is child else None, reason, counted=False)
                )
                return
            if member is child:
                report(self._proc, ChildRestarted(self.pid, member.spec.id, old, _pid(member), reason))

    def _restart_group(self, child: _Child) -> list[_Child]:
        strategy = self.flags.strategy
        if strategy is Strategy.ONE_FOR_ONE:
            return [child]
        if strategy is Strategy.ONE_FOR_ALL:
            return list(self.children)
        index = self.children.index(child)
        return self.children[index:]

    # -- administration ----------------------------------------------------------------------

    async def handle_call(self, request: Any, caller: Call) -> Any:
        try:
            match request:
                case ("start_child", ChildSpec() as spec):
                    return await self._start_child(spec)
                case ("terminate_child", child_id):
                    return await self._terminate_child(child_id)
                case ("restart_child", child_id):
                    return await self._restart_child(child_id)
                case ("delete_child", child_id):
                    return self._delete_child(child_id)
                case ("which_children",):
                    return [ChildInfo(c.spec.id, c.pid, c.spec.kind) for c in self.children]
                case ("count_children",):
                    return _count(self.children)
        except (SupervisorError, StartError, InvalidSpec) as e:
            return _Failed(e)
        return _Failed(ValueError(f"unknown supervisor request {request!r}"))

    def _find(self, child_id: Hashable) -> _Child:
        for child in self.children:
            if child.spec.id == child_id:
                return child
        raise ChildNotFound(child_id)

    async def _start_child(self, spec: ChildSpec) -> Pid | None:
        _check_significance([spec], self.flags)
        for child in self.children:
            if child.spec.id == spec.id:
                if isinstance(child.pid, Pid):
                    raise AlreadyStarted(spec.id, child.pid)
                raise AlreadyPresent(spec.id)
        child = _Child(spec)
        await self._start(child)
        if child.pid is not None or spec.restart is not Restart.TEMPORARY:
            self.children.append(child)
        return _pid(child)

    async def _terminate_child(self, child_id: Hashable) -> None:
        child = self._find(child_id)
        await self._stop(child)  # also cancels a pending restart (RESTARTING -> None)
        if child.spec.restart is Restart.TEMPORARY:
            self.children.remove(child)

    async def _restart_child(self, child_id: Hashable) -> Pid | None:
        child = self._find(child_id)
        if child.pid is RESTARTING:
            raise ChildRestarting(child_id)
        if child.running:
            raise ChildRunning(child_id)
        await self._start(child)
        return _pid(child)

    def _delete_child(self, child_id: Hashable) -> None:
        child = self._find(child_id)
        if child.pid is RESTARTING:
            raise ChildRestarting(child_id)
        if child.running:
            raise ChildRunning(child_id)
        self.children.remove(child)


class _Failed:
    """An admin call's error, carried back as the reply and raised in the caller."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _pid(child: _Child) -> Pid | None:
    return child.pid if isinstance(child.pid, Pid) else None


def _count(children: Sequence[_Child]) -> ChildCounts:
    active = sum(1 for c in children if c.running)
    sups = sum(1 for c in children if c.spec.kind is Kind.SUPERVISOR)
    return ChildCounts(specs=len(children), active=active, supervisors=sups, workers=len(children) - sups)


def _check_significance(specs: Sequence[ChildSpec], flags: SupFlags) -> None:
    for spec in specs:
        if spec.significant and flags.auto_shutdown is AutoShutdown.NEVER:
            raise InvalidSpec(
                "significant", True, "auto_shutdown ANY_SIGNIFICANT or ALL_SIGNIFICANT (it is NEVER)"
            )


async def admin_call(sup: Pid | str, request: tuple[Any, ...]) -> Any:
    """Call a supervisor with no timeout (as OTP does) and raise a carried-back error."""
    pid = current_node().resolve(sup)
    result = await pid.call(request, timeout=None)
    if isinstance(result, _Failed):
        raise result.error
    return result


class Supervisor:
    """Start and administer static supervisors (OTP's ``supervisor`` module)."""

    @staticmethod
    async def start_link(
        children: Sequence[ChildSpec] = (),
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: int = 1,
        period: float = 5.0,
        auto_shutdown: AutoShutdown = AutoShutdown.NEVER,
        backoff: Backoff | None = None,
        name: str | None = None,
    ) -> Pid:
        """Start a supervisor linked to the caller; returns once every child has started.

        A child that fails to start stops the ones already started and fails this call with
        ``StartError`` naming the child. Invalid specs or flags raise ``InvalidSpec`` first.
        """
        flags = SupFlags(strategy, intensity, period, auto_shutdown, backoff)
        specs = list(children)
        seen: set[Hashable] = set()
        for spec in specs:
            if not isinstance(spec, ChildSpec):
                raise InvalidSpec("child spec", spec, "a ChildSpec")
            if spec.id in seen:
                raise InvalidSpec("id", spec.id, "unique child ids (duplicate)")
            seen.add(spec.id)
        _check_significance(specs, flags)
        try:
            pid = await SupervisorServer.start_link(specs, flags, name=name)
        except StartError as e:
            if not isinstance(e.reason, StartError):
                raise
            failed = e.reason
        else:
            assert pid is not None
            return pid
        # Our init failed because a child's start did: raise the error that names that child
        # and its reason (OTP: {shutdown, {failed_to_start_child, Id, Reason}}), rather than
        # "the supervisor's init raised".
        raise failed

    @staticmethod
    async def start_child(sup: Pid | str, spec: ChildSpec) -> Pid | None:
        result: Pid | None = await admin_call(sup, ("start_child", spec))
        return result

    @staticmethod
    async def terminate_child(sup: Pid | str, child_id: Hashable) -> None:
        await admin_call(sup, ("terminate_child", child_id))

    @staticmethod
    async def restart_child(sup: Pid | str, child_id: Hashable) -> Pid | None:
        result: Pid | None = await admin_call(sup, ("restart_child", child_id))
        return result

    @staticmethod
    async def delete_child(sup: Pid | str, child_id: Hashable) -> None:
        await admin_call(sup, ("delete_child", child_id))

    @staticmethod
    async def which_children(sup: Pid | str) -> list[ChildInfo]:
        result: list[ChildInfo] = await admin_call(sup, ("which_children",))
        return result

    @staticmethod
    async def count_children(sup: Pid | str) -> ChildCounts:
        result: ChildCounts = await admin_call(sup, ("count_children",))
        return result
