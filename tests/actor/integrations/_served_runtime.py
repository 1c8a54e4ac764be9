"""A real ``soma serve`` in a child process, for hooks and wrapped clients to record through."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _hooks import SOMA, clean_env


@contextmanager
def served(db: Path, control: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """``soma serve --db DB --control SOCK`` until the block ends (then SIGTERM, and its exit
    code checked: an orderly shutdown)."""
    proc = subprocess.Popen(
        [*SOMA, "serve", "--db", str(db), "--control", str(control), *extra],
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=db.parent,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving" in line:
                break
        else:
            raise AssertionError(f"soma serve exited with {proc.wait()} before serving")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
