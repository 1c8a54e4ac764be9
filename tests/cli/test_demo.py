"""``soma demo`` (the main job): real agents on a real SQLite file; every outcome it shows
off happens, and the summary names each one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from soma_actor.cli.demo import run_demo
from soma_runtime import open_event_log

pytestmark = pytest.mark.anyio


async def test_the_demo_drives_every_outcome_and_summarises_them(tmp_path: Path) -> None:
    db = str(tmp_path / "soma.db")
    buffer = io.StringIO()
    assert await run_demo(db, Console(file=buffer, width=140, color_system=None)) == 0
    text = buffer.getvalue()
    for outcome in ("completed", "1 failed", "1 timeout", "1 cancelled", "1 blocked", "block", "delegation"):
        assert outcome in text, outcome
    assert "soma dashboard --db" in text and "soma trace run-" in text
    async with open_event_log(db, readonly=True) as log:
        types = {e.type for e in await log.query()}
        for expected in ("tool.blocked", "run.timeout", "run.cancelled", "run.failed", "vitals.trust"):
            assert expected in types, expected
        blocked = await log.query(type="vitals.updated", agent_id="installer")
        assert any(e.payload["mode"] == "block" for e in blocked)
