"""Guidance A/B on a real runtime: the monitor records arms, outcomes and lessons, a replay
gives the same, each vitals event says who caused it, and the database refuses an outcome
without its firing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from soma_runtime import Runtime
from soma_runtime.store import OrphanOutcome
from soma_runtime.store._schema import MIGRATIONS
from soma_runtime.store.events import EventDraft
from soma_runtime.store.log import open_event_log
from soma_runtime.store.sqlite import SqliteLog
from soma_runtime.vitals import VitalsConfig
from soma_runtime.vitals.replay import recorded_guidance, replay_guidance
from soma_runtime.vitals.report import outcome_report
from soma_runtime.vitals.scenarios._population import Population

pytestmark = pytest.mark.anyio
CONFIG = VitalsConfig(ab="*")


async def populate(rt: Runtime, episodes: int, source: str | None = None) -> None:
    """A population's episodes, each agent learning its arm from the recorded firing."""
    population = Population(7, 0.9, 0.2)
    for episode in range(episodes):
        agent, lead = population.lead(episode, "bash_error_streak")
        await rt.events.append_many([EventDraft(t, p, **ids, source=source) for t, p, ids in lead])
        await rt.vitals.caught_up()
        fired = await rt.events.query(agent_id=agent, type="guidance.fired")
        [firing] = [e for e in fired if e.payload["pattern"] == "bash_error_streak"]
        _, follow = population.follow(agent, firing.payload["delivered"])
        await rt.events.append_many([EventDraft(t, p, **ids, source=source) for t, p, ids in follow])
    await rt.vitals.caught_up()


async def test_the_monitor_records_what_a_replay_computes_and_tags_its_source(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with Runtime.open(db=db, vitals=CONFIG, source="test") as rt:
        await populate(rt, 24)
        log = await rt.events.query()
    guidance = recorded_guidance(log)
    assert guidance == replay_guidance(log, config=CONFIG), "bit-identical, arms and outcomes included"
    fired = [g for g in guidance if "message" in g and g["pattern"] == "bash_error_streak"]
    assert {g["arm"] for g in fired} == {"treatment", "control"}
    assert all(g["delivered"] == (g["arm"] == "treatment") for g in fired)
    outcomes = [e for e in log if e.type == "guidance.outcome"]
    assert {o.payload["horizon"] for o in outcomes} == {1, 5, 10}
    # A test's runtime: every event, the monitor's too, says so — and reports leave them out.
    assert {e.source for e in log} == {"test"}
    assert outcome_report(outcomes) == []
    assert outcome_report([o.payload for o in outcomes])  # the same rows, taken as earnest


async def test_vitals_events_take_the_source_of_their_cause(tmp_path: Path) -> None:
    async with Runtime.open(db=tmp_path / "soma.db", vitals=CONFIG) as rt:
        await populate(rt, 2, source="hook")
        log = await rt.events.query()
    derived = [e for e in log if e.type.startswith(("vitals.", "guidance.", "lesson."))]
    assert derived and {e.source for e in derived} == {"hook"}
    assert {e.source for e in log} == {"hook"}


async def test_the_database_refuses_an_outcome_without_its_firing(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    outcome = {
        "firing_id": "gf-none",
        "pattern": "p",
        "horizon": 1,
        "censored": True,
        "pressure_at_firing": 0.3,
    }
    async with open_event_log(db) as log:
        with pytest.raises(OrphanOutcome, match=r"without its guidance\.fired"):
            await log.append("guidance.outcome", outcome, agent_id="a")
        fired = {"firing_id": "gf-one", "message": "m", "pattern": "p"}
        await log.append_many(  # a firing and its outcome in one batch: accepted
            [
                EventDraft("guidance.fired", fired),
                EventDraft("guidance.outcome", {**outcome, "firing_id": "gf-one"}),
            ]
        )
        assert [e.type for e in await log.query()] == ["guidance.fired", "guidance.outcome"]
    # The rule is the database's own: a writer that bypasses Soma's code is refused too.
    with sqlite3.connect(db) as conn, pytest.raises(sqlite3.IntegrityError, match=r"guidance\.fired"):
        conn.execute(
            "INSERT INTO events (seq, event_id, ts, type, payload) VALUES (9, 'x', 0, 'guidance.outcome', ?)",
            ('{"firing_id": "gf-other"}',),
        )


async def test_a_database_from_before_gets_the_source_column_from_its_payloads(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    log = await SqliteLog.open(db, migrations=MIGRATIONS[:2])  # schema 2: no source column
    await log.close()
    with sqlite3.connect(db) as conn:
        for seq, payload in [
            (1, '{"source": "hook"}'),
            (2, '{"source": "wrap"}'),
            (3, "{}"),
            (4, '{"source": "x"}'),
        ]:
            conn.execute(
                "INSERT INTO events (seq, event_id, ts, type, payload) VALUES (?, ?, 0, 'hook.error', ?)",
                (seq, f"e{seq}", payload),
            )
    async with open_event_log(db) as migrated:
        assert [e.source for e in await migrated.query()] == ["hook", "wrap", "runtime", "runtime"]


async def test_a_source_the_store_does_not_know_is_refused(tmp_path: Path) -> None:
    from soma_runtime.store import EventStoreConfig, InvalidEvent

    with pytest.raises(ValueError, match="source"):
        EventStoreConfig(source="someone")
    async with open_event_log(tmp_path / "soma.db") as log:
        with pytest.raises(InvalidEvent, match="source must be one of"):
            await log.append("run.accepted", {}, source="someone")
        assert await log.query() == []


async def test_both_backends_keep_the_source_and_refuse_an_orphan_outcome(any_db: str) -> None:
    from _postgres import raw_rows

    outcome = {"firing_id": "gf-x", "pattern": "p", "horizon": 1, "censored": True, "pressure_at_firing": 0.3}
    async with open_event_log(any_db) as log:
        with pytest.raises(OrphanOutcome):
            await log.append("guidance.outcome", outcome, agent_id="a", source="hook")
        fired = {"firing_id": "gf-x", "message": "m", "pattern": "p"}
        await log.append_many(
            [
                EventDraft("guidance.fired", fired, source="wrap"),
                EventDraft("guidance.outcome", outcome, source="hook"),
            ]
        )
        assert [(e.type, e.source) for e in await log.query()] == [
            ("guidance.fired", "wrap"),
            ("guidance.outcome", "hook"),
        ]
    assert await raw_rows(any_db, "SELECT source FROM events ORDER BY seq") == [("wrap",), ("hook",)]
