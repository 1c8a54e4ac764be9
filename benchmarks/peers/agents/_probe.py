"""What a cancelled run left behind: asyncio tasks, OS threads, OS processes.

A peer's cancel is judged after the caller's cancel has returned (or the cancelled task
has been awaited): whatever is still running half a second later — the tool's coroutine,
a worker thread, the program the tool started — was left running by the library.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from collections.abc import Sequence
from contextlib import suppress

GRACE = 0.5  # seconds a leftover is given to end before it counts


def alive(pid: int) -> bool:
    """Whether OS process ``pid`` still runs (a zombie, exited but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


class Baseline:
    """Tasks and threads before the run started, to compare with what remains after it."""

    def __init__(self) -> None:
        self.tasks = len(asyncio.all_tasks())
        self.threads = {t.ident for t in threading.enumerate()}

    def _extra(self, pids: list[int]) -> list[str]:
        left = []
        tasks = len(asyncio.all_tasks()) - self.tasks
        if tasks > 0:
            left.append(f"{tasks} task" + ("s" if tasks > 1 else ""))
        threads = [t for t in threading.enumerate() if t.ident not in self.threads and t.is_alive()]
        if threads:
            # Names without their counters ("asyncio-waitpid-3"), so that rounds compare equal.
            names = ", ".join(sorted({re.sub(r"-\d+$", "", t.name) for t in threads}))
            left.append(f"{len(threads)} thread" + ("s" if len(threads) > 1 else "") + f" ({names})")
        procs = [p for p in pids if alive(p)]
        if procs:
            left.append(f"{len(procs)} OS process" + ("es" if len(procs) > 1 else ""))
        return left

    async def leftovers(self, pids: Sequence[int] = (), grace: float = GRACE) -> str:
        """``"none"``, or what is still running ``grace`` seconds after the cancel returned
        (polled: a leftover that ends sooner does not count)."""
        deadline = time.perf_counter() + grace
        while True:
            left = self._extra(list(pids))
            if not left or time.perf_counter() >= deadline:
                return ", ".join(left) if left else "none"
            await asyncio.sleep(0.005)


def kill_leftovers(pids: Sequence[int]) -> None:
    """Kill (and so stop counting) a program a peer left running, after it has been counted."""
    for pid in pids:
        if alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
