"""The event store process and its facade: appends, queries, subscriptions, restarts."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator

import anyio
import pytest
from _postgres import raw_rows

from soma_runtime.kernel import ChildSpec, Node, Supervisor
from soma_runtime.store import _feed
from soma_runtime.store.errors import InvalidEvent, StoreClosed
from soma_runtime.store.events import Committed, Event, EventDraft, committed_event
from soma_runtime.store.log import EventLog, Subscription, open_event_log
from soma_runtime.store.server import EventStore, EventStoreConfig

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgres"])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    """An empty log of each backend: SQLite in memory, a fresh PostgreSQL database."""
    db = request.getfixturevalue("pg_url") if request.param == "postgres" else ":memory:"
    async with open_event_log(db) as events:
        yield events


async def collect(sub: Subscription, count: int) -> list[Event]:
    out: list[Event] = []
    async for event in sub:
        out.append(event)
        if len(out) == count:
            break
    return out


async def test_append_returns_the_stored_event(log: EventLog) -> None:
    event = await log.append("run.started", {"steps": [{"id": "s1"}]}, run_id="r1", session_id="s")
    assert event.seq == 1 and event.type == "run.started" and event.run_id == "r1"
    assert event.payload == {"steps": [{"id": "s1"}], "options": {}}
    assert await log.query() == [event]
    assert await log.last_seq() == 1


async def test_payloads_round_trip_exactly(any_db: str) -> None:
    tricky = {
        "text": 'é✓ "quoted" \\ back\nslash \u0000 nul \U0001f600',
        "big": 2**70,
        "neg": -(2**63),
        "small": 1e-7,
        "float": 0.1,
        "nested": {"empty": {}, "list": [[], [1, [2, {"k": None}]], True, False]},
    }
    async with open_event_log(any_db) as log:
        event = await log.append("actor.note", tricky)
        (stored,) = await log.query()
    assert event.payload == tricky and stored == event
    [(text,)] = await raw_rows(any_db, "SELECT payload FROM events")
    assert isinstance(text, str) and json.loads(text) == tricky


async def test_ack_means_committed(any_db: str) -> None:
    async with open_event_log(any_db) as log:
        event = await log.append("run.cancelled", {"reason": "user"}, run_id="r")
        # Another connection (as another process would) sees it the moment append returned.
        assert await raw_rows(any_db, "SELECT seq, event_id FROM events") == [(1, event.event_id)]


async def test_concurrent_appends_are_group_committed_gap_free(log: EventLog) -> None:
    results: list[Event] = []

    async def one(i: int) -> None:
        results.append(await log.append("step.started", {"tool": "t"}, run_id=f"r{i % 7}"))

    async with anyio.create_task_group() as tg:
        for i in range(300):
            tg.start_soon(one, i)
    assert sorted(e.seq for e in results) == list(range(1, 301))
    stats = await log.stats()
    assert stats.last_seq == 300
    assert stats.commits <= 60, f"{stats.commits} commits for 300 concurrent appends"
    stored = await log.query()
    assert [e.seq for e in stored] == list(range(1, 301))
    assert {e.event_id for e in stored} == {e.event_id for e in results}


async def test_append_many_is_atomic_and_consecutive(log: EventLog) -> None:
    await log.append("session.started", {}, session_id="s")
    events = await log.append_many(
        [EventDraft("run.accepted", {}, run_id="r"), EventDraft("run.started", {}, run_id="r")]
    )
    assert [e.seq for e in events] == [2, 3]
    with pytest.raises(InvalidEvent, match=r"run\.failed"):
        await log.append_many([EventDraft("run.completed", {}), EventDraft("run.failed", {})])
    assert await log.last_seq() == 3
    assert await log.append_many([]) == []


async def test_append_many_answers_envelopes_built_as_they_are_read(log: EventLog) -> None:
    """Reading none costs nothing (``CommittedEvents``); read, they are the stored events."""
    drafts = [EventDraft("tool.started", {"tool": "echo", "args": {"n": i}}, run_id="r") for i in range(5)]
    events = await log.append_many(drafts)
    assert not any(p._event for p in events._prepared)  # type: ignore[attr-defined]
    stored = await log.query(run_id="r")
    assert len(events) == 5 and events[1] == stored[1] and events[-1].payload["args"] == {"n": 4}
    assert events[1:3] == stored[1:3] and list(events) == stored and events == stored
    assert events[1] is events[1]  # built once
    assert events != stored[:4] and events != "not events"
    with pytest.raises(TypeError):
        hash(events)


async def test_query_filters(log: EventLog) -> None:
    await log.append_many(
        [
            EventDraft("session.started", {}, session_id="s1", agent_id="a"),
            EventDraft("run.started", {}, session_id="s1", run_id="r1", agent_id="a"),
            EventDraft("tool.started", {"tool": "t"}, run_id="r1", correlation_id="c"),
            EventDraft("tool.failed", {"tool": "t", "error": "x"}, run_id="r1"),
            EventDraft("run.started", {}, session_id="s2", run_id="r2", agent_id="b"),
            EventDraft("run.failed", {"error": "x"}, session_id="s2", run_id="r2"),
        ]
    )

    async def seqs(**filters: object) -> list[int]:
        return [e.seq for e in await log.query(**filters)]  # type: ignore[arg-type]

    assert await seqs(run_id="r1") == [2, 3, 4]
    assert await seqs(session_id="s2") == [5, 6]
    assert await seqs(agent_id="a") == [1, 2]
    assert await seqs(correlation_id="c") == [3]
    assert await seqs(type="run.started") == [2, 5]
    assert await seqs(type="tool.*") == [3, 4]
    assert await seqs(type=["run.failed", "session.*"]) == [1, 6]
    assert await seqs(run_id="r1", type="tool.*") == [3, 4]
    assert await seqs(after_seq=4) == [5, 6]
    assert await seqs(limit=2) == [1, 2]
    assert await seqs(descending=True, limit=2) == [6, 5]
    assert await seqs(run_id="nope") == []
    with pytest.raises(ValueError, match="after_seq"):
        await log.query(after_seq=-1)
    with pytest.raises(ValueError, match="limit"):
        await log.query(limit=0)
    with pytest.raises(TypeError, match="run_id"):
        await log.query(run_id=5)  # type: ignore[arg-type]


async def test_subscribe_replays_history_then_follows_live(log: EventLog) -> None:
    for i in range(3):
        await log.append("run.accepted", {}, run_id=f"r{i}")
    sub = log.subscribe(from_seq=2)
    received: list[int] = []
    async with anyio.create_task_group() as tg:

        async def follow() -> None:
            received.extend(e.seq for e in await collect(sub, 4))

        tg.start_soon(follow)
        for i in range(3, 6):
            await log.append("run.accepted", {}, run_id=f"r{i}")
    assert received == [2, 3, 4, 5]
    assert sub.cursor == 5


async def test_a_subscriptions_cursor_names_only_what_was_delivered(log: EventLog) -> None:
    """Events read ahead into the subscription's buffer are not consumed: a consumer that
    stops and resumes from ``cursor + 1`` misses nothing (a page read at once used to move
    the cursor past events still waiting in the buffer)."""
    await log.append_many([EventDraft("run.accepted", {}, run_id=f"r{i}") for i in range(6)])
    sub = log.subscribe(from_seq=1)
    assert [e.seq for e in await collect(sub, 2)] == [1, 2]
    assert sub.cursor == 2
    resumed = log.subscribe(from_seq=sub.cursor + 1)
    assert [e.seq for e in await collect(resumed, 4)] == [3, 4, 5, 6]
    filtered = log.subscribe(from_seq=1, run_id="r5")
    assert [e.seq for e in await collect(filtered, 1)] == [6]
    assert filtered.cursor == 6


async def test_next_batch_hands_on_what_was_read_at_once_and_waits_for_the_first(log: EventLog) -> None:
    """A follower that passes events on a message at a time takes every event already read,
    up to its limit, in order; the cursor names the last one handed over; with nothing read
    yet it waits for the next commit, as ``async for`` does."""
    await log.append_many([EventDraft("run.accepted", {}, run_id=f"r{i}") for i in range(7)])
    sub = log.subscribe(from_seq=1)
    assert [e.seq for e in await sub.next_batch(4)] == [1, 2, 3, 4]
    assert sub.cursor == 4
    assert [e.seq for e in await sub.next_batch(4)] == [5, 6, 7]
    assert sub.cursor == 7
    async with anyio.create_task_group() as tg:
        got: list[int] = []

        async def follow() -> None:
            got.extend(e.seq for e in await sub.next_batch(4))

        tg.start_soon(follow)
        await anyio.wait_all_tasks_blocked()
        assert got == []  # nothing new yet: it waits
        await log.append("run.accepted", {}, run_id="r7")
    assert got == [8] and sub.cursor == 8


async def test_a_filtered_follower_reports_progress_past_what_it_leaves_out(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``next_batch(or_progress=True)``: events the filters leave out are read past — the
    cursor moves, an empty batch says so — rather than waited behind; and the ring never
    makes envelopes of them."""
    made: list[str] = []  # the types of the envelopes the ring made

    def envelope(row: Committed) -> Event:
        made.append(row[3])
        return committed_event(row)

    monkeypatch.setattr(_feed, "committed_event", envelope)
    # Emitted, not appended: an append makes its caller the envelopes it returns.
    await log.emit_many(
        [EventDraft("run.accepted", {}, run_id="r"), EventDraft("step.started", {"tool": "t"}, run_id="r")]
        + [EventDraft("step.succeeded", {}, run_id="r") for _ in range(3)]
    )
    await log.sync()
    sub = log.subscribe(from_seq=1, type=["run.*"])
    assert [e.type for e in await sub.next_batch(16, or_progress=True)] == ["run.accepted"]
    assert sub.cursor == 5  # the step events were read past
    await log.emit("step.started", {"tool": "t"}, run_id="r")
    assert await sub.next_batch(16, or_progress=True) == []
    assert sub.cursor == 6
    # (On a shared log the page may come from the table instead: then the ring made none.)
    assert [t for t in made if t.startswith("step.")] == []
    # Without it, the follower waits for the next event it wants, as ``async for`` does.
    plain = log.subscribe(from_seq=2, type=["run.*"])
    got: list[str] = []
    async with anyio.create_task_group() as tg:

        async def follow() -> None:
            got.extend(e.type for e in await plain.next_batch(16))

        tg.start_soon(follow)
        await anyio.wait_all_tasks_blocked()
        assert got == []  # past five step events, and still waiting
        await log.append("run.completed", {"outputs": {}}, run_id="r")
    assert got == ["run.completed"] and plain.cursor == 7


