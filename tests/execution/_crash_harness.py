"""The crash harness: start ``_crash_child.py``, SIGKILL it at a chosen point of its runs'
lives, and describe what the killed runtime left, before any recovery touches the file.

Kill points:
  ``accepted``        the first ``run.accepted`` is committed (its ``run.started`` may not be)
  ``between_steps``   a run's s1 is committed and the write of its s2's start is in flight
  ``in_<kind>``       a ``<kind>`` tool (task, thread, process, command) is executing its s2
                      (and the journal has every tool process started so far)
  ``terminal_write``  a batch holding a run's end is being written
  ``random``          after a seeded random number of committed events
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

CHILD = Path(__file__).with_name("_crash_child.py")
POINTS = (
    "accepted",
    "between_steps",
    "in_task",
    "in_thread",
    "in_process",
    "in_command",
    "terminal_write",
    "random",
)
_DEADLINE = 30.0


@dataclass
class Killed:
    """What the test knows about the runtime it killed."""

    point: str
    seed: int
    acked: dict[int, str]  # seq -> event_id of every event the child saw committed
    side_before: list[str]  # side-file lines written before the kill
    committed_steps: set[tuple[str, str]]  # (run_id, step_id) with step.succeeded at the kill
    phases: dict[str, str]  # run_id -> where the run was when the kill came
    labels: dict[str, str] = field(default_factory=dict)  # tag label (r0…) -> run_id
    tools: dict[str, str] = field(default_factory=dict)  # run_id -> s2's tool


def kill_at(db: Path | str, side: Path, point: str, seed: int, seconds: float | None = None) -> Killed:
    argv = [sys.executable, str(CHILD), str(db), str(side), str(seed)]
    if seconds is not None:
        argv += ["--seconds", str(seconds)]
    if point in ("terminal_write", "between_steps"):
        argv += ["--hold", "terminal" if point == "terminal_write" else "step"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    assert child.stdout is not None
    reader = threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True)
    reader.start()
    acked: dict[int, str] = {}
    events_seen = 0
    spawned = 0  # tool.spawned committed: OS processes the journal knows
    limit = random.Random(seed).randint(5, 140)
    deadline = time.monotonic() + _DEADLINE
    try:
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"kill point {point!r} never came; stderr: {_stderr(child)}")
            if point.startswith("in_") and _executing(side, point.removeprefix("in_"), spawned):
                break
            try:
                line = lines.get(timeout=0.002)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the child exited before the kill: {_stderr(child)}")
            parts = line.split()
            if parts[0] == "HELD":
                break
            if parts[0] != "EV":
                continue
            acked[int(parts[1])] = parts[2]
            events_seen += 1
            kind = parts[3]
            spawned += kind == "tool.spawned"
            if (point == "accepted" and kind == "run.accepted") or (
                point == "random" and events_seen >= limit
            ):
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        reader.join(timeout=5)
    # Everything the child printed before it died was committed when printed.
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            break
        parts = line.split() if line is not None else []
        # (A last line the kill cut short, "EV " or "EV 12", names no event: skipped.)
        if len(parts) >= 4 and parts[0] == "EV":
            acked[int(parts[1])] = parts[2]
    return _describe(db, side, point, seed, acked)


def _pump(stream: object, lines: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)
    lines.put(None)


def _stderr(child: subprocess.Popen[str]) -> str:
    child.kill()
    _, err = child.communicate(timeout=5)
    return err[-2000:]


def _executing(side: Path, kind: str, spawned: int) -> bool:
    """A ``kind`` tool is executing some s2 — and, for a tool in an OS process, every such
    process is in the journal already (a process started a moment before the kill, before
    the journal has it, is left to the parent-death signal alone: see ``_child``)."""
    try:
        lines = [line.split() for line in side.read_text().splitlines()]
    except FileNotFoundError:
        return False
    if not any(line[1] == kind and line[0].endswith("/s2") for line in lines):
        return False
    return spawned >= sum(1 for line in lines if line[1] in ("process", "command"))


def _run_rows(db: Path | str) -> list[Any]:
    """The runs' rows as the kill left them, read past the store (no recovery yet): plain
    SQLite read-only, or a PostgreSQL connection of its own."""
    if isinstance(db, str) and db.startswith("postgresql://"):
        import asyncio

        import asyncpg

        async def fetch() -> list[Any]:
            conn = await asyncpg.connect(re.sub(r"&soma_lease=[^&]*", "", db))  # Soma's, not libpq's
            try:
                return [
                    tuple(r)
                    for r in await conn.fetch(
                        "SELECT run_id, step_id, tool_call_id, type, (payload -> 'steps')::text,"
                        " payload ->> 'tool' FROM events WHERE run_id IS NOT NULL ORDER BY seq"
                    )
                ]
            finally:
                await conn.close()

        return asyncio.run(fetch())  # in kill_at's own thread: no loop runs there
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT run_id, step_id, tool_call_id, type, json_extract(payload, '$.steps'),"
            " json_extract(payload, '$.tool') FROM events WHERE run_id IS NOT NULL ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def _describe(db: Path | str, side: Path, point: str, seed: int, acked: dict[int, str]) -> Killed:
    """Read the database as the kill left it."""
    rows = _run_rows(db)
    by_run: dict[str, list[tuple[str | None, str | None, str]]] = defaultdict(list)
    labels: dict[str, str] = {}
    tools: dict[str, str] = {}
    for run_id, step_id, call_id, type_, steps, _tool in rows:
        by_run[run_id].append((step_id, call_id, type_))
        if type_ == "run.accepted":
            import json

            plan = json.loads(steps)
            labels[plan[0]["args"]["tag"].split("/")[0]] = run_id
            tools[run_id] = plan[1]["tool"]
    committed = {(r, s) for r, evs in by_run.items() for s, _c, t in evs if t == "step.succeeded" and s}
    phases = {run_id: _phase(evs) for run_id, evs in by_run.items()}
    side_before = side.read_text().splitlines() if side.exists() else []
    return Killed(point, seed, acked, side_before, committed, phases, labels, tools)


def _phase(events: list[tuple[str | None, str | None, str]]) -> str:
    types = [t for _s, _c, t in events]
    if any(t in ("run.completed", "run.failed", "run.cancelled", "run.timeout") for t in types):
        return "ended before the kill"
    if "run.started" not in types:
        return "accepted, not started"
    done = sum(1 for t in types if t == "step.succeeded")
    started_calls = {c: s for s, c, t in events if t == "tool.started"}
    ended_calls = {c for _s, c, t in events if t in ("tool.succeeded", "tool.failed")}
    running = [s for c, s in started_calls.items() if c not in ended_calls]
    if running:
        return f"tool running in {running[-1]}"
    if done == 3:
        return "all steps done, end not written"
    if done == 0:
        return "started, no step yet"
    return "between steps"


def pids_in(lines: list[str]) -> list[int]:
    return [int(p) for line in lines for p in line.split()[2:]]


async def executions(side: Path, n: int) -> list[str]:
    """The side file's lines once it has ``n`` (tools write it from threads and other
    processes: there is no event to await)."""
    with anyio.fail_after(10):
        while True:
            path = anyio.Path(side)
            lines = (await path.read_text()).splitlines() if await path.exists() else []
            if len(lines) >= n:
                return lines
            await anyio.sleep(0.01)


async def all_gone(pids: list[int]) -> None:
    """Every one of ``pids`` is gone (or a zombie) within a moment: a SIGKILLed process that
    is not our child goes asynchronously, and there is no event to await for it."""
    with anyio.fail_after(5):
        while not all(map(os_process_gone, pids)):  # noqa: ASYNC110 - no event for another's exit
            await anyio.sleep(0.01)


def os_process_gone(pid: int) -> bool:
    """Gone, or exited and only not reaped yet (a zombie: it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"
