"""Issue 17's end-to-end test: a scripted Claude Code session — a retry storm of failing Bash
commands, then ``rm -rf build/`` — piped as real hook JSON into real ``soma hook`` processes,
straight into the database and through a running ``soma serve``. The hooks answer with
guidance as additionalContext, then refuse the destructive command; the store, ``soma
status`` and ``soma replay`` agree; and both ways give the same vitals."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _hooks import Answered, bash, failure, hook, pre, prompt, session_start, soma
from _served_runtime import served

from soma_runtime.store.glance import glance
from soma_runtime.vitals import VitalsEngine
from soma_runtime.vitals.updates import PressureUpdate

SESSION = "6f1c1b5e-8a3c-4f2e-9d7a-0c1d2e3f4a5b"
AGENT = f"claude-{SESSION}"
STORM = 8


def session_script(cwd: Path) -> list[tuple[str, dict[str, Any]]]:
    """(label, hook event) in the order Claude Code would send them."""
    (cwd / "build").mkdir(exist_ok=True)
    events = [
        ("start", session_start(SESSION, cwd)),
        ("prompt", prompt(SESSION, cwd, "Make the release build pass and ship it.")),
    ]
    for i in range(STORM):
        command = bash("make release")
        events.append((f"pre {i}", pre(SESSION, cwd, "Bash", command, f"toolu_make_{i}")))
        error = "Exit code 2\nmake: *** [release] Error 1\nld: cannot find -lssl"
        events.append((f"failed {i}", failure(SESSION, cwd, "Bash", command, f"toolu_make_{i}", error)))
    events.append(("rm", pre(SESSION, cwd, "Bash", bash("rm -rf build/"), "toolu_rm")))
    return events


def run_session(db: Path, control: Path | None) -> dict[str, Answered]:
    return {label: hook(db, event, control) for label, event in session_script(db.parent)}


def rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT seq, type, session_id, agent_id, tool_call_id, source, payload FROM events"
        ).fetchall()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Answered]]]:
    """The session, recorded once straight into a database and once through ``soma serve``."""
    direct = tmp_path_factory.mktemp("direct") / "soma.db"
    through = tmp_path_factory.mktemp("served") / "soma.db"
    found = {"direct": (direct, run_session(direct, None))}
    control = through.parent / "soma.sock"
    with served(through, control):
        found["served"] = (through, run_session(through, control))
    return found


@pytest.fixture(params=["direct", "served"])
def recorded(
    request: pytest.FixtureRequest, recordings: dict[str, tuple[Path, dict[str, Answered]]]
) -> tuple[Path, dict[str, Answered]]:
    return recordings[request.param]


def test_guidance_then_a_deny(recorded: tuple[Path, dict[str, Answered]]) -> None:
    _, answers = recorded
    assert all(a.code == 0 and a.err == "" for a in answers.values()), answers
    # Nothing is said at the start, the prompt, or before the first failure.
    assert answers["start"].out == answers["prompt"].out == answers["pre 0"].out == ""
    contexts = [answers[f"failed {i}"].context for i in range(STORM)]
    said = [c for c in contexts if c]
    assert said, "guidance reached the model as additionalContext"
    assert any("re-ran `Bash` with the same arguments" in c for c in said)  # bash_retry
    assert any("Vitals BLOCK" in c for c in said)
    for i in range(STORM):
        answer = answers[f"failed {i}"].json
        if answer is not None:
            assert answer["hookSpecificOutput"]["hookEventName"] == "PostToolUseFailure"
    refusal = answers["rm"]
    assert refusal.decision == "deny"
    output = refusal.json
    assert output is not None
    reason = output["hookSpecificOutput"]["permissionDecisionReason"]
    assert output["hookSpecificOutput"]["hookEventName"] == "PreToolUse"
    assert "rm -r" in reason and "BLOCK" in reason


def test_the_store_records_the_session(recorded: tuple[Path, dict[str, Answered]]) -> None:
    db, _ = recorded
    events = rows(db)
    assert [seq for seq, *_ in events] == list(range(1, len(events) + 1)), "seq gap-free"
    kinds = [kind for _, kind, *_ in events]
    assert kinds[:2] == ["session.started", "actor.task.received"]
    assert kinds.count("tool.started") == STORM and kinds.count("tool.failed") == STORM
    assert kinds[-1] == "tool.blocked"
    for _, kind, session, agent, call, source, payload in events:
        # Who recorded it is on the envelope (the vitals events say their cause's source).
        assert source == "hook" and "source" not in json.loads(payload)
        if kind.startswith(("tool.", "session.", "actor.")):
            assert (session, agent) == (SESSION, AGENT)
        if kind in ("tool.started", "tool.failed", "tool.blocked"):
            assert call is not None and call.startswith("toolu_")
    fired = {json.loads(p)["firing_id"] for _, k, *_, p in events if k == "guidance.fired"}
    delivered = [
        i for _, k, *_, p in events if k == "guidance.delivered" for i in json.loads(p)["firing_ids"]
    ]
    assert sorted(delivered) == sorted(fired), "every firing handed out once"


def test_status_and_replay_agree_with_the_store(recorded: tuple[Path, dict[str, Answered]]) -> None:
    db, _ = recorded
    status = soma("status", "--db", str(db))
    assert status.returncode == 0, status.stderr
    [line] = [line for line in status.stdout.splitlines() if line.startswith(AGENT)]
    assert line.split()[1] == "BLOCK"
    with glance(db) as log:
        last = log.query(agent_id=AGENT, type="vitals.updated", descending=True, limit=1)[0].payload
    assert f"p={last['effective_pressure']:.2f}" in line
    replay = soma("replay", "--db", str(db))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert f"match: {STORM} points, bit-identical" in replay.stdout


def test_direct_and_served_give_the_same_vitals(
    recordings: dict[str, tuple[Path, dict[str, Answered]]],
) -> None:
    def trajectory(db: Path) -> list[tuple[Any, ...]]:
        found = []
        for _, kind, *_, payload in rows(db):
            if kind == "vitals.updated":
                p = json.loads(payload)
                found.append((p["action"], p["pressure"], p["effective_pressure"], p["mode"], p["signals"]))
        return found

    direct, served_db = recordings["direct"][0], recordings["served"][0]
    assert trajectory(direct) == trajectory(served_db)
    assert len(trajectory(direct)) == STORM
    # …and a fresh engine over the recorded events computes the same pressures, bit for bit.
    with glance(direct) as log:
        events = log.query()
    replayed = [u for u in VitalsEngine().observe_many(events) if isinstance(u, PressureUpdate)]
    assert [(u.action, u.pressure) for u in replayed] == [(a, p) for a, p, *_ in trajectory(direct)]
