"""``soma demo`` (the main job, ``make run``): real agents on a real SQLite file; every
outcome it shows off happens, and the summary names each one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
from _cli import SOMA, clean_env

from soma_runtime import Event, open_event_log


def soma_demo(db: Path) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "COLUMNS": "140"}
    return subprocess.run(
        [*SOMA, "demo", "--db", str(db)], capture_output=True, text=True, env=env, timeout=120
    )


def test_soma_demo_drives_every_outcome_and_summarises_them(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    assert soma_demo(db).returncode == 0
    done = soma_demo(db)  # a second demo replaces the first one's database
    assert done.returncode == 0, done.stderr
    for outcome in ("completed", "1 failed", "1 timeout", "1 cancelled", "1 blocked", "block", "delegation"):
        assert outcome in done.stdout, outcome
    assert "soma dashboard --db" in done.stdout and "soma trace run-" in done.stdout
    events = anyio.run(recorded, db)
    types = {e.type for e in events}
    for expected in ("tool.blocked", "run.timeout", "run.cancelled", "run.failed", "vitals.trust"):
        assert expected in types, expected
    assert len([e for e in events if e.type == "actor.started"]) == 4  # one demo's worth
    installer = [e for e in events if e.type == "vitals.updated" and e.agent_id == "installer"]
    assert "block" in {e.payload["mode"] for e in installer}


async def recorded(db: Path) -> list[Event]:
    async with open_event_log(db, readonly=True) as log:
        return await log.query()


def test_soma_demo_never_replaces_a_file_that_is_not_a_soma_database(tmp_path: Path) -> None:
    precious = tmp_path / "notes.db"
    precious.write_text("not a database")
    done = soma_demo(precious)
    assert done.returncode == 1 and "is not a Soma database" in done.stderr
    assert precious.read_text() == "not a database"
