"""Claude Code's side of a hook, for the tests: real hook JSON documents, piped into real
``soma hook`` processes (the same command line ``soma init`` writes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOMA = [sys.executable, "-m", "soma_actor.cli"]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}


@dataclass(frozen=True)
class Answered:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any] | None:
        return json.loads(self.out) if self.out.strip() else None

    @property
    def context(self) -> str | None:
        answer = self.json
        return None if answer is None else answer["hookSpecificOutput"].get("additionalContext")

    @property
    def decision(self) -> str | None:
        answer = self.json
        return None if answer is None else answer["hookSpecificOutput"].get("permissionDecision")


def hook_args(db: Path, control: Path | None = None, *extra: str) -> list[str]:
    args = [*SOMA, "hook", "--db", str(db)]
    if control is not None:
        args += ["--control", str(control)]
    return [*args, *extra]


def hook(db: Path, event: dict[str, Any] | bytes, control: Path | None = None, *extra: str) -> Answered:
    """One hook, as Claude Code runs it: the event on stdin, the answer on stdout."""
    [answered] = hooks_at_once(db, [event], control, *extra)
    return answered


def hooks_at_once(
    db: Path, events: Sequence[dict[str, Any] | bytes], control: Path | None = None, *extra: str
) -> list[Answered]:
    """Every event in its own ``soma hook`` process, all started before any is waited for."""
    procs = []
    for event in events:
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        proc = subprocess.Popen(
            hook_args(db, control, *extra),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
            cwd=db.parent,
        )
        procs.append((proc, data))
    answers = []
    for proc, data in procs:
        out, err = proc.communicate(data, timeout=60)
        answers.append(Answered(proc.returncode, out.decode(), err.decode()))
    return answers


def base(session: str, event: str, cwd: Path, **fields: Any) -> dict[str, Any]:
    return {
        "session_id": session,
        "transcript_path": str(cwd / f"{session}.jsonl"),
        "cwd": str(cwd),
        "permission_mode": "default",
        "hook_event_name": event,
        **fields,
    }


def session_start(session: str, cwd: Path, **fields: Any) -> dict[str, Any]:
    return base(session, "SessionStart", cwd, **{"source": "startup", "model": "claude-sonnet-4-6", **fields})


def prompt(session: str, cwd: Path, text: str) -> dict[str, Any]:
    return base(session, "UserPromptSubmit", cwd, prompt=text)


def pre(
    session: str, cwd: Path, tool: str, tool_input: dict[str, Any], use: str, **fields: Any
) -> dict[str, Any]:
    return base(session, "PreToolUse", cwd, tool_name=tool, tool_input=tool_input, tool_use_id=use, **fields)


def post(
    session: str, cwd: Path, tool: str, tool_input: dict[str, Any], use: str, response: Any, **fields: Any
) -> dict[str, Any]:
    return base(
        session,
        "PostToolUse",
        cwd,
        tool_name=tool,
        tool_input=tool_input,
        tool_use_id=use,
        tool_response=response,
        **fields,
    )


def failure(
    session: str, cwd: Path, tool: str, tool_input: dict[str, Any], use: str, error: str, **fields: Any
) -> dict[str, Any]:
    return base(
        session,
        "PostToolUseFailure",
        cwd,
        tool_name=tool,
        tool_input=tool_input,
        tool_use_id=use,
        error=error,
        is_interrupt=False,
        **fields,
    )


def stop(session: str, cwd: Path, message: str) -> dict[str, Any]:
    return base(session, "Stop", cwd, stop_hook_active=False, last_assistant_message=message)


def bash(command: str) -> dict[str, Any]:
    return {"command": command, "description": f"Run {command.split()[0]}"}


def soma(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SOMA, *args], input=stdin, capture_output=True, text=True, env=clean_env(), cwd=cwd, timeout=120
    )