async def test_subscribe_with_filters(log: EventLog) -> None:
    for i in range(10):
        await log.append("step.started" if i % 2 else "run.accepted", {"tool": "t"}, run_id="r")
    sub = log.subscribe(0, type="step.*", run_id="r", page_size=2)
    assert [e.seq for e in await collect(sub, 5)] == [2, 4, 6, 8, 10]


async def test_slow_subscriber_catches_up_from_the_database() -> None:
    config = EventStoreConfig(ring_size=8)
    async with open_event_log(config=config) as log:
        await log.append("session.started", {})
        sub = log.subscribe(0, page_size=7)
        first = await collect(sub, 1)  # attached, then falls far behind the ring
        for _ in range(10):
            await log.append_many([EventDraft("run.accepted", {}) for _ in range(20)])
        rest = await collect(sub, 200)
    assert [e.seq for e in first + rest] == list(range(1, 202))


async def test_filtered_subscriber_behind_the_ring_misses_nothing() -> None:
    async with open_event_log(config=EventStoreConfig(ring_size=4)) as log:
        drafts = [EventDraft("run.accepted", {}, run_id=f"r{i % 3}") for i in range(30)]
        await log.append_many(drafts)
        sub = log.subscribe(1, run_id="r1", page_size=4)
        caught_up = await collect(sub, 10)  # from SQL: pages, the last one short
        assert [e.seq for e in caught_up] == list(range(2, 31, 3))
        live = [await log.append("run.accepted", {}, run_id="r1") for _ in range(3)]
        with anyio.fail_after(5):
            assert await collect(sub, 3) == live


