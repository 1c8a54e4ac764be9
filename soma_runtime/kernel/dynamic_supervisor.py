"""DynamicSupervisor: OTP's simple_one_for_one.

One template spec; children are started on demand with extra arguments appended to the
template's, identified by their pid, and restarted with the same arguments. On shutdown all
children are stopped *in parallel*, so stopping 10,000 sessions costs one shutdown timeout,
not ten thousand. Dynamic children are not restored if the supervisor itself is restarted.
"""

from __future__ import annotations

from typing import Any

from ._supervision import (
    ChildRestarted,
    IntensityWindow,
    SupervisorShutdown,
    report,
    shutdown_child,
    shutdown_children,
)
from .child_spec import RESTARTING, AutoShutdown, Backoff, ChildCounts, ChildInfo, ChildSpec, Kind, Restart
from .errors import ChildNotFound, InvalidSpec, MaxChildren, StartError
from .gen_server import GenServer, Stop
from .process import Call, ExitSignal, Pid
from .reasons import SHUTDOWN, Atom, ExitReason, is_orderly
from .supervisor import _Failed, admin_call, start_child_process


class _DynChild:
    __slots__ = ("args", "pid", "restart_times")

    def __init__(self, args: tuple[Any, ...]) -> None:
        self.args = args
        self.pid: Pid | Atom | None = None
        self.restart_times: list[float] = []


class _Retry:
    __slots__ = ("child", "counted", "reason")

    def __init__(self, child: _DynChild, reason: ExitReason, counted: bool) -> None:
        self.child = child
        self.reason = reason
        self.counted = counted  # already checked against the intensity (a backoff timer)


class DynamicSupervisorServer(GenServer):
    trap_exit = True

    async def init(
        self,
        template: ChildSpec,
        intensity: int,
        period: float,
        max_children: int | None,
        backoff: Backoff | None = None,
    ) -> None:
        self.template = template
        self.max_children = max_children
        self.backoff = backoff
        self.period = period
        self.window = IntensityWindow(self._proc.node.clock, intensity, period)
        self.children: dict[Pid, _DynChild] = {}
        self.restarting: set[_DynChild] = set()

    async def _start(self, child: _DynChild) -> None:
        spec = self.template
        pid = await start_child_process(
            ChildSpec(spec.id, spec.start, spec.args + child.args, spec.restart, spec.shutdown, spec.kind)
        )
        child.pid = pid
        if pid is not None:
            self._proc.link(pid)
            self.children[pid] = child

    async def handle_call(self, request: Any, caller: Call) -> Any:
        try:
            match request:
                case ("start_child", tuple() as args):
                    return await self._start_child(args)
                case ("terminate_child", Pid() as pid):
                    if pid not in self.children:
                        # OTP (supervisor_SUITE child_adm_simple): a child that already
                        # exited is terminated already; only a live stranger is not_found.
                        if not pid.is_alive():
                            return None
                        raise ChildNotFound(pid)
                    await shutdown_child(self._proc, pid, self.template.shutdown_timeout)
                    # Forgotten only once dead: if this supervisor is told to stop while it
                    # waits here, ``terminate`` still finds the child and stops it.
                    del self.children[pid]
                    return None
                case ("which_children",):
                    rows = [ChildInfo(None, pid, self.template.kind) for pid in self.children]
                    return rows + [ChildInfo(None, RESTARTING, self.template.kind) for _ in self.restarting]
                case ("count_children",):
                    n = len(self.children) + len(self.restarting)
                    sup = self.template.kind is Kind.SUPERVISOR
                    return ChildCounts(n, len(self.children), n if sup else 0, 0 if sup else n)
        except (ChildNotFound, MaxChildren, StartError, InvalidSpec) as e:
            return _Failed(e)
        return _Failed(ValueError(f"unknown supervisor request {request!r}"))

    async def _start_child(self, args: tuple[Any, ...]) -> Pid | None:
        if self.max_children is not None and len(self.children) >= self.max_children:
            raise MaxChildren(self.max_children)
        child = _DynChild(args)
        await self._start(child)
        return child.pid if isinstance(child.pid, Pid) else None

    async def handle_info(self, message: Any) -> None:
        if type(message) is ExitSignal:
            child = self.children.pop(message.pid, None)
            if child is None:
                return
            restart = self.template.restart
            if restart is Restart.PERMANENT or (
                restart is Restart.TRANSIENT and not is_orderly(message.reason)
            ):
                await self._restart(child, message.reason)
        elif type(message) is _Retry and message.child in self.restarting:
            self.restarting.discard(message.child)
            if message.counted:
                await self._restart_now(message.child, message.reason)
            else:
                await self._restart(message.child, message.reason)

    async def _restart(self, child: _DynChild, reason: ExitReason) -> None:
        if not self.window.allow():
            report(self._proc, SupervisorShutdown(self.pid, "reached max restart intensity"))
            raise Stop(SHUTDOWN)
        if self.backoff is not None:
            # Same rule as Supervisor: the n-th restart of this child within the period waits.
            clock = self._proc.node.clock
            now = clock.now()
            child.restart_times = [t for t in child.restart_times if t > now - self.period] + [now]
            delay = self.backoff.delay(len(child.restart_times))
            child.pid = RESTARTING
            self.restarting.add(child)
            mailbox = self._proc.mailbox
            clock.call_at(now + delay, lambda: mailbox.put_signal(_Retry(child, reason, counted=True)))
            return
        await self._restart_now(child, reason)

    async def _restart_now(self, child: _DynChild, reason: ExitReason) -> None:
        old = child.pid if isinstance(child.pid, Pid) else None
        try:
            await self._start(child)
        except StartError:
            child.pid = RESTARTING
            self.restarting.add(child)
            self._proc.mailbox.put_signal(_Retry(child, reason, counted=False))
            return
        new = child.pid if isinstance(child.pid, Pid) else None
        report(self._proc, ChildRestarted(self.pid, self.template.id, old, new, reason))

    async def terminate(self, reason: ExitReason) -> None:
        """Stop every child at once; the whole stop is bounded by one shutdown timeout."""
        children, self.children = list(self.children), {}
        self.restarting.clear()
        await shutdown_children(self._proc, children, self.template.shutdown_timeout)


