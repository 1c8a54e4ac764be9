"""The database verbs as real subprocesses on a database a real runtime recorded: status,
statusline, replay (from the store and from a JSONL export, whole and sliced, matching and
not), trace, export — and the bad inputs, each one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from _cli import BUDGET, Recorded, events_of, soma_all

from soma_actor.cli import main
from soma_runtime.store.events import Event


def latest_vitals(rec: Recorded, agent: str) -> dict[str, object]:
    return [e for e in events_of(rec.db, type="vitals.updated") if e.agent_id == agent][-1].payload


def test_status_and_statusline(any_rec: Recorded) -> None:
    rec = any_rec
    status, line = soma_all(["status", "--db", str(rec.db)], ["statusline", "--db", str(rec.db)])
    assert status.code == 0, status.err
    header, *agents = status.out.splitlines()
    assert header.startswith("soma 0.1.0") and "2 agents" in header
    assert f" {len(events_of(rec.db))} events " in header
    rows = {row.split()[0]: row for row in agents}
    assert set(rows) == {"research", "writer"}
    signals = " ".join(rf"{letter}=(\d\.\d\d|-)" for letter in "udetc")  # "-": no reading
    pattern = re.compile(rf"^(\S+)\s+(OBSERVE|GUIDE|WARN|BLOCK)\s+p=(\d\.\d\d) {signals}  ")
    for agent, row in rows.items():
        match = pattern.match(row)
        assert match is not None, row
        vitals = latest_vitals(rec, agent)
        assert match[2] == str(vitals["mode"]).upper()
        assert match[3] == f"{vitals['effective_pressure']:.2f}"
    steps = len(events_of(rec.db, agent_id="research", type="step.started"))
    tokens = 100 + 20 + 250 + 20
    assert rows["research"].endswith(
        f"tokens {tokens}/{BUDGET['max_tokens']} $0.0035/0.50 calls 2/10 steps {steps}/20"
    )
    assert rows["writer"].endswith("tokens 0 $0")

    assert line.code == 0, line.err
    [text] = line.out.splitlines()
    worst = max(("research", "writer"), key=lambda a: float(latest_vitals(rec, a)["effective_pressure"]))  # type: ignore[arg-type]
    assert text.startswith(f"soma {str(latest_vitals(rec, worst)['mode']).upper()} {worst} p=")
    assert text.endswith("| 2 agents: " + header.split("(")[1].split(")")[0])


def test_replay_matches_the_record_bit_for_bit_and_names_a_divergence(
    any_rec: Recorded, tmp_path: Path
) -> None:
    rec = any_rec
    exported = tmp_path / "all.jsonl"
    tampered = tmp_path / "tampered.jsonl"
    # In-process: the export verb runs as a process in test_trace_and_export.
    assert main(["export", "--db", str(rec.db), "-o", str(exported)]) == 0
    lines = exported.read_text().splitlines()
    # Change one recorded pressure by its last bit: bit for bit means exactly that.
    target = max(i for i, line in enumerate(lines) if json.loads(line)["type"] == "vitals.updated")
    event = json.loads(lines[target])
    event["payload"]["pressure"] = math.nextafter(event["payload"]["pressure"], 2.0)
    lines[target] = json.dumps(event)
    tampered.write_text("\n".join(lines) + "\n")

    from_db, from_file, changed = soma_all(
        ["replay", "--db", str(rec.db)],
        ["replay", str(exported), "-q"],
        ["replay", str(tampered), "-q"],
    )
    points = len(events_of(rec.db, type="vitals.updated"))
    assert from_db.code == 0, from_db.err
    *trajectory, verdict = from_db.out.splitlines()
    assert len(trajectory) == points
    assert verdict == f"match: {points} points, bit-identical to the recorded trajectory"
    assert from_file.code == 0 and from_file.out.splitlines() == [verdict]

    assert changed.code == 3
    [line] = changed.out.splitlines()
    cause = event["payload"]["cause_seq"]
    assert line.startswith(f"DIVERGES at point {points - 1}: cause seq {cause}: pressure recorded ")


def test_trace_and_export(any_rec: Recorded, tmp_path: Path) -> None:
    rec = any_rec
    out = tmp_path / "w.jsonl"
    trace, export, agent = soma_all(
        ["trace", rec.failed_run, "--db", str(rec.db)],
        ["export", "--db", str(rec.db), "--run", rec.cancelled_run],
        ["export", "--db", str(rec.db), "--agent", "writer", "--type", "session.*", "-o", str(out)],
    )
    assert trace.code == 0, trace.err
    head, *rows = trace.out.splitlines()
    assert head.startswith(f"run {rec.failed_run}  session {rec.research_session}  agent research  failed")
    recorded = events_of(rec.db, run_id=rec.failed_run)
    assert [row.split()[2] for row in rows] == [e.type for e in recorded]
    assert [row.split()[1] for row in rows] == [f"#{e.seq}" for e in recorded]
    assert rows[-1].split()[2] == "run.failed" and '"error":' in rows[-1]

    assert export.code == 0, export.err
    exported = [Event.model_validate_json(line) for line in export.out.splitlines()]
    assert exported == events_of(rec.db, run_id=rec.cancelled_run)
    assert exported[-1].type == "run.cancelled"

    assert agent.code == 0 and agent.err.strip() == f"exported 2 events to {out}"
    types = [json.loads(line)["type"] for line in out.read_text().splitlines()]
    assert types == ["session.started", "session.stopped"]


def test_bad_inputs_are_one_clear_line_and_a_non_zero_exit(rec: Recorded, tmp_path: Path) -> None:
    # The bad inputs, each through a real process; the other variations of each
    # verb run in-process (test_cli_app), where they cost no interpreter start.
    missing = str(tmp_path / "missing.db")
    corrupt = tmp_path / "corrupt.jsonl"
    good = [e.to_json() for e in events_of(rec.db)[:3]]
    corrupt.write_text("".join(f"{line}\n" for line in [good[0], good[1], "{cut", good[2]]))
    cases: list[tuple[list[str], str]] = [
        (["status", "--db", missing], f"no database at {missing}"),
        (["replay", str(corrupt)], f"{corrupt}:3: not JSON"),
        (["trace", "run-nope", "--db", str(rec.db)], f"no run 'run-nope' in {rec.db}"),
    ]
    for (args, expected), result in zip(cases, soma_all(*(args for args, _ in cases)), strict=True):
        assert result.code == 1, (args, result)
        assert result.out == "", args
        [line] = result.err_lines
        assert line.startswith("soma: error: ") and expected in line, (args, line)
