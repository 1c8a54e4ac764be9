"""Every pattern: its trigger rule, what does not trigger it, and its 5-action cooldown."""

from __future__ import annotations

from typing import Any

from _vitals_events import Log, firings, run

from soma_runtime.vitals import GuidanceFiring, Update, VitalsEngine


def fired(log: Log, pattern: str, engine: VitalsEngine | None = None) -> list[GuidanceFiring]:
    return firings(run(log.events, engine), pattern)


def actions_of(found: list[GuidanceFiring]) -> list[int]:
    return [f.action for f in found]


# -- bash_retry ---------------------------------------------------------------------------


def test_bash_retry_fires_on_a_failed_command_rerun_with_the_same_arguments() -> None:
    log = Log()
    log.command("make", {"target": "all"}, failed=True)
    log.llm("Let me run it again.")  # model calls in between do not matter
    log.command("make", {"target": "all"})
    (firing,) = fired(log, "bash_retry")
    assert firing.action == 3 and firing.details == {"tool": "make"}
    assert "same arguments" in firing.message


def test_bash_retry_needs_the_same_arguments_a_failure_and_a_command_tool() -> None:
    for first, second in [
        ({"args": {"target": "all"}, "failed": True}, {"args": {"target": "test"}}),  # other args
        ({"args": {"target": "all"}, "failed": False}, {"args": {"target": "all"}}),  # it succeeded
    ]:
        log = Log()
        log.command("make", first["args"], failed=first["failed"])
        log.command("make", second["args"])
        assert fired(log, "bash_retry") == []
    log = Log()
    log.tool("file_read", {"path": "a"}, failed=True)  # not a command tool
    log.tool("file_read", {"path": "a"})
    assert fired(log, "bash_retry") == []


def test_bash_retry_cooldown_is_five_actions() -> None:
    log = Log()
    for _ in range(14):
        log.command("make", {"target": "all"}, failed=True)
    assert actions_of(fired(log, "bash_retry")) == [2, 8, 14]


# -- bash_error_streak --------------------------------------------------------------------


def test_bash_error_streak_fires_from_the_second_consecutive_failure() -> None:
    log = Log()
    log.command("pytest", {"k": "a"}, failed=True)
    log.llm("Hmm.")
    log.tool("file_read", {"path": "a"})  # other calls neither count nor break the streak
    log.command("pytest", {"k": "b"}, failed=True)
    (firing,) = fired(log, "bash_error_streak")
    assert firing.action == 4 and firing.details == {"tool": "pytest", "streak": 2}


def test_a_successful_command_ends_the_streak() -> None:
    log = Log()
    log.command("pytest", {"k": "a"}, failed=True)
    log.command("pytest", {"k": "b"})
    log.command("pytest", {"k": "c"}, failed=True)
    assert fired(log, "bash_error_streak") == []


def test_bash_error_streak_cooldown() -> None:
    log = Log()
    for i in range(13):
        log.command("pytest", {"k": str(i)}, failed=True)
    found = fired(log, "bash_error_streak")
    assert actions_of(found) == [2, 8]
    assert [f.details["streak"] for f in found] == [2, 8]


# -- budget -------------------------------------------------------------------------------


def test_budget_warns_at_80_percent_and_goes_critical_at_95() -> None:
    log = Log()
    log.start_session("x", budget={"tokens": 10_000})
    for _ in range(5):
        log.llm("ok", input_tokens=2_900, output_tokens=100)  # 3,000 tokens each
    warning, critical = fired(log, "budget")
    assert (warning.action, warning.severity, warning.details["level"]) == (3, 1, 1)  # 9,000: 90%
    assert warning.details["resource"] == "tokens" and warning.details["used"] == 0.9
    # 12,000 tokens at the next action: critical fires even inside the cooldown (more severe).
    assert (critical.action, critical.severity) == (4, 2)
    assert critical.message.startswith("CRITICAL") and "120%" in critical.message