async def test_stuck_subscriber_blocks_nobody(log: EventLog) -> None:
    stuck = log.subscribe(0)
    never = anyio.Event()
    async with anyio.create_task_group() as tg:

        async def stuck_reader() -> None:
            async for _ in stuck:
                await never.wait()  # takes one event and never comes back

        tg.start_soon(stuck_reader)
        other = log.subscribe(0)
        with anyio.fail_after(10):
            for _ in range(50):
                await log.append_many([EventDraft("run.accepted", {}) for _ in range(100)])
            assert len(await collect(other, 5000)) == 5000
        tg.cancel_scope.cancel()


async def test_subscription_ends_when_the_store_stops() -> None:
    async with Node.open() as node:
        pid = await EventStore.start(EventStoreConfig())
        assert pid is not None
        log = EventLog(pid)
        await log.append("run.accepted", {})
        sub = log.subscribe(0)
        assert len(await collect(sub, 1)) == 1
        await node.stop(pid)
        assert [e async for e in sub] == []
        with pytest.raises(StoreClosed):
            await log.append("run.accepted", {})


async def test_subscription_raises_when_the_store_dies_for_good() -> None:
    async with Node.open():
        pid = await EventStore.start(EventStoreConfig())
        assert pid is not None
        log = EventLog(pid, reattach_timeout=0.05)
        sub = log.subscribe(0)
        await log.append("run.accepted", {})
        await collect(sub, 1)
        pid.kill()
        with pytest.raises(StoreClosed):
            await collect(sub, 1)


