"""An acknowledged append survives the death of its process (SIGKILL, no cleanup at all)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from soma_runtime.store.log import open_event_log

CHILD = Path(__file__).with_name("_append_child.py")


def _parse(lines: str) -> dict[int, str]:
    acked = {}
    for line in lines.splitlines():
        parts = line.split()
        if len(parts) == 2:  # the kill may cut the very last line short
            acked[int(parts[0])] = parts[1]
    return acked


@pytest.mark.parametrize("kill_after", [1, 3000])
def test_sigkill_keeps_every_acknowledged_event(tmp_path: Path, kill_after: int) -> None:
    db = tmp_path / "events.db"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked: dict[int, str] = {}
    try:
        for line in child.stdout:
            acked.update(_parse(line))
            if len(acked) >= kill_after:
                break
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: appends are in flight right now
        rest, errors = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, errors
    acked.update(_parse(rest))
    assert len(acked) >= kill_after, errors

    # Reopen the way a restarted runtime would (WAL recovery), straight from the file.
    conn = sqlite3.connect(db)
    try:
        stored = dict(conn.execute("SELECT seq, event_id FROM events ORDER BY seq").fetchall())
    finally:
        conn.close()
    assert list(stored) == list(range(1, len(stored) + 1)), "seq has a gap"
    missing = {seq: eid for seq, eid in acked.items() if stored.get(seq) != eid}
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {list(missing.items())[:3]}"

    async def resume() -> int:
        async with open_event_log(db) as log:
            return (await log.append("session.started", {})).seq

    assert anyio.run(resume) == len(stored) + 1
