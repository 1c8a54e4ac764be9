"""What Supervisor and DynamicSupervisor share: the intensity window, the child shutdown
protocol (one child, or many in parallel), and supervisor reports (OTP's supervisor_report,
for layers above to record)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from .clock import Clock
from .node import shutdown_process
from .process import Pid, Process
from .reasons import SHUTDOWN, ExitReason, describe

log = logging.getLogger("soma.kernel.supervisor")


@dataclass(frozen=True, slots=True)
class ChildRestarted:
    supervisor: Pid
    child_id: Hashable
    old_pid: Pid | None
    new_pid: Pid | None
    reason: ExitReason


@dataclass(frozen=True, slots=True)
class SupervisorShutdown:
    """A supervisor gave up (intensity reached) or auto-shut-down; ``reason`` says which."""

    supervisor: Pid
    reason: str


Report = ChildRestarted | SupervisorShutdown
ReportHandler = Callable[[Report], None]


def report(proc: Process, event: Report) -> None:
    """Hand a report to the node's handlers; the kernel itself only logs it."""
    if isinstance(event, ChildRestarted):
        log.info(
            "child %r of %s exited (%s); restarted as %s",
            event.child_id, event.supervisor, describe(event.reason), event.new_pid,
        )
    else:
        log.warning("supervisor %s shut down: %s", event.supervisor, event.reason)
    for handler in list(proc.node.report_handlers):
        handler(event)


class IntensityWindow:
    """A sliding window over every child's restarts: more than ``intensity`` restarts within
    ``period`` seconds means the supervisor gives up. Each entry is one restart's time."""

    __slots__ = ("_clock", "_times", "intensity", "period")

    def __init__(self, clock: Clock, intensity: int, period: float) -> None:
        self._clock = clock
        self._times: deque[float] = deque()
        self.intensity = intensity
        self.period = period

    def allow(self) -> bool:
        """Record a restart now; False when that exceeds the intensity (time to give up)."""
        now = self._clock.now()
        times = self._times
        times.append(now)
        # A restart exactly ``period`` seconds old still counts: OTP keeps R >= Now - Period.
        while times and times[0] < now - self.period:
            times.popleft()
        return len(times) <= self.intensity


async def shutdown_child(supervisor: Process, pid: Pid, grace: float | None) -> ExitReason:
    """Unlink (so no stray exit signal comes back), then stop with the child's shutdown spec:
    ``grace`` seconds before the kill (0 kills at once, None waits forever)."""
    supervisor.unlink(pid)
    return await shutdown_process(pid.process, SHUTDOWN, grace, supervisor.node.clock)


async def shutdown_children(supervisor: Process, pids: Sequence[Pid], grace: float | None) -> None:
    """Stop ``pids`` in parallel with one shutdown spec: every child is asked at once and the
    survivors are killed at one common deadline, so the whole stop costs one ``grace``.

    One future and one timer for the lot (no task per child: a dynamic supervisor may hold
    tens of thousands). Like :func:`shutdown_child` it unlinks first and waits through
    watchers, never links; a child that exits on its own meanwhile keeps its own reason.
    """
    procs = [pid.process for pid in pids]
    for proc in procs:
        supervisor.unlink(proc.pid)
    procs = [proc for proc in procs if proc.alive]
    if not procs:
        return
    if grace is not None and grace <= 0:
        for proc in procs:
            proc.kill()
        return
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = len(procs)

    def on_exit(_pid: Pid, _reason: ExitReason) -> None:
        nonlocal left
        left -= 1
        if left == 0 and not done.done():
            done.set_result(None)

    for proc in procs:
        proc.watch(on_exit)
    for proc in procs:
        proc.stop(SHUTDOWN)
    if grace is None:
        await done
        return

    def kill_survivors() -> None:
        for proc in procs:
            proc.kill()  # a no-op for the ones already gone

    clock = supervisor.node.clock
    timer = clock.call_at(clock.now() + grace, kill_survivors)
    try:
        await done
    finally:
        timer.cancel()
