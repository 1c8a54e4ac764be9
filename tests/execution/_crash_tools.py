"""Tools of the crash tests: one slow tool per isolation, each in a ``safe`` (idempotent) and
a ``once`` (not idempotent) variant, and a quick one for the steps around them.

Every tool appends one line to a side file as it starts executing — ``TAG KIND PID...``, the
pids of the OS processes it runs in (none for task and thread tools, which run inside the
runtime) — so a test can count executions and find the processes, whatever the log says.
A slow tool takes ``seconds`` only the first time its tag executes: what a resumed run
repeats is quick, so a test waits for recovery, not for the tool again.
The ``command`` tools start a grandchild (``sleep``) that the parent-death signal does not
reach: only the next open's sweep can.

A small module of its own: a ``process`` tool's worker imports it, and the crash child too.
"""

from __future__ import annotations

import os
import time
from typing import Any

import anyio

from soma_runtime import CommandTool, ToolSpec, tool


def note(side: str, tag: str, kind: str, *pids: int) -> bool:
    """Record an execution; whether it is the tag's first."""
    try:
        with open(side) as seen:
            first = not any(line.split()[0] == tag for line in seen)
    except FileNotFoundError:
        first = True
    line = " ".join([tag, kind, *map(str, pids)]) + "\n"
    fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())  # one write under PIPE_BUF: lines never interleave
    finally:
        os.close(fd)
    return first


@tool(effect="read", idempotent=True)
async def quick(tag: str, side: str) -> str:
    note(side, tag, "quick")
    return tag


@tool(idempotent=True, name="task_safe")
async def task_safe(tag: str, side: str, seconds: float) -> str:
    if note(side, tag, "task"):
        await anyio.sleep(seconds)
    return tag


@tool(name="task_once")
async def task_once(tag: str, side: str, seconds: float) -> str:
    if note(side, tag, "task"):
        await anyio.sleep(seconds)
    return tag


@tool(idempotent=True, name="thread_safe")
def thread_safe(tag: str, side: str, seconds: float) -> str:
    if note(side, tag, "thread"):
        time.sleep(seconds)
    return tag


@tool(name="thread_once")
def thread_once(tag: str, side: str, seconds: float) -> str:
    if note(side, tag, "thread"):
        time.sleep(seconds)
    return tag


@tool(isolation="process", idempotent=True, name="process_safe")
def process_safe(tag: str, side: str, seconds: float) -> str:
    if note(side, tag, "process", os.getpid()):
        time.sleep(seconds)
    return tag


@tool(isolation="process", name="process_once")
def process_once(tag: str, side: str, seconds: float) -> str:
    if note(side, tag, "process", os.getpid()):
        time.sleep(seconds)
    return tag


@tool(isolation="process", idempotent=True, name="process_wait")
def process_wait(tag: str, side: str, seconds: float) -> str:
    """Slow every time (for a test that needs a repeated step still running)."""
    note(side, tag, "process", os.getpid())
    time.sleep(seconds)
    return tag


_SCRIPT = (
    'grep -q "^$1 " "$2" 2>/dev/null && {{ echo "$1 command $$" >> "$2"; exit 0; }}; '  # repeated: quick
    'sleep "$3" & echo "$1 command $$ $!" >> "$2"; wait'
)  # (braces doubled: the argv is a template)


def _command(name: str, idempotent: bool) -> CommandTool:
    return CommandTool(
        name, ["sh", "-c", _SCRIPT, "sh", "{tag}", "{side}", "{seconds}"], idempotent=idempotent
    )


KINDS = ("task", "thread", "process", "command")
TOOLS: list[ToolSpec] = [
    quick,
    task_safe,
    task_once,
    thread_safe,
    thread_once,
    process_safe,
    process_once,
    process_wait,
    _command("command_safe", True),
    _command("command_once", False),
]


def args(label: str, step: str, side: str, seconds: float | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"tag": f"{label}/{step}", "side": side}
    if seconds is not None:
        found["seconds"] = seconds
    return found
