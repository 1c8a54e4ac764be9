"""Soma as an agent runtime: a run of ``Step``s in a session, on ``:memory:`` or a SQLite file."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import anyio

from soma_runtime import CommandTool, RunSnapshot, Runtime, Step, tool

from ._probe import Baseline, kill_leftovers
from ._side import mark_step, resumed_marks

LABEL = "Soma"
PACKAGES = ("soma-runtime", "anyio", "aiosqlite")

_STATE: dict[str, object] = {}


@tool(effect="pure")
async def noop() -> None:
    return None


@tool(idempotent=True)
async def mark(i: int, path: str) -> None:
    """Appends its step's index to ``path``: the record of which steps ran, and how often.
    Idempotent, so that resume may run it again if the crash cut it (the default, neither
    pure nor idempotent, would commit ``tool.started`` first and end such a run unresumed)."""
    mark_step(path, i)


@tool
async def blocked() -> None:
    entered = _STATE["entered"]
    assert isinstance(entered, asyncio.Event)
    entered.set()
    try:
        await anyio.sleep_forever()
    finally:
        _STATE["cleaned"] = time.perf_counter()


sleeper = CommandTool("sleeper", ["sleep", "60"])
TOOLS = [noop, mark, blocked, sleeper]


def _db(db: str | None) -> str:
    return db if db is not None else ":memory:"


def loop(steps: int, db: str | None, mode: str = "") -> float:
    """Seconds for one run of ``steps`` no-op steps, until ``run.result()`` (which returns
    once the terminal event, and so every earlier one, is durable)."""

    async def main() -> float:
        async with Runtime.open(db=_db(db), tools=TOOLS, vitals=False) as rt:
            session = await rt.start_session("bench")
            start = time.perf_counter()
            run = await session.start_run([Step(f"s{i}", "noop") for i in range(steps)])
            await run.result()
            return time.perf_counter() - start

    return anyio.run(main, backend="asyncio")


def cancel_await(n: int, db: str | None, mode: str = "") -> tuple[list[float], str]:
    """``run.cancel()`` of a run whose tool is blocked in an await: latency until the tool's
    ``finally`` ran; then what was left running after one more such cancel."""

    async def main() -> tuple[list[float], str]:
        out = []
        async with Runtime.open(db=_db(db), tools=TOOLS, vitals=False) as rt:
            session = await rt.start_session("bench")
            for k in range(n + 1):
                baseline = Baseline()
                _STATE["entered"] = entered = asyncio.Event()
                run = await session.start_run([Step("s0", "blocked")])
                await entered.wait()
                start = time.perf_counter()
                await run.cancel()
                out.append(_STATE.pop("cleaned") - start)  # type: ignore[operator]
                if k == n:
                    return out[:n], await baseline.leftovers()
        raise AssertionError("unreachable")

    return anyio.run(main, backend="asyncio")


def cancel_command(db: str | None, mode: str = "") -> tuple[float, str]:
    """``run.cancel()`` of a run whose ``CommandTool`` runs ``sleep 60``: latency until
    the program is gone (cancel returns once it is reaped), and what was left running."""

    async def main() -> tuple[float, str]:
        async with Runtime.open(db=_db(db), tools=TOOLS, vitals=False) as rt:
            session = await rt.start_session("bench")
            baseline = Baseline()
            run = await session.start_run([Step("s0", "sleeper")])
            deadline = time.perf_counter() + 10
            while True:  # until the program runs (its pid is in the run's status)
                status = await run.status()
                if isinstance(status, RunSnapshot) and status.os_pid is not None:
                    pid = status.os_pid
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError("the command tool did not start")
                await anyio.sleep(0.001)
            start = time.perf_counter()
            await run.cancel()
            latency = time.perf_counter() - start
            left = await baseline.leftovers([pid])
            kill_leftovers([pid])
            return latency, left

    return anyio.run(main, backend="asyncio")


def crash_run(steps: int, db: str, side: str, mode: str = "") -> None:
    """In a child process that the parent SIGKILLs mid-run: one run of ``mark`` steps."""

    async def main() -> None:
        async with Runtime.open(db=db, tools=TOOLS, vitals=False) as rt:
            session = await rt.start_session("bench")
            run = await session.start_run(
                [Step(f"s{i}", "mark", {"i": i, "path": side}) for i in range(steps)]
            )
            print(run.run_id, flush=True)
            await run.result()

    anyio.run(main, backend="asyncio")


def resume(db: str, side: str, mode: str = "", steps: int = 0) -> dict[str, Any]:
    """In a fresh child after the crash: reopen the database (which resumes the run) and wait
    for the run to finish. Milliseconds from the open until the first resumed step ran, and
    until the run finished."""

    async def main() -> dict[str, Any]:
        start = time.perf_counter()
        async with Runtime.open(db=db, tools=TOOLS, vitals=False) as rt:
            (run_id,) = rt.recovery.resumed  # the one run the crash cut
            handle = await rt.run(run_id)
            await handle.result()
            done = time.perf_counter()
        first = resumed_marks(side)
        return {"first_ms": (first - start) * 1e3, "done_ms": (done - start) * 1e3, "from": "its log"}

    return anyio.run(main, backend="asyncio")


if __name__ == "__main__":  # pragma: no cover - a manual check
    print(loop(int(sys.argv[1]), os.environ.get("DB")))