class DynamicSupervisor:
    """Start and administer dynamic (simple_one_for_one) supervisors."""

    @staticmethod
    async def start_link(
        template: ChildSpec,
        *,
        intensity: int = 1,
        period: float = 5.0,
        max_children: int | None = None,
        auto_shutdown: AutoShutdown = AutoShutdown.NEVER,
        backoff: Backoff | None = None,
        name: str | None = None,
    ) -> Pid:
        if not isinstance(template, ChildSpec):
            raise InvalidSpec("template", template, "a ChildSpec")
        if auto_shutdown is not AutoShutdown.NEVER:
            raise InvalidSpec("auto_shutdown", auto_shutdown, "NEVER for a dynamic supervisor")
        if template.significant:
            raise InvalidSpec("significant", True, "no significant children in a dynamic supervisor")
        if isinstance(intensity, bool) or not isinstance(intensity, int) or intensity < 0:
            raise InvalidSpec("intensity", intensity, "an int >= 0")
        if isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0:
            raise InvalidSpec("period", period, "a number of seconds > 0")
        if max_children is not None and (
            isinstance(max_children, bool) or not isinstance(max_children, int) or max_children < 0
        ):
            raise InvalidSpec("max_children", max_children, "an int >= 0 or None")
        if backoff is not None and not isinstance(backoff, Backoff):
            raise InvalidSpec("backoff", backoff, "a Backoff or None")
        pid = await DynamicSupervisorServer.start_link(
            template, intensity, period, max_children, backoff, name=name
        )
        assert pid is not None
        return pid

    @staticmethod
    async def start_child(sup: Pid | str, *args: Any) -> Pid | None:
        """Start a child with ``template.args + args``; returns its pid (None if it ignored)."""
        result: Pid | None = await admin_call(sup, ("start_child", args))
        return result

    @staticmethod
    async def terminate_child(sup: Pid | str, pid: Pid) -> None:
        await admin_call(sup, ("terminate_child", pid))

    @staticmethod
    async def which_children(sup: Pid | str) -> list[ChildInfo]:
        result: list[ChildInfo] = await admin_call(sup, ("which_children",))
        return result

    @staticmethod
    async def count_children(sup: Pid | str) -> ChildCounts:
        result: ChildCounts = await admin_call(sup, ("count_children",))
        return result
