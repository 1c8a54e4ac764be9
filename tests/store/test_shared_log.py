"""A PostgreSQL log shared by several writers (docs/design.md §11): seq stays gap-free and in
commit order across them, each one's followers see the others' events (woken by NOTIFY, read
from the table), and a writer whose lease expired can write no more."""

from __future__ import annotations

import anyio
import pytest

from soma_runtime.store._backend import NodeName
from soma_runtime.store.errors import LeaseLost, StoreClosed, StoreWriteError
from soma_runtime.store.events import Event, EventDraft, prepare_event
from soma_runtime.store.log import EventLog, open_event_log
from soma_runtime.store.postgres import PostgresLog
from soma_runtime.store.server import EventStoreConfig

pytestmark = pytest.mark.anyio


async def test_two_writers_share_one_gap_free_sequence_and_follow_each_other(pg_url: str) -> None:
    async with open_event_log(pg_url) as one, open_event_log(pg_url) as two:
        seen: list[Event] = []

        async def follow() -> None:
            async for event in two.subscribe(from_seq=1):
                seen.append(event)
                if len(seen) == 400:
                    return

        async def write(log: EventLog, name: str) -> None:
            for i in range(20):
                await log.append_many(
                    [EventDraft("run.accepted", {"i": i}, run_id=f"{name}{j}") for j in range(10)]
                )

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(follow)
                tg.start_soon(write, one, "x")
                tg.start_soon(write, two, "y")
        stored = await one.query()
    assert [e.seq for e in stored] == list(range(1, 401))
    assert seen == stored, "the follower of one writer saw every event of both, in order"
    assert {e.run_id[0] for e in stored if e.run_id} == {"x", "y"}


async def test_a_writer_whose_lease_expired_can_write_no_more(pg_url: str) -> None:
    log = await PostgresLog.open(pg_url, lease=0.2)
    try:
        async with open_event_log(pg_url) as other:
            await other.append("session.started", {}, session_id="s")
        assert await log.renew()
        await anyio.sleep(0.3)  # the lease runs out: what is being tested is the clock
        assert not await log.renew(), "an expired lease is not renewed"
        async with open_event_log(pg_url) as other:  # others write on
            await other.append("session.started", {}, session_id="t")
        with pytest.raises(StoreWriteError, match="holds no lease"):
            await log.insert_events([prepare_event("run.accepted", {}, {"run_id": "late"})], 1)
    finally:
        await log.close()
    async with open_event_log(pg_url, readonly=True) as reader:
        assert [e.session_id for e in await reader.query()] == ["s", "t"]


async def test_a_store_keeps_its_lease_for_as_long_as_it_runs(pg_url: str) -> None:
    async with open_event_log(f"{pg_url}&soma_lease=0.3") as log:
        await log.append("session.started", {}, session_id="s")
        await anyio.sleep(1.0)  # three leases' worth: renewed all along, or this append fails
        await log.append("session.stopped", {}, session_id="s")
        assert [e.type for e in await log.query()] == ["session.started", "session.stopped"]


async def test_a_store_that_lost_its_lease_stops_and_cannot_come_back_as_the_same_node(pg_url: str) -> None:
    import asyncpg

    node = NodeName("node-under-test")
    async with open_event_log(config=EventStoreConfig(path=f"{pg_url}&soma_lease=0.3", node=node)) as log:
        await log.append("session.started", {}, session_id="s")
        # Another runtime finds the lease expired and takes the node's work (here: at once).
        other = await asyncpg.connect(pg_url)
        try:
            await other.execute("DELETE FROM nodes WHERE node_id = $1", node.node_id)
        finally:
            await other.close()
        with anyio.fail_after(5), pytest.raises((StoreClosed, StoreWriteError)):
            while True:  # the keeper's next renewal finds it lost, and the store ends
                await log.append("session.started", {}, session_id="late")
                await anyio.sleep(0.05)
    with pytest.raises(LeaseLost, match="node-under-test"):
        await PostgresLog.open(pg_url, node=node)
