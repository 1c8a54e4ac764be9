"""Several runtimes share one PostgreSQL log (docs/design.md §11): three real processes, each
a node running its own runs; one is SIGKILLed mid-run, and another node takes over its work
once its lease expires — resuming it exactly as an open resumes a stopped runtime's."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from _crash_harness import executions

from soma_runtime import open_event_log
from soma_runtime.execution.run_records import TERMINAL_EVENTS
from soma_runtime.store.events import Event

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("_node_child.py")
LEASE = 1.5


def node(url: str, side: Path, label: str, seconds: float) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A node started, its runs' ids by label once it printed READY."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), url, str(side), label, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    runs: dict[str, str] = {}
    for line in proc.stdout:
        words = line.split()
        if words[0] == "RUN":
            runs[words[1]] = words[2]
        elif words[0] == "READY":
            return proc, runs
    raise AssertionError(f"node {label} exited: {proc.communicate()[1][-2000:]}")


async def ended(url: str, run_ids: list[str], timeout: float) -> list[Event]:
    """The log once every one of ``run_ids`` has its end (another node writes them: there is
    nothing in this process to await)."""
    with anyio.fail_after(timeout):
        while True:
            async with open_event_log(url, readonly=True) as log:
                events = await log.query()
            done = {e.run_id for e in events if e.type in TERMINAL_EVENTS}
            if done >= set(run_ids):
                return events
            await anyio.sleep(0.05)


async def test_a_killed_nodes_runs_are_resumed_by_another_node(tmp_path: Path, pg_url: str) -> None:
    url = f"{pg_url}&soma_lease={LEASE}"
    side = tmp_path / "side"
    victim, victim_runs = node(url, side, "a", 60.0)
    survivors = [node(url, side, label, 1.0) for label in ("b", "c")]
    try:
        await executions(side, 2 * 2 + 2 * 2 * 2)  # every node's s1 and s2 have begun
        killed_at = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        events = await ended(url, list(victim_runs.values()), timeout=30)
        took = time.monotonic() - killed_at
        all_runs = [*victim_runs.values(), *(r for _p, runs in survivors for r in runs.values())]
        events = await ended(url, all_runs, timeout=30)
    finally:
        for proc, _runs in survivors:
            proc.send_signal(signal.SIGTERM)
        for proc, _runs in survivors:
            assert proc.wait(timeout=30) in (0, -signal.SIGTERM, 128 + signal.SIGTERM), proc.stderr
        victim.kill()

    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "seq is gap-free across nodes"
    for run_id in all_runs:
        assert len([e for e in events if e.run_id == run_id and e.type in TERMINAL_EVENTS]) == 1, run_id

    safe, once = victim_runs["a-safe"], victim_runs["a-once"]
    of = {r: [e.type for e in events if e.run_id == r] for r in (safe, once)}
    # The idempotent step in flight runs again elsewhere; the other ends its run, unsafe.
    assert of[safe].count("run.resumed") == 1 and of[safe][-1] == "run.completed"
    [failed] = [e for e in events if e.run_id == once and e.type == "run.failed"]
    assert failed.payload["kind"] == "resume_unsafe"
    executed = [line.split()[0] for line in side.read_text().splitlines()]
    assert executed.count("a-safe/s1") == 1 and executed.count("a-once/s1") == 1, "s1 never runs twice"
    assert executed.count("a-safe/s2") == 2 and executed.count("a-once/s2") == 1
    assert executed.count("a-safe/s3") == 1
    # The survivors' own runs went on untouched.
    for _proc, runs in survivors:
        for run_id in runs.values():
            assert [e.type for e in events if e.run_id == run_id][-1] == "run.completed"
    assert took < LEASE + 10, f"failover took {took:.1f} s"
