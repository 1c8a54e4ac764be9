"""The engine reads a harness's tool calls — Claude Code's ``Bash``, ``Read``, ``Edit``… with
their ``command`` and ``file_path`` — as it reads Soma's own, so ``bash_retry``,
``bash_error_streak`` and ``blind_edit`` fire on a Claude session; a native call (one that
declares its isolation) is never reinterpreted, whatever its tool is named."""

from __future__ import annotations

from typing import Any

from _vitals_events import Log, firings, run

from soma_runtime.vitals.harness import SHAPES


def hook_call(log: Log, tool: str, args: dict[str, Any], *, error: str | None = None) -> None:
    """A call as ``soma hook`` records it: no isolation, the end repeating tool and args."""
    log._calls += 1
    call = f"toolu_{log._calls}"
    log.add(
        "tool.started", {"tool": tool, "args": args, "isolation": None, "source": "hook"}, tool_call_id=call
    )
    if error is None:
        log.add("tool.succeeded", {"tool": tool, "output": "ok", "args": args}, tool_call_id=call)
    else:
        log.add("tool.failed", {"tool": tool, "error": error, "args": args}, tool_call_id=call)


def test_a_retried_bash_command_is_a_retry_whatever_its_description() -> None:
    log = Log()
    hook_call(log, "Bash", {"command": "npm test", "description": "Run the tests"}, error="Exit code 1")
    hook_call(log, "Bash", {"command": "npm test", "description": "Run tests again"}, error="Exit code 1")
    found = run(log.events)
    assert [f.pattern for f in firings(found) if f.pattern.startswith("bash")] == [
        "bash_retry",
        "bash_error_streak",
    ]


def test_an_edit_of_a_file_not_read_lately_is_a_blind_edit() -> None:
    log = Log()
    hook_call(log, "Read", {"file_path": "./src/app.py"})
    for i in range(21):
        hook_call(log, "Grep", {"pattern": f"thing{i}", "path": "docs"})
    hook_call(log, "Edit", {"file_path": "src/app.py", "old_string": "a", "new_string": "b"})
    [blind] = firings(run(log.events), "blind_edit")
    assert blind.details == {"path": "src/app.py"}


def test_a_fresh_read_or_write_makes_the_edit_informed() -> None:
    log = Log()
    hook_call(log, "Write", {"file_path": "notes.md", "content": "x"})
    hook_call(log, "Edit", {"file_path": "notes.md", "old_string": "x", "new_string": "y"})
    hook_call(log, "MultiEdit", {"file_path": "notes.md", "edits": []})
    assert firings(run(log.events), "blind_edit") == []


def test_native_calls_keep_their_meaning_whatever_their_names() -> None:
    """A run's call always says its isolation: a native tool named Bash is no command tool
    unless it is one, and a native Edit with a file_path is not a write of that path."""
    log = Log()
    for _ in range(2):
        log.tool("Bash", {"command": "npm test"}, failed=True)  # isolation "thread"
    log.tool("Read", {"file_path": "a.py"})
    for i in range(21):
        log.tool("Grep", {"pattern": f"x{i}"})
    log.tool("Edit", {"file_path": "a.py"})
    found = run(log.events)
    assert not [f for f in firings(found) if f.pattern in ("bash_retry", "bash_error_streak", "blind_edit")]


def test_every_shape_names_its_tool() -> None:
    assert {"Bash", "Read", "Edit", "Write", "MultiEdit", "Grep", "Glob"} <= set(SHAPES)
    assert SHAPES["Bash"].command and not SHAPES["Read"].command
    assert {SHAPES[t].access for t in ("Edit", "Write", "MultiEdit", "NotebookEdit")} == {"write"}
