"""The agent workloads that need a process of their own:
``python -m benchmarks.peers.agents.child ACTION COLUMN ...`` (a key of ``COLUMNS``)

* ``memory COLUMN STEPS DB`` — a fresh interpreter per figure (memory a process freed is reused,
  not returned, so measured after another peer a peer would look cheaper): after a 10-step
  warm-up, one run of STEPS no-op steps, then the peak RSS of the process (``VmHWM``:
  Python, the library and the run); then another run under tracemalloc, whose peak is the
  Python heap that run needed at most. ``DB`` is ``-`` for in memory. Prints JSON.
* ``crash COLUMN STEPS DB SIDE`` — one run of STEPS marking steps; the parent SIGKILLs it.
* ``resume COLUMN DB SIDE STEPS`` — reopen DB and finish the run the crash cut. Prints JSON.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from importlib import import_module
from pathlib import Path
from types import ModuleType

from .._peer import json_from_child
from . import BY_KEY


def _column(key: str) -> tuple[ModuleType, str]:
    """The module driving column ``key``'s library, and the column's mode."""
    column = BY_KEY[key]
    return import_module(f"{__package__}.{column.peer}"), column.mode


def _peak_rss() -> int:
    """This process's peak resident set (``VmHWM``). Not ``ru_maxrss``: Linux carries that
    across ``execve`` from the forking parent, so a child started by a large benchmark
    process would report the parent's peak."""
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    return int(kb) * 1024


def memory(peer: ModuleType, mode: str, steps: int, db: str | None) -> dict[str, float]:
    peer.loop(10, db, mode)
    peer.loop(steps, None if db is None else db + ".measured", mode)
    rss = _peak_rss()
    tracemalloc.start()
    peer.loop(steps, None if db is None else db + ".traced", mode)
    heap = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"rss": float(rss), "heap": float(heap)}


def main(argv: list[str]) -> None:
    action, (peer, mode) = argv[0], _column(argv[1])
    if action == "memory":
        db = None if argv[3] == "-" else argv[3]
        print(json.dumps(memory(peer, mode, int(argv[2]), db)))
    elif action == "crash":
        peer.crash_run(int(argv[2]), argv[3], argv[4], mode)
    elif action == "resume":
        print(json.dumps(peer.resume(argv[2], argv[3], mode, int(argv[4]))))
    else:
        raise SystemExit(f"unknown action {action!r}")


def measure_memory(column: str, steps: int, directory: str) -> dict[str, float]:
    """:func:`memory` in a fresh interpreter (the benchmarks' own, same environment)."""
    db = f"{directory}/{column}-memory.db" if BY_KEY[column].durable else "-"
    for stale in Path(directory).glob(f"{column}-memory.db*"):  # every run on a new database
        stale.unlink()
    figures: dict[str, float] = json_from_child(__name__, "memory", column, str(steps), db)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
