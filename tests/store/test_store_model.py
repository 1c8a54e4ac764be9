"""Property: any interleaving of appends, queries and subscriptions matches a list model.

Each example runs on a fresh event loop and a fresh in-memory store. The model is a plain
list of events in seq order; every query is answered from it by filtering in Python.
Appends issued concurrently may commit in any order, but must take exactly the next seqs,
and a query racing them must see a gap-free prefix of the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soma_runtime.store.events import Event, EventDraft
from soma_runtime.store.log import EventLog, Subscription, open_event_log
from soma_runtime.store.server import EventStoreConfig

TYPES = ["run.accepted", "run.cancelled", "session.started", "actor.note"]
FILTER_TYPES: list[Any] = [None, *TYPES, "run.*", "actor.*", ["session.started", "run.*"]]


@dataclass(frozen=True)
class Q:
    run_id: str | None
    session_id: str | None
    agent_id: str | None
    correlation_id: str | None
    type: Any
    after_seq: int
    limit: int | None
    descending: bool

    def kwargs(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def match(self, e: Event) -> bool:
        for name in ("run_id", "session_id", "agent_id", "correlation_id"):
            wanted = getattr(self, name)
            if wanted is not None and getattr(e, name) != wanted:
                return False
        if self.type is None:
            return True
        patterns = [self.type] if isinstance(self.type, str) else self.type
        return any(e.type.startswith(p[:-1]) if p.endswith(".*") else e.type == p for p in patterns)

    def expect(self, model: list[Event]) -> list[Event]:
        hits = [e for e in model if e.seq > self.after_seq and self.match(e)]
        if self.descending:
            hits.reverse()
        return hits if self.limit is None else hits[: self.limit]


# Ids other than the queried ones: any text an id may be (NUL and surrogates are refused,
# see test_events), stored and read back as given.
id_text = st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])
free_ids = st.none() | st.text(id_text, max_size=6)
drafts = st.builds(
    EventDraft,
    type=st.sampled_from(TYPES),
    payload=st.fixed_dictionaries({"n": st.integers(-5, 5)}),
    run_id=st.sampled_from([None, "r1", "r2"]),
    session_id=st.sampled_from([None, "s1"]),
    agent_id=st.sampled_from([None, "a"]),
    correlation_id=st.sampled_from([None, "c"]),
    task_id=free_ids,
    step_id=free_ids,
    tool_call_id=free_ids,
    source=st.sampled_from([None, "hook", "test"]),
)
queries = st.builds(
    Q,
    run_id=st.sampled_from([None, "r1", "r2"]),
    session_id=st.sampled_from([None, "s1"]),
    agent_id=st.sampled_from([None, "a"]),
    correlation_id=st.sampled_from([None, "c"]),
    type=st.sampled_from(FILTER_TYPES),
    after_seq=st.integers(0, 25),
    limit=st.none() | st.integers(1, 8),
    descending=st.booleans(),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), drafts),
        st.tuples(st.just("append_many"), st.lists(drafts, max_size=8)),
        st.tuples(st.just("concurrent"), st.lists(drafts, min_size=2, max_size=6), queries),
        st.tuples(st.just("query"), queries),
        st.tuples(st.just("subscribe"), st.integers(0, 25), queries),
        st.tuples(st.just("drain")),
    ),
    max_size=20,
)


def key(e: Event) -> tuple[Any, ...]:
    return (e.seq, e.event_id, e.type, e.run_id, e.session_id, e.agent_id, e.correlation_id, e.payload)


def same_draft(e: Event, d: EventDraft) -> bool:
    # The stored payload also carries the type's defaults; the draft's fields must be there.
    assert isinstance(d.payload, dict)
    return (e.type, e.run_id, e.session_id, e.agent_id, e.correlation_id, e.source) == (
        d.type,
        d.run_id,
        d.session_id,
        d.agent_id,
        d.correlation_id,
        d.source or "runtime",
    ) and d.payload.items() <= e.payload.items()


@dataclass
class Follower:
    """A subscription kept open across operations, and what it should yield overall."""

    sub: Subscription
    from_seq: int
    query: Q
    consumed: int = 0

    async def drain(self, model: list[Event]) -> None:
        wanted = [e for e in model if e.seq >= self.from_seq and self.query.match(e)]
        fresh = wanted[self.consumed :]
        got: list[Event] = []
        if fresh:  # read exactly what exists: a subscription waits for more
            with anyio.fail_after(2):  # a skipped event would otherwise hang the test
                async for event in self.sub:
                    got.append(event)
                    if len(got) == len(fresh):
                        break
        assert [key(e) for e in got] == [key(e) for e in fresh]
        self.consumed = len(wanted)


async def scenario(ops: list[tuple[Any, ...]]) -> None:
    model: list[Event] = []
    followers: list[Follower] = []
    # A tiny ring, so subscribers move between the ring and catching up from SQL.
    async with open_event_log(config=EventStoreConfig(ring_size=4)) as log:
        for op in ops:
            await step(log, model, followers, op)
        for follower in followers:
            await follower.drain(model)
        assert [key(e) for e in await log.query()] == [key(e) for e in model]


async def step(log: EventLog, model: list[Event], followers: list[Follower], op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "append":
        event = await log.append(op[1].type, op[1].payload, source=op[1].source, **_ids(op[1]))
        assert event.seq == len(model) + 1 and same_draft(event, op[1])
        model.append(event)
    elif kind == "append_many":
        events = await log.append_many(op[1])
        assert [e.seq for e in events] == list(range(len(model) + 1, len(model) + len(op[1]) + 1))
        assert all(same_draft(e, d) for e, d in zip(events, op[1], strict=True))
        model.extend(events)
    elif kind == "concurrent":
        before = len(model)
        results: list[Event] = []
        seen: list[list[Event]] = []
        async with anyio.create_task_group() as tg:
            for draft in op[1]:
                tg.start_soon(_append_into, log, draft, results)
            tg.start_soon(_query_into, log, op[2], seen)
        results.sort(key=lambda e: e.seq)
        assert [e.seq for e in results] == list(range(before + 1, before + len(op[1]) + 1))
        model.extend(results)
        # The racing query saw the log at *some* prefix: never a gap, never a torn batch.
        assert any(seen[0] == op[2].expect(model[:k]) for k in range(before, len(model) + 1))
    elif kind == "query":
        assert [key(e) for e in await log.query(**op[1].kwargs())] == [key(e) for e in op[1].expect(model)]
    elif kind == "subscribe":
        q = op[2]
        sub = log.subscribe(
            op[1],
            run_id=q.run_id,
            session_id=q.session_id,
            agent_id=q.agent_id,
            correlation_id=q.correlation_id,
            type=q.type,
            page_size=3,
        )
        followers.append(Follower(sub, op[1], q))
    else:
        for follower in followers:
            await follower.drain(model)


def _ids(d: EventDraft) -> dict[str, Any]:
    return {
        "run_id": d.run_id,
        "session_id": d.session_id,
        "agent_id": d.agent_id,
        "correlation_id": d.correlation_id,
    }


async def _append_into(log: EventLog, draft: EventDraft, out: list[Event]) -> None:
    out.append(await log.append(draft.type, draft.payload, source=draft.source, **_ids(draft)))


async def _query_into(log: EventLog, q: Q, out: list[list[Event]]) -> None:
    out.append(await log.query(**q.kwargs()))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_store_matches_list_model(ops: list[tuple[Any, ...]]) -> None:
    anyio.run(scenario, ops, backend="asyncio")
