"""OS processes known by identity, not by pid alone: what lets a new runtime kill the tool
processes a dead one left, and never a stranger that was given one of their pids since.

A pid is reused once its process is gone; a pid *and* its start time (clock ticks after
boot, ``/proc/<pid>/stat`` field 22) name one process for the life of the machine, and the
boot id says which life. Linux only: elsewhere nothing is identified, so nothing is killed
(a tool's child there dies with the runtime only if it notices by itself).

A tool's OS process leads its own process group and session (``start_new_session``), so the
group id is the leader's pid. The leader dies with the runtime (``PR_SET_PDEATHSIG``, set in
``_child``), but what it started does not: those are found by their group. Linux never hands
out a pid that is still a live group's id, so while such members exist and no process has the
leader's pid, the group is still the one the tool started (a vanishingly rare exception: the
pid was reused by a process that made its own session and exited, all after the leader died).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_PROC: Final = Path("/proc")
_BOOT_ID: Final = _PROC / "sys/kernel/random/boot_id"


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    pid: int
    start_time: int | None  # clock ticks after boot; None: not identifiable here
    boot_id: str | None


@dataclass(frozen=True, slots=True)
class _Stat:
    pid: int
    state: str
    pgrp: int
    session: int
    start_time: int


def identify(pid: int) -> ProcessIdentity:
    """``pid``'s identity now (start time None if it is gone or this is not Linux)."""
    stat = _stat(pid)
    return ProcessIdentity(pid, None if stat is None else stat.start_time, boot_id())


def boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return None


def kill_leftovers(identities: Iterable[ProcessIdentity]) -> list[int]:
    """SIGKILL every process still running of the groups these tool processes led; returns
    the pids signalled. A process whose pid or group id matches but whose start time says it
    is another process is left alone (see the module docstring)."""
    wanted = [i for i in identities if i.start_time is not None and i.boot_id is not None]
    this_boot = boot_id()
    if not wanted or this_boot is None:
        return []
    table = {s.pid: s for s in _all_stats()}
    killed: list[int] = []
    for identity in wanted:
        if identity.boot_id != this_boot:
            continue  # the machine restarted since: nothing of that life runs
        assert identity.start_time is not None
        leader = table.get(identity.pid)
        if leader is not None and leader.start_time != identity.start_time:
            continue  # the pid is another process's now, so the old group is empty
        members = [
            s
            for s in table.values()
            if s.pgrp == identity.pid
            and s.session == identity.pid
            and s.start_time >= identity.start_time
            and s.state not in ("Z", "X")  # exited already, only not reaped
        ]
        for member in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(member.pid, signal.SIGKILL)
                killed.append(member.pid)
    return killed


def _all_stats() -> Iterator[_Stat]:
    try:
        entries = list(os.scandir(_PROC))
    except OSError:
        return
    for entry in entries:
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                yield stat


def _stat(pid: int) -> _Stat | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and ")".
    fields = text[text.rindex(")") + 2 :].split()
    try:
        return _Stat(pid, fields[0], int(fields[2]), int(fields[3]), int(fields[19]))
    except (IndexError, ValueError):
        return None
