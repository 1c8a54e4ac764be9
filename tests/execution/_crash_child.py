"""A runtime for the crash tests to SIGKILL: runs of every isolation, in two sessions, until
it is killed.

Usage: python _crash_child.py DB SIDE SEED [--hold terminal|step] [--seconds S]

Prints one line per event as soon as it is committed — ``EV seq event_id type run_id`` —
from a subscription to its own log: each printed event is acknowledged, so it must survive
the kill. Runs start staggered (seeded), so a kill finds them in different phases. Each run:
``s1`` quick, ``s2`` a slow tool of one isolation (safe = idempotent, or once), ``s3`` quick.
With ``--hold``, the write of a run's end (``terminal``) or of the start of its ``s2``
(``step``) is announced (``HELD``) and held back a moment (``hold_writes``), so the test can
kill the runtime while that write is in flight.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).parent))

import _crash_tools as ct

from soma_runtime import Runtime, Step
from soma_runtime.store import sqlite as sqlite_store
from soma_runtime.store.events import ID_FIELDS, PreparedEvent

TERMINALS = ("run.completed", "run.failed", "run.cancelled", "run.timeout")


def plan(seed: int) -> list[tuple[str, str, str, float, float]]:
    """(label, session, s2's tool, s2's seconds, delay before the run starts), seeded."""
    rng = random.Random(seed)
    runs = []
    for i, (kind, variant) in enumerate((k, v) for k in ct.KINDS for v in ("safe", "once")):
        runs.append((f"r{i}", f"a{i % 2}", f"{kind}_{variant}", rng.uniform(0.3, 0.7), rng.uniform(0.0, 0.6)))
    rng.shuffle(runs)
    return runs


def steps(label: str, tool: str, seconds: float, side: str) -> list[Step]:
    slow = ct.args(label, "s2", side, seconds)
    if tool.startswith("command"):
        slow["seconds"] = f"{seconds:.2f}"  # a command's arguments are text
    return [
        Step("s1", "quick", ct.args(label, "s1", side)),
        Step("s2", tool, slow),
        Step("s3", "quick", ct.args(label, "s3", side)),
    ]


def hold_writes(held: str, db: str) -> None:
    """A stand-in for a slow disk: the rows of a batch before its first ``held`` event (a
    run's end, or the start of a step ``s2``) are written, then ``HELD`` is announced and the
    rest waits a moment. A batch committed in two parts is a state group commit can reach
    anyway (it batches what happens to be waiting); the pause is where the test kills."""
    backend: Any = sqlite_store.SqliteLog
    if db.startswith("postgresql://"):
        from soma_runtime.store.postgres import PostgresLog

        backend = PostgresLog
    insert = backend.insert_events

    def is_held(event: PreparedEvent) -> bool:
        step_id = event.ids[ID_FIELDS.index("step_id")]
        return (
            event.type in TERMINALS
            if held == "terminal"
            else (event.type == "step.started" and step_id == "s2")
        )

    async def held_back(
        self: Any, events: list[PreparedEvent], first_seq: int, rows: str | None = None
    ) -> int:
        # (``rows`` is the same events as one text: the parts are inserted from ``events``.)
        cut = next((i for i, event in enumerate(events) if is_held(event)), None)
        if cut is None:
            return int(await insert(self, events, first_seq))
        first = int(await insert(self, events[:cut], first_seq)) if cut else None
        print("HELD", flush=True)
        await anyio.sleep(0.5)
        rest = int(await insert(self, events[cut:], first_seq + cut))
        return rest if first is None else first  # one runtime writes here: the parts are contiguous

    backend.insert_events = held_back
    # Every batch through ``insert_events``, where the hold is: none sent ahead to a writer
    # process (``send_events``), which would bypass it. (The other kill points cover those.)
    backend.sends_ahead = False


async def main(db: str, side: str, seed: int, seconds: float | None) -> None:
    async with Runtime.open(db=db, tools=ct.TOOLS, vitals=False) as rt:

        async def echo_committed() -> None:
            async for event in rt.events.subscribe(from_seq=1):
                print("EV", event.seq, event.event_id, event.type, event.run_id or "-", flush=True)

        sessions = {name: await rt.start_session(name) for name in ("a0", "a1")}

        async def start(label: str, session: str, tool: str, seconds: float, delay: float) -> None:
            await anyio.sleep(delay)
            await sessions[session].start_run(steps(label, tool, seconds, side))

        async with anyio.create_task_group() as tg:
            tg.start_soon(echo_committed)
            for label, session, tool, duration, delay in plan(seed):
                tg.start_soon(start, label, session, tool, seconds or duration, delay)
            print("READY", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("side")
    parser.add_argument("seed", type=int)
    parser.add_argument("--hold", choices=["terminal", "step"])
    parser.add_argument("--seconds", type=float, help="how long every s2 takes (default: seeded)")
    options = parser.parse_args()
    if options.hold:
        hold_writes(options.hold, options.db)
    anyio.run(main, options.db, options.side, options.seed, options.seconds, backend="asyncio")
