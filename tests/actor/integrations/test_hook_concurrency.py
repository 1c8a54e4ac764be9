"""20 ``soma hook`` processes at once — Claude Code runs a turn's parallel tool calls' hooks
in parallel — straight into the database and through ``soma serve``: no event lost or
written twice, one start per session however many hooks race to it, seq gap-free, each
guidance firing handed out once, and vitals that a fresh engine reproduces bit for bit
(and, on the direct path, an engine cache equal to a fresh engine's state)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _hooks import bash, failure, hooks_at_once, post, pre
from _served_runtime import served

from soma_runtime.store.glance import glance
from soma_runtime.vitals import VitalsEngine, first_divergence

SESSIONS = ("9a8b7c6d-0000-4000-8000-000000000001", "9a8b7c6d-0000-4000-8000-000000000002")
CALLS = 10  # per session: 20 hooks in each wave


def wave(cwd: Path, stage: str) -> list[dict[str, Any]]:
    events = []
    for s, session in enumerate(SESSIONS):
        for i in range(CALLS):
            use = f"toolu_{s}_{i}"
            # Half the calls of the second session run in a subagent.
            extra = {"agent_id": "sub1", "agent_type": "general-purpose"} if s == 1 and i % 2 else {}
            command = bash(f"pytest tests/test_{i % 3}.py")
            if stage == "pre":
                events.append(pre(session, cwd, "Bash", command, use, **extra))
            elif i % 3 == 0:
                events.append(post(session, cwd, "Bash", command, use, {"stdout": "3 passed"}, **extra))
            else:
                events.append(failure(session, cwd, "Bash", command, use, "Exit code 1\n1 failed", **extra))
    return events


def check(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT seq, event_id, type, session_id, agent_id, tool_call_id FROM events"
        ).fetchall()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "seq gap-free"
    assert len({r[1] for r in rows}) == len(rows), "event ids unique"
    kinds = Counter(r[2] for r in rows)
    # One start per session (the two sessions and the subagent's), racing hooks or not.
    assert kinds["session.started"] == 3
    assert kinds["vitals.trust"] == 1
    calls = {f"toolu_{s}_{i}" for s in range(2) for i in range(CALLS)}
    started = Counter(r[5] for r in rows if r[2] == "tool.started")
    ended = Counter(r[5] for r in rows if r[2] in ("tool.succeeded", "tool.failed"))
    assert started == Counter(calls) and ended == Counter(calls), "each call started once and ended once"
    with glance(db) as log:
        events = log.query()
        fired = [e.payload["firing_id"] for e in events if e.type == "guidance.fired"]
        delivered = [f for e in events if e.type == "guidance.delivered" for f in e.payload["firing_ids"]]
    assert len(delivered) == len(set(delivered)) and set(delivered) <= set(fired), "each firing at most once"
    assert first_divergence(events) is None, "the recorded vitals are what a fresh engine computes"
    assert sum(1 for e in events if e.type == "vitals.updated") >= 2 * CALLS


@pytest.mark.parametrize("path", ["direct", "served"])
def test_twenty_hooks_at_once(tmp_path: Path, path: str) -> None:
    db = tmp_path / "soma.db"
    control = tmp_path / "soma.sock"

    def both_waves(control_path: Path | None) -> None:
        for stage in ("pre", "post"):
            answers = hooks_at_once(db, wave(tmp_path, stage), control_path)
            assert len(answers) == 2 * CALLS
            assert all(a.code == 0 and a.err == "" for a in answers), [a.err for a in answers if a.err]

    if path == "direct":
        both_waves(None)
        check(db)
        # The engine state the hooks keep between processes is the state of a fresh engine
        # fed the whole log: the cache is consistent, not merely close.
        with sqlite3.connect(db) as conn:
            cached = json.loads(conn.execute("SELECT state FROM soma_vitals_cache").fetchone()[0])
        with glance(db) as log:
            fresh = VitalsEngine()
            fresh.observe_many(log.query(after_seq=0))
        state = fresh.state()
        state["last_seq"] = cached["last_seq"]  # the cache stands at the last event it read
        assert cached == json.loads(json.dumps(state))
    else:
        with served(db, control):
            both_waves(control)
        check(db)
