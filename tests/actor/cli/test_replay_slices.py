"""``soma replay`` of a slice: from the database, a run, a session or an agent replays from the
state its agents had reached and matches its record; an export that is itself a slice is
refused with how to replay it instead — never a difference that is not one; nothing to
replay says so."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from _cli import Recorded, events_of

from soma_actor.cli import main
from soma_runtime import Runtime
from soma_runtime.vitals import first_divergence


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_slice_of_the_database_replays_from_its_agents_state(
    capsys: pytest.CaptureFixture[str], rec: Recorded
) -> None:
    # The failed run is research's second: a fresh engine on its events alone would score
    # its first action as the agent's first — a difference that is not one.
    run_events = events_of(rec.db, run_id=rec.failed_run)
    session_vitals = [
        e
        for e in events_of(rec.db, type="vitals.updated")
        if e.payload["cause_seq"] in {r.seq for r in run_events}
    ]
    assert session_vitals, "the failed run has recorded points"
    assert first_divergence(sorted([*run_events, *session_vitals], key=lambda e: e.seq)) == 0

    db = str(rec.db)
    for flag, value in (
        ("--run", rec.failed_run),
        ("--run", rec.completed_run),
        ("--session", rec.research_session),
        ("--agent", "research"),
        ("--agent", "writer"),
    ):
        code, out, err = run_main(capsys, "replay", "--db", db, flag, value, "-q")
        assert code == 0, (flag, value, out, err)
        assert out.startswith("match: ") and "bit-identical" in out, (flag, value, out)
    code, out, _ = run_main(capsys, "replay", "--db", db, "--run", rec.failed_run)
    *points, verdict = out.splitlines()
    assert len(points) == len(session_vitals) and verdict.startswith(f"match: {len(points)} point")


def test_an_export_that_is_a_slice_is_refused_and_a_whole_one_is_sliced(
    capsys: pytest.CaptureFixture[str], rec: Recorded, tmp_path: Path
) -> None:
    db = str(rec.db)
    whole = tmp_path / "all.jsonl"
    assert run_main(capsys, "export", "--db", db, "-o", str(whole))[0] == 0
    for flag, value in (("--run", rec.failed_run), ("--agent", "research"), ("--type", "tool.*")):
        sliced = tmp_path / "slice.jsonl"
        assert run_main(capsys, "export", "--db", db, flag, value, "-o", str(sliced))[0] == 0
        code, out, err = run_main(capsys, "replay", str(sliced))
        assert (code, out) == (1, ""), (flag, out)
        [line] = err.splitlines()
        assert "is a slice of a log" in line and "cannot be replayed exactly" in line, line
        assert "DIVERGES" not in line and "soma replay --db PATH" in line
    code, out, _ = run_main(capsys, "replay", str(whole), "--run", rec.failed_run, "-q")
    assert code == 0 and out.startswith("match: "), out


def test_nothing_to_replay_is_said_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run_main(capsys, "replay", str(empty)) == (0, f"nothing to replay: {empty} holds no events\n", "")

    db = tmp_path / "idle.db"

    async def idle() -> str:
        async with Runtime.open(db=db) as rt:
            session = await rt.start_session("idle")
            await session.stop()
            return session.session_id

    session_id = anyio.run(idle, backend="asyncio")
    code, out, _ = run_main(capsys, "replay", "--db", str(db), "--session", session_id)
    expected = f"nothing to replay: no action in session {session_id} is one the vitals score"
    assert code == 0 and out.startswith(expected), out


def test_replay_reads_soma_db_by_default_and_a_database_given_as_a_file_is_pointed_to_db(
    capsys: pytest.CaptureFixture[str], rec: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "soma.db").write_bytes(rec.db.read_bytes())
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_main(capsys, "replay", "-q")
    assert code == 0 and out.startswith("match: "), out
    code, out, err = run_main(capsys, "replay", "soma.db")
    assert (code, out) == (1, "")
    expected = "soma: error: soma.db is a Soma database, not a JSONL export: replay it with --db soma.db"
    assert err.strip() == expected


def test_a_line_that_is_not_json_names_its_column_once(
    capsys: pytest.CaptureFixture[str], rec: Recorded, tmp_path: Path
) -> None:
    first = events_of(rec.db)[0].to_json()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(first + "\n" + '{"seq": 2, "type": "unterminated')
    code, _, err = run_main(capsys, "replay", str(bad))
    assert code == 1
    assert err.strip() == f"soma: error: {bad}:2: not JSON: Unterminated string starting at (column 20)"
    assert json.loads(first)["seq"] == 1
