"""What each hook event becomes in the store, and what the hook answers — run in-process
through the same ``handle`` the ``soma hook`` process runs (its process-level behaviour is
in test_hook_end_to_end and test_hook_concurrency)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from _hooks import base, bash, failure, post, pre, prompt, session_start, soma, stop

from soma_actor.integrations.claude_code import agent_of
from soma_actor.integrations.claude_code.hook import handle, parse_options
from soma_runtime.store.glance import glance
from soma_runtime.vitals import first_divergence

SESSION = "1f2e3d4c-aaaa-4bbb-8ccc-ddddeeeeffff"
AGENT = agent_of(SESSION)


def run(db: Path, event: dict[str, Any], *options: str) -> dict[str, Any] | None:
    return handle(json.dumps(event).encode(), parse_options(["--db", str(db), *options]))


def storm(db: Path, cwd: Path, failures: int = 8, **extra: Any) -> list[dict[str, Any] | None]:
    answers = []
    for i in range(failures):
        use = f"toolu_storm_{extra.get('agent_id', 'main')}_{i}"
        run(db, pre(SESSION, cwd, "Bash", bash("npm run build"), use, **extra))
        answers.append(
            run(db, failure(SESSION, cwd, "Bash", bash("npm run build"), use, "Exit code 1", **extra))
        )
    return answers


def types(db: Path, **query: Any) -> list[str]:
    with glance(db) as log:
        return [e.type for e in log.query(**query)]


def test_prompts_are_tasks_whose_events_carry_their_id(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    run(db, session_start(SESSION, tmp_path))
    run(db, session_start(SESSION, tmp_path, source="resume"))  # a resumed session starts once
    run(db, prompt(SESSION, tmp_path, "Rename parse_date to parse_day everywhere."))
    run(db, pre(SESSION, tmp_path, "Grep", {"pattern": "parse_date"}, "toolu_1"))
    run(db, post(SESSION, tmp_path, "Grep", {"pattern": "parse_date"}, "toolu_1", {"numFiles": 2}))
    run(db, prompt(SESSION, tmp_path, "Actually, stop."))  # before the first turn's Stop
    run(db, stop(SESSION, tmp_path, "Stopped as asked."))
    run(db, base(SESSION, "SessionEnd", tmp_path, reason="prompt_input_exit"))
    with glance(db) as log:
        events = [e for e in log.query() if not e.type.startswith(("vitals.", "guidance."))]
    assert [e.type for e in events] == [
        "session.started",
        "actor.task.received",
        "tool.started",
        "tool.succeeded",
        "actor.task.cancelled",
        "actor.task.received",
        "actor.task.completed",
        "session.stopped",
    ]
    first, second = events[1].task_id, events[5].task_id
    assert first and second and first != second
    assert {e.task_id for e in events[1:5]} == {first} and events[4].payload["error"]
    assert events[2].correlation_id == first
    assert (events[6].task_id, events[6].payload["reply"]) == (second, "Stopped as asked.")
    assert events[7].payload["reason"] == "prompt_input_exit"
    assert events[0].payload["metadata"]["claude_code"]["model"] == "claude-sonnet-4-6"


def test_a_subagent_is_an_agent_whose_struggle_its_session_picks_up(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    run(db, session_start(SESSION, tmp_path))
    run(db, prompt(SESSION, tmp_path, "Investigate the flaky build."))
    task = {
        "description": "Find the flake",
        "prompt": "Run the build until it fails",
        "subagent_type": "general-purpose",
    }
    run(db, pre(SESSION, tmp_path, "Task", task, "toolu_task"))
    sub = {"agent_id": "a7c1", "agent_type": "general-purpose"}
    run(db, base(SESSION, "SubagentStart", tmp_path, **sub))
    storm(db, tmp_path, 8, **sub)
    run(db, base(SESSION, "SubagentStop", tmp_path, stop_hook_active=False, **sub))
    run(
        db, post(SESSION, tmp_path, "Task", task, "toolu_task", {"content": "It fails on a missing library."})
    )
    child = agent_of(SESSION, "a7c1")
    with glance(db) as log:
        [edge] = log.query(type="vitals.trust")
        assert (edge.payload["src"], edge.payload["dst"], edge.payload["trust"]) == (child, AGENT, 1.0)
        starts = log.query(type="session.started")
        assert [(e.agent_id, e.session_id) for e in starts] == [(AGENT, SESSION), (child, f"{SESSION}/a7c1")]
        ended = [
            e.type for e in log.query(session_id=f"{SESSION}/a7c1") if not e.type.startswith("guidance.")
        ]
        assert ended[-1] == "session.stopped"
        parent = log.query(agent_id=AGENT, type="vitals.updated", descending=True, limit=1)[0].payload
        assert parent["pressure"] == 0.0 and parent["effective_pressure"] > 0.4, "picked up through the edge"
        assert first_divergence(log.query()) is None


def test_block_refuses_destructive_actions_only(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    (tmp_path / "notes.txt").write_text("keep me")
    calm = run(db, pre(SESSION, tmp_path, "Bash", bash("rm -rf dist"), "toolu_early"))
    assert calm is None, "no refusal, nothing to say, before any distress"
    said = [a for a in storm(db, tmp_path) if a is not None]
    assert said and said[-1]["hookSpecificOutput"]["additionalContext"].startswith(
        "Soma vitals for this session: BLOCK"
    )
    refused = {
        "rm": ("Bash", bash("rm -rf build/")),
        "overwrite": ("Bash", bash("echo x > notes.txt")),
        "force push": ("Bash", bash("git push --force origin main")),
        "secrets": ("Write", {"file_path": str(tmp_path / ".env"), "content": "KEY=1"}),
        "key": ("Edit", {"file_path": "deploy/server.key", "old_string": "a", "new_string": "b"}),
    }
    allowed = {
        "read": ("Read", {"file_path": str(tmp_path / ".env")}),
        "test": ("Bash", bash("npm test")),
        "append": ("Bash", bash("echo x >> notes.txt")),
        "write": ("Write", {"file_path": "src/app.ts", "content": "x"}),
    }
    for label, (tool, tool_input) in refused.items():
        answer = run(db, pre(SESSION, tmp_path, tool, tool_input, f"toolu_{label}"))
        assert answer is not None, label
        assert answer["hookSpecificOutput"]["permissionDecision"] == "deny", label
    for label, (tool, tool_input) in allowed.items():
        answer = run(db, pre(SESSION, tmp_path, tool, tool_input, f"toolu_{label}"))
        assert answer is None or "permissionDecision" not in answer["hookSpecificOutput"], label
    with glance(db) as log:
        blocked = log.query(type="tool.blocked")
        assert sorted(e.tool_call_id or "" for e in blocked) == sorted(f"toolu_{label}" for label in refused)
        assert all(e.payload["pressure"] >= 0.75 for e in blocked)
    # With deny = false in the hooks' config, nothing is refused (the distress is still told).
    config = tmp_path / "hooks.toml"
    config.write_text("deny = false\n")
    answer = run(
        db, pre(SESSION, tmp_path, "Bash", bash("rm -rf build/"), "toolu_rm_again"), "--config", str(config)
    )
    assert answer is None or "permissionDecision" not in answer["hookSpecificOutput"]


def test_configured_destructive_commands_and_secret_files(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    config = tmp_path / "hooks.toml"
    config.write_text('destructive_commands = ["terraform destroy"]\nsecret_files = ["*.tfstate"]\n')
    storm(db, tmp_path)
    for use, tool, tool_input in [
        ("t1", "Bash", bash("terraform destroy -auto-approve")),
        ("t2", "Write", {"file_path": "infra/prod.tfstate", "content": "{}"}),
    ]:
        answer = run(db, pre(SESSION, tmp_path, tool, tool_input, use), "--config", str(config))
        assert answer is not None and answer["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_an_interrupt_by_the_user_is_no_failure_of_the_agent(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    run(db, pre(SESSION, tmp_path, "Bash", bash("sleep 100"), "toolu_1"))
    event = failure(SESSION, tmp_path, "Bash", bash("sleep 100"), "toolu_1", "Interrupted by user")
    event["is_interrupt"] = True
    run(db, event)
    assert types(db) == ["session.started", "tool.started", "hook.tool_interrupted"]


def test_claude_tools_fire_the_patterns_native_tools_do(tmp_path: Path) -> None:
    """blind_edit on Claude Code's Edit (its path is file_path), after the file was read
    long ago: the harness shapes of soma_runtime.vitals.harness at work."""
    db = tmp_path / "soma.db"
    read = {"file_path": "src/dates.py"}
    run(db, pre(SESSION, tmp_path, "Read", read, "toolu_r"))
    run(db, post(SESSION, tmp_path, "Read", read, "toolu_r", {"file": {"content": "def parse(): ..."}}))
    for i in range(22):
        glob = {"pattern": f"tests/**/test_{i}.py"}
        run(db, pre(SESSION, tmp_path, "Glob", glob, f"toolu_g{i}"))
        run(db, post(SESSION, tmp_path, "Glob", glob, f"toolu_g{i}", {"filenames": []}))
    edit = {"file_path": "src/dates.py", "old_string": "parse", "new_string": "parse_day"}
    run(db, pre(SESSION, tmp_path, "Edit", edit, "toolu_e"))
    answer = run(db, post(SESSION, tmp_path, "Edit", edit, "toolu_e", {"filePath": "src/dates.py"}))
    assert answer is not None
    assert (
        "You are writing `src/dates.py`, an existing file you have not read"
        in (answer["hookSpecificOutput"]["additionalContext"])
    )


def test_the_engine_cache_is_rebuilt_when_it_does_not_match(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    storm(db, tmp_path, 3)
    with sqlite3.connect(db) as conn:
        # A cache that claims another log: what a file replaced under it would show.
        conn.execute("UPDATE soma_vitals_cache SET event_id = 'ev-from-another-file'")
    storm(db, tmp_path, 3)
    config = tmp_path / "hooks.toml"
    vitals = tmp_path / "vitals.json"
    from soma_runtime.vitals import VitalsConfig

    vitals.write_text(json.dumps(VitalsConfig(window=5).to_json()))
    config.write_text('vitals_config = "vitals.json"\n')
    run(db, pre(SESSION, tmp_path, "Bash", bash("ls"), "toolu_cfg"), "--config", str(config))
    run(db, post(SESSION, tmp_path, "Bash", bash("ls"), "toolu_cfg", "ok"), "--config", str(config))
    with sqlite3.connect(db) as conn:
        state = json.loads(conn.execute("SELECT state FROM soma_vitals_cache").fetchone()[0])
    assert state["config"]["window"] == 5, "another config: the cache was rebuilt under it"
    with glance(db) as log:
        events = log.query()
    assert first_divergence(events[: [e.type for e in events].index("tool.started", 20)]) is None


def test_the_status_line_shows_the_session(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    run(db, session_start(SESSION, tmp_path))
    line = soma(
        "statusline",
        "--db",
        str(db),
        stdin=json.dumps({"session_id": SESSION, "cost": {"total_cost_usd": 1.5}}),
    )
    assert line.stdout == "soma watching, no actions yet · $1.50\n"
    storm(db, tmp_path)
    line = soma(
        "statusline", "--db", str(db), stdin=json.dumps({"session_id": SESSION, "model": {"id": "x"}})
    )
    assert line.returncode == 0
    assert (
        line.stdout.startswith("soma BLOCK p=") and "error_rate" in line.stdout and "8 actions" in line.stdout
    )
    plain = soma("statusline", "--db", str(db), stdin="")  # not Claude Code: the usual line
    assert plain.stdout.startswith(f"soma BLOCK {AGENT} p=")


def test_the_dashboard_shows_a_claude_session(tmp_path: Path) -> None:
    import anyio

    from soma_actor.cli.dashboard.state import DashboardState
    from soma_runtime import open_event_log

    db = tmp_path / "soma.db"
    run(db, session_start(SESSION, tmp_path))
    storm(db, tmp_path, 8)

    async def fold() -> DashboardState:
        state = DashboardState()
        async with open_event_log(db, readonly=True) as log:
            state.apply(await log.query())
        return state

    state = anyio.run(fold)
    row = state.agents[AGENT]
    assert row.mode == "block" and row.pressure is not None and row.pressure >= 0.75
    assert {"bash_retry", "pressure"} <= {g.pattern for g in state.guidance if g.agent_id == AGENT}
    assert row.guidance >= 2
