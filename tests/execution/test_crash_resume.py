"""Fault injection: a real runtime is SIGKILLed at many points of its runs' lives, then the
file is opened again, and what the log says must hold whatever the point was.

After each kill, and the recovery at open:
- every event the killed runtime acknowledged is there, under the same seq; seq has no gap;
- every run that began has exactly one terminal event, and never a second ``run.started``;
- a step committed before the kill never executes again (the tools count their executions
  in a side file); a step that was in flight runs again only if its tool was idempotent,
  otherwise its run ends ``run.failed``, kind ``resume_unsafe``;
- every run ends ``completed``, but for those;
- no tool process is left: every OS process a tool ran in (by pid) is gone;
- once the recovering runtime stops in order, every session has stopped.

Seeded: each point runs with ``SOMA_CRASH_SEEDS`` seeds (default 1, which keeps the suite
inside its time budget — ``SOMA_CRASH_SEEDS=20`` for a soak; ``random`` gets three times as
many), which vary when runs start, how long their tools take and where ``random``
kills. ``SOMA_CRASH_MATRIX=FILE`` appends what each run went through to FILE (JSON lines).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import _crash_tools as ct
import anyio
import pytest
from _crash_harness import POINTS, Killed, all_gone, kill_at, pids_in

from soma_runtime import RunResult, RunState, Runtime
from soma_runtime.execution.run_records import TERMINAL_EVENTS

pytestmark = pytest.mark.anyio

SEEDS = int(os.environ.get("SOMA_CRASH_SEEDS", "1"))
LEASE = 0.5  # seconds, on PostgreSQL: how long a killed runtime's work waits
# Every point on both backends; on PostgreSQL (whose runs are the same code above the store)
# half the seeds (at least one), to keep the suite's time bounded.
CASES = [
    (backend, point, seed)
    for backend, seeds in (("sqlite", SEEDS), ("postgres", max(1, SEEDS // 2)))
    for point in POINTS
    for seed in range(seeds * (3 if point == "random" else 1))
]


@pytest.mark.parametrize(("backend", "point", "seed"), CASES, ids=[f"{b}-{p}-{s}" for b, p, s in CASES])
async def test_a_killed_runtime_leaves_a_log_that_recovery_completes(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str, point: str, seed: int
) -> None:
    db = (
        f"{request.getfixturevalue('pg_url')}&soma_lease={LEASE}"
        if backend == "postgres"
        else str(tmp_path / "soma.db")
    )
    side = tmp_path / "side"
    killed = await anyio.to_thread.run_sync(kill_at, db, side, point, seed)
    if backend == "postgres":
        # A shared log cannot tell a dead runtime from a slow one until its lease runs out:
        # only then is its work another's to take (the clock is what is waited for).
        await anyio.sleep(LEASE)

    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False) as rt:
        recovery = rt.recovery
        with anyio.fail_after(30):
            results = {run_id: await (await rt.run(run_id)).result() for run_id in killed.phases}
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False) as rt:
        assert rt.recovery.resumed == rt.recovery.started == [] and rt.recovery.ended == {}
        log = await rt.events.query()

    stored = {e.seq: e.event_id for e in log}
    assert [e.seq for e in log] == list(range(1, len(log) + 1)), "seq has a gap"
    lost = {seq: eid for seq, eid in killed.acked.items() if stored.get(seq) != eid}
    assert not lost, f"acknowledged events lost: {lost}"

    for run_id in killed.phases:
        mine = [e for e in log if e.run_id == run_id]
        ends = [e for e in mine if e.type in TERMINAL_EVENTS]
        assert len(ends) == 1, f"{run_id}: {[e.type for e in ends]}"
        assert [e.type for e in mine].count("run.started") <= 1
        if killed.phases[run_id] != "ended before the kill":
            resumed = run_id in recovery.resumed
            assert resumed == any(e.type == "run.resumed" for e in mine)

    side_after = side.read_text().splitlines()[len(killed.side_before) :]
    by_tag = {line.split()[0] for line in killed.side_before}
    for line in side_after:
        label, step = line.split()[0].split("/")
        run_id = killed.labels[label]
        assert (run_id, step) not in killed.committed_steps, f"committed step ran again: {line}"
        if line.split()[0] in by_tag:  # it had started before the kill: it is being repeated
            assert killed.tools[run_id].endswith("_safe") or step != "s2", f"unsafe step repeated: {line}"
    assert max(Counter(line.split()[0] for line in side_after).values(), default=0) <= 1

    for run_id, result in results.items():
        was = killed.phases[run_id]
        unsafe_in_flight = was == "tool running in s2" and killed.tools[run_id].endswith("_once")
        if unsafe_in_flight:
            assert result.state is RunState.FAILED and "resume_unsafe" in (result.error or "")
            assert recovery.ended[run_id] == "resume_unsafe"
        else:
            assert result.state is RunState.COMPLETED, (run_id, was, result)

    await all_gone(pids_in(killed.side_before + side_after))

    started = {e.session_id for e in log if e.type in ("session.started", "session.resumed")}
    stopped = {e.session_id for e in log if e.type == "session.stopped"}
    assert started <= stopped
    _record(killed, results, side_after)


def _record(killed: Killed, results: dict[str, RunResult], side_after: list[str]) -> None:
    target = os.environ.get("SOMA_CRASH_MATRIX")
    if not target:
        return
    rerun = {killed.labels[line.split()[0].split("/")[0]] for line in side_after if "/s2 " in line}
    with open(target, "a") as out:
        for run_id, result in results.items():
            tool = killed.tools[run_id]
            row = {
                "point": killed.point,
                "seed": killed.seed,
                "isolation": tool.split("_")[0],
                "idempotent": tool.endswith("_safe"),
                "phase": killed.phases[run_id],
                "outcome": result.state.value,
                "error": (result.error or "").split(":")[0],
                "s2_ran_after": run_id in rerun,
            }
            out.write(json.dumps(row) + "\n")