def test_cost_budget_and_each_level_fires_once_per_session() -> None:
    log = Log()
    log.start_session("x", budget={"cost_usd": 1.0})
    log.llm("ok", cost_usd=0.5)
    log.llm("ok", cost_usd=0.5)  # 100%: straight to critical
    log.llm("ok", cost_usd=0.5)
    (critical,) = fired(log, "budget")
    assert (critical.action, critical.severity, critical.details["resource"]) == (2, 2, "cost")
    assert "$1.00 of $1.00" in critical.message


def test_sessions_have_their_own_budgets() -> None:
    log = Log()
    log.start_session("x", budget={"tokens": 1_000}, session_id="s1")
    log.llm("ok", input_tokens=900, output_tokens=0, session_id="s2")  # another session: no budget
    log.llm("ok", input_tokens=700, output_tokens=0, session_id="s1")
    log.llm("ok", input_tokens=200, output_tokens=0, session_id="s1")
    (warning,) = fired(log, "budget")
    assert warning.session_id == "s1" and warning.action == 3


def test_no_or_malformed_budget_never_fires() -> None:
    for budget in (None, {}, {"tokens": "lots"}, {"tokens": -5, "cost_usd": 0}, {"cost_usd": True}):
        log = Log()
        log.start_session("x", budget=budget)  # type: ignore[arg-type]
        for _ in range(5):
            log.llm("ok", input_tokens=100_000)
        assert fired(log, "budget") == []


# -- blind_edit ---------------------------------------------------------------------------


def test_blind_edit_fires_on_an_existing_file_not_read_lately() -> None:
    log = Log()
    log.tool("file_write", {"path": "src/a.py", "content": "v1"})  # a new file: nothing to clobber
    for i in range(20):
        log.tool("echo", {"value": i})
    log.tool("file_write", {"path": "./src/a.py", "content": "v2"})  # 21 actions later, unread
    (firing,) = fired(log, "blind_edit")
    assert firing.action == 22 and firing.details == {"path": "src/a.py"}


def test_reading_or_writing_it_lately_is_not_blind() -> None:
    log = Log()
    log.tool("file_write", {"path": "a.py", "content": "v1"})
    for i in range(19):
        log.tool("echo", {"value": i})
    log.tool("file_write", {"path": "a.py", "content": "v2"})  # its own write 20 actions ago
    log.tool("text_head", {"path": "b.py"})
    log.tool("file_write", {"path": "b.py", "content": "x"})  # read just before
    assert fired(log, "blind_edit") == []


def test_another_agents_file_is_blind_until_read() -> None:
    log = Log()
    log.tool("file_write", {"path": "shared.md", "content": "a"}, agent_id="writer")
    log.tool("file_write", {"path": "shared.md", "content": "b"}, agent_id="editor")
    log.tool("file_read", {"path": "shared.md"}, agent_id="other")
    log.tool("file_write", {"path": "shared.md", "content": "c"}, agent_id="other")
    (firing,) = fired(log, "blind_edit")
    assert firing.agent_id == "editor"


def test_reads_and_writes_are_known_from_effect_or_name() -> None:
    log = Log()
    log.tool("load_doc", {"path": "d.txt"})  # a reading verb
    log.tool("put_blob", {"path": "e.bin"})  # a writing verb: e.bin is now known
    log.tool("zap", {"path": "d.txt"}, started={"destructive": True})  # d.txt was read: fine
    log.tool("frobnicate", {"path": "e.bin"}, agent_id="b")  # no verb, no effect: neither
    log.tool("frobnicate", {"path": "e.bin"}, started={"effect": "state"}, agent_id="b")  # a write
    (firing,) = fired(log, "blind_edit")
    assert firing.details == {"path": "e.bin"} and (firing.agent_id, firing.action) == ("b", 2)


def test_a_failed_read_does_not_make_a_file_known() -> None:
    log = Log()
    log.tool("file_read", {"path": "ghost.py"}, failed=True, agent_id="a")
    log.tool("file_write", {"path": "ghost.py", "content": "x"}, agent_id="b")
    assert fired(log, "blind_edit") == []


# -- cost_spiral --------------------------------------------------------------------------


def spiral(costs: list[float], failed: list[bool]) -> Log:
    log = Log()
    for cost, fail in zip(costs, failed, strict=True):
        log.llm("retrying the same thing", cost_usd=cost, failed=fail)
    return log


