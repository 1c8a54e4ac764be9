"""No orphans (docs/design.md §5b): the OS processes of process and command tools die with a runtime
that is SIGKILLed — at once (the parent-death signal) — and what they started themselves dies
at the next open (the journal's ``tool.spawned``), checked by pid *and* start time, so that a
process that merely reused a pid is never killed."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import _crash_tools as ct
import anyio
import pytest
from _crash_harness import all_gone, kill_at, os_process_gone, pids_in

from soma_runtime import Runtime
from soma_runtime.tools._proc import identify, kill_leftovers

pytestmark = pytest.mark.anyio


async def test_tool_processes_die_with_a_killed_runtime_and_their_children_at_the_next_open(
    tmp_path: Path,
) -> None:
    db, side = tmp_path / "soma.db", tmp_path / "side"
    killed = await anyio.to_thread.run_sync(kill_at, db, side, "in_command", 0, 30.0)
    commands = [line.split() for line in killed.side_before if line.split()[1] == "command"]
    leader, grandchild = int(commands[0][2]), int(commands[0][3])
    workers = pids_in([line for line in killed.side_before if line.split()[1] == "process"])
    # The parent-death signal: the command's own process and every process-tool worker.
    await all_gone([leader, *workers])
    assert not os_process_gone(grandchild), "what the command started is not covered by it"

    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False) as rt:
        assert grandchild in rt.recovery.killed_os_pids
        await all_gone([grandchild])


def test_the_sweep_kills_only_the_process_the_journal_names(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        identity = identify(stranger.pid)
        assert identity.start_time is not None and identity.boot_id is not None
        reused = dataclasses.replace(identity, start_time=identity.start_time - 1)
        assert kill_leftovers([reused]) == [], "same pid, another start: another process"
        elsewhere = dataclasses.replace(identity, boot_id="another-boot")
        assert kill_leftovers([elsewhere]) == [], "a journal of an earlier boot"
        assert stranger.poll() is None
        assert kill_leftovers([identity]) == [stranger.pid]
        assert stranger.wait(timeout=5) == -9
    finally:
        stranger.kill()
        stranger.wait()
