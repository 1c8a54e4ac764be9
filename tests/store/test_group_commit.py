"""Group commit on a file log, whose writer is a process of its own: the store sends a batch
ahead and answers the last one's callers while the writer commits it (``EventStore._flush``).

* A batch sent ahead is committed and answered even when nothing follows it.
* Only one batch is in the writer's hands, and the next goes once it committed: a refused
  batch leaves no gap in seq, fails only its culprit, and every sender's events are stored in
  the order it sent them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from soma_runtime.kernel import Node
from soma_runtime.store.errors import DuplicateEvent
from soma_runtime.store.events import EventDraft, prepare_event
from soma_runtime.store.log import EventLog
from soma_runtime.store.server import Append, EventStore, EventStoreConfig

pytestmark = pytest.mark.anyio


async def test_a_batch_that_fills_max_batch_is_committed_with_nothing_after_it(tmp_path: Path) -> None:
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig(path=tmp_path / "e.db", max_batch=2))
        assert pid is not None
        log = EventLog(pid)
        await log.append("session.started", {})  # the first write: awaited, it marks the file
        with anyio.fail_after(10):  # sent ahead at max_batch; no message follows to flush it
            events = await log.append_many([EventDraft("run.accepted", {}, run_id=f"r{i}") for i in range(2)])
        assert [e.seq for e in events] == [2, 3]
        assert [e.seq for e in await log.query()] == [1, 2, 3]


async def test_a_refused_batch_among_many_leaves_no_gap_and_each_senders_order(tmp_path: Path) -> None:
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig(path=tmp_path / "e.db", max_batch=8))
        assert pid is not None
        log = EventLog(pid)
        first = await log.append("session.started", {})
        refused: list[DuplicateEvent] = []

        async def sender(k: int) -> None:
            # Emitted (nobody waits), then one acknowledged append: durable, all of them.
            for i in range(10):
                await log.emit("run.accepted", {"i": i}, run_id=f"sender-{k}")
                if k == 3 and i == 4:
                    try:  # a request that collides with a stored event, mid-stream
                        await pid.call(Append([prepare_event("run.accepted", {}, event_id=first.event_id)]))
                    except DuplicateEvent as exc:
                        refused.append(exc)
            await log.append("run.completed", {}, run_id=f"sender-{k}")

        async with anyio.create_task_group() as tg:
            for k in range(20):
                tg.start_soon(sender, k)
        assert len(refused) == 1
        stored = await log.query()
        assert [e.seq for e in stored] == list(range(1, 1 + 1 + 20 * 11)), "a gap, or a row twice"
        for k in range(20):
            mine = [e for e in stored if e.run_id == f"sender-{k}"]
            assert [e.payload.get("i") for e in mine] == [*range(10), None], f"sender {k} out of order"


async def test_appenders_waiting_on_one_batch_are_answered_in_two_halves(tmp_path: Path) -> None:
    """16 appenders all waiting on one commit, answered at once, would all run before the store
    reads its mailbox again: one batch of 16, then the writer idle while they prepare the next.
    Answered in halves, the first half's next appends are sent while the second half runs."""
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig(path=tmp_path / "e.db"))
        assert pid is not None
        log = EventLog(pid)
        await log.append("session.started", {})  # the first write: awaited, it marks the file
        backend = pid.process.behaviour._log
        sent: list[int] = []
        send_events = backend.send_events

        def spy(events: list[Any], first_seq: int, rows: str) -> Any:
            sent.append(len(events))
            return send_events(events, first_seq, rows)

        backend.send_events = spy
        go = anyio.Event()

        async def appender(k: int) -> None:
            await go.wait()  # all 16 first appends arrive together: one batch
            for i in range(4):
                await log.append("run.accepted", {"i": i}, run_id=f"appender-{k}")

        async with anyio.create_task_group() as tg:
            for k in range(16):
                tg.start_soon(appender, k)
            await anyio.wait_all_tasks_blocked()
            go.set()
        assert sum(sent) == 64
        assert sent[0] == 16, sent
        assert max(sent[1:]) <= 8, f"a whole convoy went in one batch: {sent}"
        stored = await log.query()
        assert [e.seq for e in stored] == list(range(1, 66))
        for k in range(16):
            mine = [e.payload["i"] for e in stored if e.run_id == f"appender-{k}"]
            assert mine == [0, 1, 2, 3]
