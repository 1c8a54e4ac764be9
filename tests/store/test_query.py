"""An event query's in-memory test (``EventQuery.matches``, what the feed's ring filters a
follower's events with) is the same predicate as its SQL (``where``): for any events and any
filters, both keep the same events."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from soma_runtime.store._query import EventQuery, where
from soma_runtime.store.events import Event

_TYPES = ["run.started", "run.completed", "runner.x", "run", "tool.started", "tool.failed", "step.succeeded"]
_PATTERNS = st.sampled_from([*_TYPES, "run.*", "tool.*", "step.*", "r.*", "runner.*"])
_IDS = st.sampled_from([None, "a", "b"])

_events = st.lists(st.tuples(st.sampled_from(_TYPES), _IDS, _IDS, _IDS, _IDS), min_size=1, max_size=12)
_queries = st.builds(
    EventQuery,
    run_id=st.one_of(_IDS, st.lists(st.sampled_from(["a", "b", "c"]), max_size=3).map(tuple)),
    session_id=_IDS,
    agent_id=_IDS,
    correlation_id=_IDS,
    type=st.one_of(st.none(), _PATTERNS, st.lists(_PATTERNS, max_size=4).map(tuple)),
)


@settings(max_examples=300, deadline=None)
@given(rows=_events, query=_queries)
def test_the_in_memory_test_keeps_what_the_sql_keeps(rows: list[tuple[Any, ...]], query: EventQuery) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE events (seq, type, run_id, session_id, agent_id, correlation_id)")
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", [(i + 1, *r) for i, r in enumerate(rows)])
    clause, params = where(query, None)
    by_sql = [seq for (seq,) in db.execute(f"SELECT seq FROM events WHERE {clause} ORDER BY seq", params)]
    in_memory = [
        i + 1
        for i, (type, run_id, session_id, agent_id, correlation_id) in enumerate(rows)
        if query.matches_fields(type, run_id, session_id, agent_id, correlation_id)
    ]
    assert in_memory == by_sql


def test_an_envelope_is_tested_on_its_own_fields() -> None:
    event = Event(seq=1, event_id="e", ts=0, type="tool.failed", run_id="r1", payload={})
    assert EventQuery(type=("run.*", "tool.*"), run_id="r1").matches(event)
    assert not EventQuery(type=("run.*", "tool.started"), run_id="r1").matches(event)
    assert not EventQuery(type="tool.*", run_id=("r2", "r3")).matches(event)
