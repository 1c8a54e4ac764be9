"""The crash-resume workload's record of which steps ran: every step's tool appends one line
(``index pid time``) to a file, with one ``write`` on an ``O_APPEND`` descriptor, so a line
is whole or absent after a SIGKILL (it is in the kernel's page cache once ``write`` returns)."""

from __future__ import annotations

import os
import time
from collections import Counter


def mark_step(path: str, index: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{index} {os.getpid()} {time.perf_counter()!r}\n".encode())
    finally:
        os.close(fd)


def _lines(path: str) -> list[tuple[int, int, float]]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = [line.split() for line in f.read().splitlines()]
    return [(int(i), int(pid), float(t)) for i, pid, t in rows]


def marks(path: str) -> int:
    """How many steps have run so far (the parent polls this to kill the child mid-run)."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def resumed_marks(path: str) -> float:
    """When this process ran its first step (``perf_counter``: CLOCK_MONOTONIC on Linux, the
    same clock in every process)."""
    mine = [t for _, pid, t in _lines(path) if pid == os.getpid()]
    if not mine:
        raise RuntimeError("the resumed run ran no step")
    return min(mine)


def tally(path: str, steps: int, crashed_pid: int) -> dict[str, int]:
    """After the resume: steps the crashed process completed, how many of them ran again,
    and whether every step ran at least once."""
    rows = _lines(path)
    before = {i for i, pid, _ in rows if pid == crashed_pid}
    after = Counter(i for i, pid, _ in rows if pid != crashed_pid)
    return {
        "completed": len(before),
        "rerun": sum(1 for i in before if after[i]),
        "missing": sum(1 for i in range(steps) if i not in before and not after[i]),
    }