async def test_log_by_name_survives_a_restart(any_db: str) -> None:
    config = EventStoreConfig(path=any_db, name="events")
    async with Node.open():
        first = await EventStore.start(config)
        assert first is not None
        log = EventLog("events")
        sub = log.subscribe(0)
        seen: list[int] = []
        async with anyio.create_task_group() as tg:

            async def follow() -> None:
                seen.extend(e.seq for e in await collect(sub, 6))

            tg.start_soon(follow)
            for _ in range(3):
                await log.append("run.accepted", {})
            first.kill()  # a crash: no terminate, the supervisor starts a successor
            second = await EventStore.start(config)
            assert second is not None and second != first
            for _ in range(3):
                await log.append("run.accepted", {})
        assert seen == [1, 2, 3, 4, 5, 6]


async def test_graceful_stop_commits_what_it_accepted(any_db: str) -> None:
    db = any_db
    acked: list[Event] = []
    refused = 0
    async with Node.open() as node:
        pid = await EventStore.start(EventStoreConfig(path=db))
        assert pid is not None
        log = EventLog(pid)
        await log.append("session.started", {})

        async def producer() -> None:
            nonlocal refused
            for _ in range(200):
                try:
                    acked.append(await log.append("run.accepted", {}))
                except StoreClosed:
                    refused += 1
                    return

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(producer)
            while len(acked) < 500:
                await anyio.lowlevel.checkpoint()
            await node.stop(pid)
    assert refused > 0
    async with open_event_log(db, readonly=True) as ro:
        stored = await ro.query()
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert {e.event_id for e in acked} <= {e.event_id for e in stored}


