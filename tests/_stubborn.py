"""A tool whose cleanup the test holds open, and a way to wait until nothing else can happen.

Cancel must return only once the tool has stopped: its task finished (an OS process tool: its
process reaped). A tool that stops at once cannot show the difference — by the time a cancel
that did not wait returns, the tool is gone anyway. So this tool, once told to stop, cleans up
until the test ``release``\\ s it; :func:`quiesce` lets everything that does not wait for the
tool happen first. A cancel that waits for its tool has not returned by then — and the run is
still alive; one that stopped waiting has returned, deterministically, with no clock involved.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from soma_runtime import tool
from soma_runtime.kernel import Pid, current_process, settle
from soma_runtime.store.log import EventLog


@dataclass
class Stubborn:
    started: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # told to stop: cleaning up
    release: asyncio.Event = field(default_factory=asyncio.Event)  # the test ends the cleanup
    cleaned: asyncio.Event = field(default_factory=asyncio.Event)  # the cleanup ran to its end
    tasks: list[asyncio.Task[object]] = field(default_factory=list)
    pids: list[Pid] = field(default_factory=list)

    @property
    def task(self) -> asyncio.Task[object]:
        [task] = self.tasks
        return task


PROBES: dict[str, Stubborn] = {}


def stubborn_probe(name: str) -> Stubborn:
    probe = PROBES[name] = Stubborn()
    return probe


@tool
async def stubborn(name: str) -> str:
    """Runs until stopped; then cleans up until the test releases it (or it is killed)."""
    probe = PROBES[name]
    task, proc = asyncio.current_task(), current_process()
    assert task is not None and proc is not None
    probe.tasks.append(task)
    probe.pids.append(proc.pid)
    probe.started.set()
    try:
        await asyncio.Event().wait()
    finally:
        probe.stopping.set()
        await probe.release.wait()  # a second cancellation — the kill — interrupts this
        probe.cleaned.set()
    return "never"


async def quiesce(events: EventLog) -> None:
    """Until nothing can happen without outside help: every task blocked, and every append
    the store accepted committed and answered. (The commit runs in a SQLite thread, which
    :func:`settle` counts as blocked; the store's ``sync`` waits for it.) Repeats while the
    answers lead to more appends."""
    last = -1
    while True:
        await settle()
        seq = await events.sync()
        await settle()
        if seq == last:
            return
        last = seq


@dataclass
class Defiant(Stubborn):
    """A tool that ignores its stop, and cleans up after its kill until released (as a
    process tool's reaping of its OS process takes a moment after the SIGKILL)."""

    killed: asyncio.Event = field(default_factory=asyncio.Event)


DEFIANT: dict[str, Defiant] = {}


def defiant_probe(name: str) -> Defiant:
    probe = DEFIANT[name] = Defiant()
    return probe


@tool
async def defiant(name: str) -> str:
    probe = DEFIANT[name]
    task = asyncio.current_task()
    assert task is not None
    probe.tasks.append(task)
    probe.started.set()
    try:
        await asyncio.Event().wait()
    finally:
        probe.stopping.set()
        try:
            await asyncio.Event().wait()  # deaf to the stop: only the kill ends this
        finally:
            probe.killed.set()
            await probe.release.wait()
            probe.cleaned.set()
    return "never"
