"""A hook never stands in Claude Code's way: bad input, an event Soma does not record, a bad
config, a database that is not Soma's, a database whose writer lock another process holds —
each exits 0 with nothing on stdout, and is recorded (in the store, the spool, or on stderr).
A spooled event is recorded by the next hook that gets the lock, in order and once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from _hooks import bash, clean_env, failure, hook, pre, session_start

from soma_actor.integrations.claude_code.hook import handle, parse_options
from soma_actor.integrations.claude_code.spool import spool_path
from soma_runtime.store.glance import glance

SESSION = "0d0e0f10-1111-4222-8333-444455556666"


def errors(db: Path) -> list[dict[str, object]]:
    with glance(db) as log:
        return [e.payload for e in log.query(type="hook.error")]


def test_bad_input_is_recorded_and_never_answered(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    cases = [
        (b"this is not json", "malformed"),
        (b'["a", "list"]', "malformed"),
        (json.dumps({"hook_event_name": "PreToolUse"}).encode(), "malformed"),  # no session
        (json.dumps({"hook_event_name": "PreToolUse", "session_id": SESSION}).encode(), "malformed"),
        (json.dumps({"hook_event_name": "Notification", "session_id": SESSION}).encode(), "unknown_event"),
    ]
    for raw, _ in cases:
        answer = hook(db, raw)
        assert (answer.code, answer.out, answer.err) == (0, "", "")
    found = errors(db)
    assert [e["kind"] for e in found] == [kind for _, kind in cases]
    assert found[0]["excerpt"] == "this is not json"
    assert found[-1]["event"] == "Notification"


def test_a_bad_config_is_recorded_and_the_defaults_apply(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    config = tmp_path / "hooks.toml"
    config.write_text("deny = 'sometimes'\n")
    options = parse_options(["--db", str(db), "--config", str(config)])
    assert handle(json.dumps(session_start(SESSION, tmp_path)).encode(), options) is None
    [problem] = errors(db)
    assert problem["kind"] == "config" and "deny must be true or false" in str(problem["problem"])
    with glance(db) as log:
        assert [e.type for e in log.query(session_id=SESSION)] == ["hook.error", "session.started"]


def test_a_database_that_is_not_somas_is_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    before = db.read_bytes()
    answer = hook(db, session_start(SESSION, tmp_path))
    assert (answer.code, answer.out) == (0, "")
    assert "not a Soma event store" in answer.err  # Claude Code keeps a hook's stderr in its debug log
    assert db.read_bytes() == before


def _lock_holder(db: Path) -> subprocess.Popen[str]:
    """Another process holding the database's writer lock (as a runtime does) until told."""
    code = (
        "import sys; from soma_actor.integrations._lock import WriteLock; "
        f"lock = WriteLock.acquire({str(db)!r}, wait=5); print('held', flush=True); "
        "sys.stdin.read(); lock.release()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_held_lock_spools_the_event_and_the_next_hook_records_it_once(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    assert hook(db, session_start(SESSION, tmp_path)).code == 0
    holder = _lock_holder(db)
    try:
        first = hook(db, pre(SESSION, tmp_path, "Bash", bash("make"), "toolu_1"), None, "--lock-wait", "0.3")
        assert (first.code, first.out, first.err) == (0, "", "")
    finally:
        holder.communicate("", timeout=30)
    spooled = Path(spool_path(str(db))).read_text()
    assert len(spooled.splitlines()) == 1 and '"toolu_1"' in spooled
    with glance(db) as log:
        assert [e.type for e in log.query()] == ["session.started"], "nothing written while the lock was held"
    saved = spooled  # as a hook that died before emptying the spool would leave it
    second = hook(db, failure(SESSION, tmp_path, "Bash", bash("make"), "toolu_1", "Exit code 2"))
    assert second.code == 0
    Path(spool_path(str(db))).write_text(saved)
    third = hook(db, pre(SESSION, tmp_path, "Bash", bash("make"), "toolu_2"))
    assert third.code == 0
    with glance(db) as log:
        kinds = [
            (e.type, e.tool_call_id) for e in log.query() if not e.type.startswith(("vitals.", "guidance."))
        ]
    assert kinds == [
        ("session.started", None),
        ("hook.spooled", None),
        ("tool.started", "toolu_1"),  # the spooled event first, in order…
        ("tool.failed", "toolu_1"),
        ("tool.started", "toolu_2"),  # …and once, though the spool was found again
    ]
    assert Path(spool_path(str(db))).read_text() == ""