async def test_producers_and_subscribers_agree_on_one_sequence() -> None:
    """Many producers, several subscribers (one slow, behind a tiny ring): all see the log."""
    total = 8 * 60 + 8 * 20 * 5
    config = EventStoreConfig(ring_size=32, max_batch=64)
    async with open_event_log(config=config) as log:
        views: list[list[Event]] = [[] for _ in range(4)]

        async def subscriber(index: int, slow: bool) -> None:
            async for event in log.subscribe(0, page_size=16):
                views[index].append(event)
                if slow:
                    for _ in range(30):  # much slower than the writer: falls behind the ring
                        await anyio.lowlevel.checkpoint()
                if len(views[index]) == total:
                    return

        async def singles(k: int) -> None:
            for i in range(60):
                await log.append("step.started", {"tool": "t", "i": i}, run_id=f"p{k}")

        async def batches(k: int) -> None:
            for i in range(20):
                await log.append_many(
                    [EventDraft("run.accepted", {"i": i}, session_id=f"b{k}") for _ in range(5)]
                )

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for index in range(4):
                    tg.start_soon(subscriber, index, index == 3)
                for k in range(8):
                    tg.start_soon(singles, k)
                    tg.start_soon(batches, k)
        stored = await log.query()
    assert [e.seq for e in stored] == list(range(1, total + 1))
    for view in views:
        assert view == stored


async def test_restart_under_a_supervisor_loses_nothing(any_db: str) -> None:
    config = EventStoreConfig(path=any_db, name="soma.events")
    async with Node.open():
        sup = await Supervisor.start_link(
            [ChildSpec("event_store", EventStore.start_link, args=(config,))], intensity=5
        )
        log = EventLog("soma.events")
        sub = log.subscribe(0)
        before = [await log.append("run.accepted", {}, run_id="r") for _ in range(3)]
        assert await collect(sub, 3) == before
        (child,) = await Supervisor.which_children(sup)
        assert child.pid is not None
        child.pid.kill()  # crash; the supervisor restarts it on the same file
        after = [await log.append("run.accepted", {}, run_id="r") for _ in range(3)]
        assert [e.seq for e in after] == [4, 5, 6]
        assert await collect(sub, 3) == after
        assert [e.seq for e in await log.query(run_id="r")] == [1, 2, 3, 4, 5, 6]


async def test_readonly_log_follows_a_writer_in_another_connection(any_db: str) -> None:
    db = any_db
    async with open_event_log(db) as writer:
        await writer.append("session.started", {}, session_id="s")
        async with open_event_log(db, readonly=True, poll_interval=0.01) as reader:
            seen: list[Event] = []
            async with anyio.create_task_group() as tg:

                async def follow() -> None:
                    seen.extend(await collect(reader.subscribe(0), 201))

                tg.start_soon(follow)
                written = [await writer.append("run.accepted", {}, run_id="r") for _ in range(100)]
                written += await writer.append_many(
                    [EventDraft("run.accepted", {}, run_id="r") for _ in range(100)]
                )
                assert len(await reader.query(run_id="r")) == 200
            assert [e.event_id for e in seen[1:]] == [e.event_id for e in written]


async def test_the_rings_events_are_nothing_the_cyclic_collector_keeps_walking() -> None:
    """The feed's ring keeps committed events as flat tuples of atoms, which the collector
    stops tracking once it has seen them: thousands of recent events cost a full collection
    nothing and never push the process towards one."""
    async with open_event_log(":memory:") as log:
        await log.append_many([EventDraft("run.accepted", {"n": i}, run_id=f"r{i}") for i in range(100)])
        ring = log._feed._ring  # type: ignore[union-attr]
        assert len(ring) == 100
        gc.collect()
        assert not any(gc.is_tracked(row) for row in ring)
        assert [e.payload["n"] for e in await log.query(after_seq=0)] == list(range(100))


async def test_subscribers_share_an_events_envelope() -> None:
    """An envelope a subscriber had made from the ring is kept for the next: ten followers
    of a log pay for one envelope an event, not ten (``make bench``'s fan-out row)."""
    async with open_event_log(":memory:") as log:
        await log.append_many([EventDraft("run.accepted", {"n": i}, run_id="r") for i in range(5)])
        first, second = log.subscribe(from_seq=1), log.subscribe(from_seq=1, type="run.*")
        mine, theirs = await first.next_batch(5), await second.next_batch(5)
        assert [e.payload["n"] for e in mine] == list(range(5))
        assert all(a is b for a, b in zip(mine, theirs, strict=True))
