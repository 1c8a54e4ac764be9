"""The store's index of unfinished work (what resume reads at open): runs, sessions and actor
tasks that began and have not ended, kept in the same transaction as the events — and built
for a log written before it existed. Also the database's labels."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from soma_runtime import open_event_log
from soma_runtime.store.errors import StoreOpenError, StoreReadOnly
from soma_runtime.store.events import EventDraft, prepare_event
from soma_runtime.store.sqlite import MIGRATIONS, SqliteLog, read_labels

pytestmark = pytest.mark.anyio


async def test_runs_sessions_and_tasks_are_unfinished_from_their_first_event_to_their_end(
    any_db: str,
) -> None:
    async with open_event_log(any_db) as log:
        accepted = await log.append("run.accepted", {}, run_id="r1", session_id="s1")
        await log.append("run.started", {}, run_id="r1", session_id="s1")
        await log.append("run.accepted", {}, run_id="r2", session_id="s1")
        await log.append("run.suspended", {}, run_id="r2")  # not an end
        await log.append("run.resumed", {}, run_id="r2")  # nor a beginning
        await log.append("run.cancelled", {"reason": "x"}, run_id="r2")
        assert [e.seq for e in await log.unfinished("run")] == [accepted.seq]
        await log.append("run.completed", {}, run_id="r1")
        assert await log.unfinished("run") == []

        started = await log.append("session.started", {}, session_id="s1", agent_id="a")
        assert await log.unfinished("session") == [started]
        await log.append("session.stopped", {}, session_id="s1")
        assert await log.unfinished("session") == []
        again = await log.append("session.resumed", {"runs": []}, session_id="s1", agent_id="a")
        assert await log.unfinished("session") == [again]

        task = await log.append("actor.task.received", {"message": "hi"}, task_id="t1", agent_id="a")
        await log.append("actor.task.started", {"message": "hi"}, task_id="t1", agent_id="a")
        assert await log.unfinished("task") == [task]
        await log.append("actor.task.rejected", {"error": "no"}, task_id="t1", agent_id="a")
        assert await log.unfinished("task") == []
        with pytest.raises(ValueError, match="kind"):
            await log.unfinished("step")  # type: ignore[arg-type]


async def test_a_log_written_before_the_index_gets_it_on_its_first_open(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old = await SqliteLog.open(db, migrations=MIGRATIONS[:1])  # schema version 1
    rows = [
        ("run.accepted", {"run_id": "done"}),
        ("run.completed", {"run_id": "done"}),
        ("run.accepted", {"run_id": "live", "session_id": "s"}),
        ("run.started", {"run_id": "live", "session_id": "s"}),
        ("session.started", {"session_id": "s"}),
        ("session.started", {"session_id": "gone"}),
        ("session.stopped", {"session_id": "gone"}),
        ("actor.task.received", {"task_id": "t"}),
    ]
    # (an actor task's payload as the actor layer types it, should it be imported)
    prepared = [prepare_event(t, {"message": "m"} if t.startswith("actor") else {}, ids) for t, ids in rows]
    await old.close()
    with sqlite3.connect(db) as conn:  # rows as that schema has them (before ``source``, too)
        conn.executemany(
            "INSERT INTO events (seq, event_id, ts, type, session_id, run_id, step_id, tool_call_id,"
            " agent_id, task_id, correlation_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(i, p.event_id, p.ts, p.type, *p.ids, p.payload_json) for i, p in enumerate(prepared, 1)],
        )
    async with open_event_log(db) as log:
        assert [e.run_id for e in await log.unfinished("run")] == ["live"]
        assert [e.session_id for e in await log.unfinished("session")] == ["s"]
        assert [e.task_id for e in await log.unfinished("task")] == ["t"]


async def test_a_query_for_several_runs_returns_their_events_in_seq_order(any_db: str) -> None:
    async with open_event_log(any_db) as log:
        await log.append_many([EventDraft("run.accepted", {}, run_id=r) for r in ("a", "b", "c", "a", "b")])
        found = await log.query(run_id=["a", "b"])
        assert [(e.seq, e.run_id) for e in found] == [(1, "a"), (2, "b"), (4, "a"), (5, "b")]
        assert [e.seq for e in await log.query(run_id=("c",))] == [3]
        with pytest.raises(TypeError, match="run_id"):
            await log.query(run_id=[1])  # type: ignore[list-item]


async def test_labels_are_set_by_the_writer_and_read_by_anyone(any_db: str) -> None:
    db = any_db
    async with open_event_log(db) as log:
        assert await log.metadata() == {}
        await log.set_metadata("created_by", "soma demo")
        await log.set_metadata("created_by", "a test")  # set again: replaced
        with pytest.raises(TypeError, match="label"):
            await log.set_metadata("", "x")
    async with open_event_log(db, readonly=True) as reader:
        assert await reader.metadata() == {"created_by": "a test"}
        with pytest.raises(StoreReadOnly):
            await reader.set_metadata("k", "v")


def test_labels_are_read_without_touching_the_file(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"

    async def label() -> None:
        async with open_event_log(db) as log:
            await log.set_metadata("created_by", "soma demo")

    anyio.run(label)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert read_labels(db) == {"created_by": "soma demo"}
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before, "no -wal, no -shm, no change"
    (tmp_path / "other.db").write_bytes(b"not a database at all")
    with pytest.raises(StoreOpenError):
        read_labels(tmp_path / "other.db")