def test_cost_spiral_fires_on_errors_while_cost_per_action_rises() -> None:
    log = spiral([0.01 * (i + 1) for i in range(8)], [True, False, True, False, True, True, True, False])
    (firing,) = fired(log, "cost_spiral")
    assert firing.action == 8 and firing.details["errors"] == 5
    assert firing.details["newer_cost_usd"] > firing.details["older_cost_usd"]


def test_cost_spiral_needs_five_errors_and_rising_cost() -> None:
    assert fired(spiral([0.01 * (i + 1) for i in range(8)], [True] * 4 + [False] * 4), "cost_spiral") == []
    assert fired(spiral([0.01 * (8 - i) for i in range(8)], [True] * 8), "cost_spiral") == []
    assert fired(spiral([0.01 * (i + 1) for i in range(7)], [True] * 7), "cost_spiral") == []


def test_cost_spiral_cooldown() -> None:
    log = spiral([0.01 * (i + 1) for i in range(16)], [True] * 16)
    assert actions_of(fired(log, "cost_spiral")) == [8, 14]


# -- error_cascade ------------------------------------------------------------------------


def test_error_cascade_fires_on_three_failed_tool_calls_across_two_tools() -> None:
    log = Log()
    log.tool("file_read", {"path": "a"}, failed=True)
    log.llm("Trying grep instead.")  # model calls are not tool calls: ignored
    log.tool("text_grep", {"pattern": "x", "path": "a"}, failed=True)
    log.tool("file_read", {"path": "b"}, failed=True)
    (firing,) = fired(log, "error_cascade")
    assert firing.action == 4 and firing.details == {"streak": 3, "tools": ["file_read", "text_grep"]}


def test_error_cascade_needs_two_tools_and_consecutive_failures() -> None:
    log = Log()
    for path in "abc":
        log.tool("file_read", {"path": path}, failed=True)
    assert fired(log, "error_cascade") == []
    log = Log()
    log.tool("file_read", {"path": "a"}, failed=True)
    log.tool("text_grep", {"pattern": "x", "path": "a"}, failed=True)
    log.tool("echo", {"value": 1})  # a success ends the run
    log.tool("file_read", {"path": "b"}, failed=True)
    assert fired(log, "error_cascade") == []


# -- firings ------------------------------------------------------------------------------


def test_firings_carry_ids_pressure_and_mode_and_ids_are_deterministic() -> None:
    log = Log()
    for _ in range(3):
        log.command("make", {"target": "all"}, failed=True)
    first: list[Update] = run(log.events)
    again: list[Update] = run(log.events)
    assert firings(first) == firings(again)
    ids = [f.firing_id for f in firings(first)]
    assert len(set(ids)) == len(ids) and all(i.startswith("gf-") for i in ids)
    for f in firings(first):
        assert f.agent_id == "agent-1" and f.session_id == "session-1"
        assert f.seq == log.events[f.seq - 1].seq and 0.0 <= f.pressure <= 1.0
        payload: dict[str, Any] = f.payload()
        assert payload["firing_id"] == f.firing_id and payload["mode"] == f.mode.value
        assert payload["cause_seq"] == f.seq and payload["pattern"] == f.pattern


def test_every_mode_escalation_comes_with_a_pressure_firing() -> None:
    log = Log()
    log.start_session("Fix the parser")
    for i in range(12):
        log.llm("Fixing the parser tokenizer now.")
        log.tool("file_read", {"path": f"parser{i}.py"})
    for _ in range(8):
        log.llm("Maybe it is broken? I'm not sure, perhaps try again, probably the cache. Sorry.")
        log.command("make", {"target": "all"}, failed=True, error="network unreachable, connection refused")
    updates = run(log.events)
    escalations = firings(updates, "pressure")
    assert [f.severity for f in escalations][:2] == [1, 2]
    assert [f.mode.value for f in escalations][:2] == ["guide", "warn"]
    assert escalations[0].details["previous_mode"] == "observe"
    assert "error_rate" in escalations[1].message or "uncertainty" in escalations[1].message
