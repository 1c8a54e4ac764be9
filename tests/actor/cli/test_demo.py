"""``soma demo`` (the main job, ``make run``): real agents on a real SQLite file; every
outcome it shows off happens, and the summary names each one."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import anyio
from _cli import SOMA, clean_env

from soma_runtime import Event, Runtime, Step, open_event_log


def soma_demo(db: Path | str) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "COLUMNS": "140"}
    return subprocess.run(
        [*SOMA, "demo", "--db", str(db)], capture_output=True, text=True, env=env, timeout=120
    )


def test_soma_demo_drives_every_outcome_and_summarises_them(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    first = soma_demo(db)
    assert first.returncode == 0, first.stdout + first.stderr
    done = soma_demo(db)  # a second demo replaces the first one's database
    assert done.returncode == 0, done.stdout + done.stderr
    for outcome in ("completed", "1 failed", "1 timeout", "1 cancelled", "1 blocked", "block", "delegation"):
        assert outcome in done.stdout, outcome
    assert "soma dashboard --db" in done.stdout and "soma trace run-" in done.stdout
    # Does guidance help? Every verdict, and where to look.
    for verdict in ("helps", "harms", "no effect", "collecting"):
        assert verdict in done.stdout, verdict
    assert "soma outcomes --db" in done.stdout and "(tab 4: outcomes)" in done.stdout
    events = anyio.run(recorded, db)
    types = {e.type for e in events}
    for expected in ("tool.blocked", "run.timeout", "run.cancelled", "run.failed", "vitals.trust"):
        assert expected in types, expected
    assert len([e for e in events if e.type == "actor.started"]) == 4  # one demo's worth
    outcomes = [e for e in events if e.type == "guidance.outcome"]
    assert {o.payload["arm"] for o in outcomes} == {"treatment", "control"}
    assert {o.source for o in outcomes} == {"runtime"}
    installer = [e for e in events if e.type == "vitals.updated" and e.agent_id == "installer"]
    assert "block" in {e.payload["mode"] for e in installer}


def test_the_demo_storm_holds_block_through_the_refusal_wherever_soma_is_installed(tmp_path: Path) -> None:
    """The monitor judges the wipe's own model turn concurrently with the refusal check, so
    BLOCK must hold on both sides of it; and no event text may name the install location
    (it feeds the drift signal, and once made the storm end below BLOCK on another machine)."""
    db = tmp_path / "soma.db"
    assert soma_demo(db).returncode == 0
    events = [e for e in anyio.run(recorded, db) if e.agent_id == "installer"]
    refused = next(e.seq for e in events if e.type == "tool.blocked")
    modes = [e.payload["mode"] for e in events if e.type == "vitals.updated"]
    pressures = [e.payload["pressure"] for e in events if e.type == "vitals.updated"]
    first_block = modes.index("block")
    after_refusal = [e for e in events if e.type == "vitals.updated" and e.seq > refused]
    held = len(modes) - len(after_refusal) + 1  # up to the first judgement after the refusal
    assert set(modes[first_block:held]) == {"block"}
    # With a margin: the storm is not learnt as the agent's normal, so it climbs, not fades.
    assert pressures[held - 1] >= 0.85, pressures[first_block:held]
    assert all(sys.prefix not in str(e.payload) for e in events)


async def recorded(db: Path) -> list[Event]:
    async with open_event_log(db, readonly=True) as log:
        return await log.query()


def test_soma_demo_never_replaces_a_file_that_is_not_a_soma_database(tmp_path: Path) -> None:
    precious = tmp_path / "notes.db"
    precious.write_text("not a database")
    done = soma_demo(precious)
    assert done.returncode == 1 and "is not a Soma database" in done.stderr
    assert precious.read_text() == "not a database"


def snapshot(db: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name)}


def test_soma_demo_never_replaces_a_soma_database_it_did_not_create(tmp_path: Path) -> None:
    db = tmp_path / "agents.db"

    async def record() -> None:
        async with Runtime.open(db=db, vitals=False) as rt:
            await (await rt.start_session("mine")).start_run([Step("s1", "echo", {"value": 1})])

    anyio.run(record)
    before = snapshot(db)
    done = soma_demo(db)
    assert done.returncode == 1
    assert "is a Soma database the demo did not create; not replacing it" in done.stderr
    assert snapshot(db) == before, "byte for byte untouched"


def test_soma_demo_never_replaces_a_database_a_runtime_has_open(tmp_path: Path) -> None:
    db, sock = tmp_path / "soma.db", tmp_path / "soma.sock"
    assert soma_demo(db).returncode == 0  # the demo's own: replaceable, but not while in use
    server = subprocess.Popen(
        [*SOMA, "serve", "--db", str(db), "--control", str(sock), "--no-vitals"],
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        while "serving" not in server.stderr.readline():
            assert server.poll() is None, "soma serve exited"
        before = snapshot(db)
        done = soma_demo(db)
        assert done.returncode == 1
        assert f"is in use by a running Soma runtime (pid {server.pid}); not replacing it" in done.stderr
        assert snapshot(db) == before, "byte for byte untouched"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert soma_demo(db).returncode == 0, "once the runtime is gone, the demo replaces its own database"


def test_soma_demo_runs_on_an_empty_postgresql_database_and_never_on_a_full_one(pg_url: str) -> None:
    first = soma_demo(pg_url)  # a URL is a --db too
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"soma status --db {pg_url}" in first.stdout
    again = soma_demo(pg_url)
    assert again.returncode == 1
    assert "the demo runs on an empty database" in again.stderr and "events" in again.stderr
