"""Helpers for the CLI tests: the ``soma`` command as a real subprocess, and a real database.

Each subprocess pays the interpreter's start and Soma's imports (~0.3 s), so tests launch the
invocations they need together and collect them: a batch costs about one invocation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from soma_runtime import RunState, Runtime, Step, open_event_log
from soma_runtime.store.events import Event

SOMA = [sys.executable, "-m", "soma_actor.cli"]
BUDGET = {"max_tokens": 5000, "max_cost_usd": 0.5, "max_model_calls": 10, "max_steps": 20}


def clean_env() -> dict[str, str]:
    """The environment without SOMA_* settings of whoever runs the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SOMA_")}


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


def soma_all(*invocations: Sequence[str], cwd: Path | None = None) -> list[Result]:
    """Run ``soma ARGS`` once per invocation, all at once; results in the same order."""
    procs = [
        (
            tuple(args),
            subprocess.Popen(
                [*SOMA, *args],
                cwd=cwd,
                env=clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args in invocations
    ]
    results = []
    for args, proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append(Result(args, proc.returncode, out, err))
    return results


def soma(*args: str, cwd: Path | None = None) -> Result:
    [result] = soma_all(args, cwd=cwd)
    return result


@dataclass(frozen=True)
class Recorded:
    """What the test database holds, as the runtime that made it reported."""

    db: Path | str  # a SQLite file, or a postgresql:// URL
    research_session: str
    completed_run: str
    failed_run: str
    cancelled_run: str


async def record(db: Path | str) -> Recorded:
    """A real runtime records two agents' work: runs that complete, fail and are cancelled,
    model calls with usage, a budgeted actor, and the vitals monitor's trajectory."""
    async with Runtime.open(db=db) as rt:
        started = {"actor_id": "research", "model": "scripted", "provider": "scripted", "budget": BUDGET}
        await rt.events.append("actor.started", started, agent_id="research")
        research = await rt.start_session("research", intent="survey supervision trees in otp")
        completed = await research.start_run([Step("s1", "echo", {"value": "otp"})])
        assert (await completed.result()).state is RunState.COMPLETED
        failed = await research.start_run(
            [Step("s1", "echo", {"value": 1}), Step("s2", "fail", {"message": "no"})]
        )
        assert (await failed.result()).state is RunState.FAILED
        for tokens, cost in ((100, 0.001), (250, 0.0025)):
            await rt.events.append(
                "llm.succeeded",
                {"model": "m", "usage": {"input_tokens": tokens, "output_tokens": 20}, "cost_usd": cost},
                agent_id="research",
                session_id=research.session_id,
            )
        writer = await rt.start_session("writer")
        slow = await writer.start_run([Step("s1", "sleep", {"seconds": 60})])
        assert (await slow.cancel()).state is RunState.CANCELLED
        await rt.vitals.caught_up()
    return Recorded(db, research.session_id, completed.run_id, failed.run_id, slow.run_id)


def make_db(path: Path | str) -> Recorded:
    return anyio.run(record, path, backend="asyncio")


def events_of(db: Path | str, **query: str) -> list[Event]:
    """Events of ``db`` matching ``query`` (read-only, as the verbs read it)."""

    async def read() -> list[Event]:
        async with open_event_log(db, readonly=True) as log:
            return await log.query(**query)  # type: ignore[arg-type]

    return anyio.run(read, backend="asyncio")
