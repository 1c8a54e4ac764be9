"""Crash-resume: a run in a real child process, SIGKILLed mid-run, then resumed by a fresh
process on the same database. The steps' own record (``_side``) says which steps the killed
process completed and which of those ran again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .._peer import json_from_child
from ._side import marks, tally

CHILD = f"{__package__}.child"


def crash_resume(column: str, steps: int, kill_at: int, directory: Path) -> dict[str, float | str]:
    """Kill the run once ``kill_at`` of its ``steps`` have run, resume it, and count."""
    db, side = str(directory / f"{column}-crash.db"), str(directory / f"{column}-crash.steps")
    for path in (db, side, db + "-wal", db + "-shm"):
        Path(path).unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-m", CHILD, "crash", column, str(steps), db, side],
        stdout=subprocess.DEVNULL,
        cwd=os.getcwd(),
    )
    deadline = time.perf_counter() + 120
    while marks(side) < kill_at:  # poll the real condition: the steps that ran
        if child.poll() is not None:
            raise RuntimeError(f"{column}: the run ended (exit {child.returncode}) before it was killed")
        if time.perf_counter() > deadline:
            child.kill()
            raise TimeoutError(f"{column}: {kill_at} steps did not run within 120 s")
        time.sleep(0.0002)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    timing: dict[str, Any] = json_from_child(CHILD, "resume", column, db, side, str(steps))
    counts = tally(side, steps, child.pid)
    if counts["missing"]:
        raise RuntimeError(f"{column}: {counts['missing']} steps never ran after the resume")
    return {
        "completed": float(counts["completed"]),
        "rerun": float(counts["rerun"]),
        "resume_first": timing["first_ms"],
        "resume_done": timing["done_ms"],
        "resume_from": timing["from"],
    }
