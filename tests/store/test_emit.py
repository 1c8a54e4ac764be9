"""``EventLog.emit``: appends nobody waits for (a run's step events). They commit in order
with what follows, and a sender's acknowledged append still means "all I emitted before it
is durable" — an emitted event that failed to commit makes that append fail instead."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from soma_runtime.kernel import Process, current_node
from soma_runtime.store.errors import StoreWriteError
from soma_runtime.store.events import EventDraft
from soma_runtime.store.log import EventLog, open_event_log
from soma_runtime.store.server import EventStoreConfig

pytestmark = pytest.mark.anyio


async def in_process(body: object, *args: object) -> object:
    """Run ``body(*args)`` inside a kernel process (emits are attributed to their sender)."""
    node = current_node()
    outcome: dict[str, object] = {}

    async def main(proc: Process) -> None:
        try:
            outcome["value"] = await body(*args)  # type: ignore[operator]
        except Exception as e:
            outcome["error"] = e

    await node.spawn(main).wait()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


async def test_emitted_events_commit_in_order_before_a_later_acknowledged_append(tmp_path: Path) -> None:
    async with open_event_log(tmp_path / "e.db") as log:

        async def work(log: EventLog) -> int:
            for i in range(50):
                await log.emit("step.succeeded", {"output": i}, run_id="r1", step_id=f"s{i}")
            return (await log.append("run.completed", {"outputs": {}}, run_id="r1")).seq

        last = await in_process(work, log)
        events = await log.query(run_id="r1")
        assert [e.payload.get("output") for e in events[:-1]] == list(range(50))
        assert events[-1].type == "run.completed" and events[-1].seq == last
        assert [e.seq for e in events] == list(range(1, 52))
    # And on disk: reopen the file read-only.
    async with open_event_log(tmp_path / "e.db", readonly=True) as again:
        assert len(await again.query(run_id="r1")) == 51


@pytest.mark.parametrize("many", [False, True])
async def test_an_emit_that_failed_to_commit_fails_the_senders_next_acknowledged_append(
    tmp_path: Path, many: bool
) -> None:
    db = tmp_path / "e.db"
    async with open_event_log(config=EventStoreConfig(path=db, busy_timeout=0.05)) as log:
        await log.append("session.started", {})
        emitted, lock_released = asyncio.Event(), asyncio.Event()
        outcomes: list[object] = []

        async def sender(proc: Process) -> None:
            if many:
                await log.emit_many([EventDraft("step.started", {"tool": "echo"}, run_id="r1")])
            else:
                await log.emit("step.started", {"tool": "echo"}, run_id="r1")
            emitted.set()
            await lock_released.wait()
            # Another emit in between does not use up the failure: only an acknowledged
            # append can report it (an emit has nobody to tell).
            await log.emit("step.started", {"tool": "again"}, run_id="r1")
            for _ in range(2):
                try:
                    outcomes.append((await log.append("run.completed", {}, run_id="r1")).seq)
                except StoreWriteError as e:
                    outcomes.append(e)

        pid = current_node().spawn(sender)
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            await emitted.wait()
            # An acknowledged append (from someone else) flushes the emitted event with it:
            # the batch fails on the lock, for both.
            with pytest.raises(StoreWriteError):
                await log.append("run.accepted", {})
        finally:
            other.execute("ROLLBACK")
            other.close()
        lock_released.set()
        await pid.wait()
        first, second = outcomes
        assert isinstance(first, StoreWriteError) and "earlier emitted event was not stored" in str(first)
        assert first.path == str(db)
        assert second == 3  # reported once; the store keeps serving that sender
        stored = await log.query()
        assert [e.type for e in stored] == ["session.started", "step.started", "run.completed"]
        assert stored[1].payload["tool"] == "again"
