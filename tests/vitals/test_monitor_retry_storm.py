"""Issue 21's retry storm through a live runtime: real runs, a real ``CommandTool`` running
``sh -c '...; exit 2'`` that fails the same way 120 times, after ordinary work on real files.
The monitor holds the agent in BLOCK for the whole storm — a destructive tool is refused at
its end — and ten successes bring it back to GUIDE or below. The stored log replays to what
the monitor recorded, bit for bit, and its trajectory meets the storm's goal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from soma_runtime import RunState, Runtime, Step
from soma_runtime.vitals import Mode, first_divergence, recorded_trajectory
from soma_runtime.vitals.scenarios import measure, record_storm
from soma_runtime.vitals.scenarios._live import AGENT, TOOLS

pytestmark = pytest.mark.anyio


async def test_a_live_retry_storm_holds_block_and_refuses_destructive_tools(tmp_path: Path) -> None:
    refused: list[str] = []

    async def during(session: Any) -> None:
        # The agent, 120 failures in, reaches for a destructive tool: refused under BLOCK.
        await rt.vitals.caught_up(timeout=10.0)
        assert (await rt.vitals.snapshot())[AGENT].mode is Mode.BLOCK
        run = await session.start_run([Step("w", "file_write", {"path": "notes.txt", "content": "x"})])
        result = await run.result()
        assert result.state is RunState.FAILED and "destructive" in (result.error or "")
        refused.append(run.run_id)

    async with Runtime.open(db=str(tmp_path / "soma.db"), tools=list(TOOLS), root=tmp_path) as rt:
        scenario = await record_storm(rt, tmp_path, during=during)
        assert refused and await rt.events.query(run_id=refused[0], type="tool.blocked")
        assert not (tmp_path / "notes.txt").exists(), "nothing destructive ran under BLOCK"

    log = scenario.events
    assert first_divergence(log) is None  # the monitor's record is what a fresh engine computes
    recorded = [p for p in recorded_trajectory(log) if p["agent_id"] == AGENT]
    onset, end = scenario.onset, scenario.end
    assert onset is not None and end is not None
    storm = [Mode(p["mode"]) for p in recorded if onset <= p["action"] <= end]
    first_block = storm.index(Mode.BLOCK)
    assert first_block < 10  # within ten failures
    assert all(mode is Mode.BLOCK for mode in storm[first_block:])  # and for the whole storm
    assert Mode(recorded[-1]["mode"]).rank <= Mode.GUIDE.rank  # ten successes later
    result = measure(scenario)
    assert result.ok, result.failures()
