"""The SQLite schema of the event log, as its migrations build it (``sqlite`` runs them).

Only ever append to :data:`MIGRATIONS`: a database records the version it is at, and each
step runs once, in its own transaction, when a writer opens a database of an older version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

# Which events open and end a run, a session and a task (see migration 1 -> 2): for each kind,
# the id column, the family its events belong to, the opening and the ending types.
LIFECYCLES: Final = {
    "run": (
        "run_id",
        "run.",
        ("run.accepted", "run.started"),
        ("run.completed", "run.failed", "run.timeout", "run.cancelled"),
    ),
    "session": ("session_id", "session.", ("session.started", "session.resumed"), ("session.stopped",)),
    "task": (
        "task_id",
        "actor.task.",
        ("actor.task.received",),
        tuple(f"actor.task.{end}" for end in ("completed", "rejected", "failed", "cancelled", "timeout")),
    ),
}


def _sql_list(types: Sequence[str]) -> str:
    return ", ".join(f"'{t}'" for t in types)


def _unfinished_schema() -> str:
    parts = [
        "CREATE TABLE unfinished (kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,"
        " PRIMARY KEY (kind, id)) WITHOUT ROWID;"
    ]
    for kind, (column, family, opens, ends) in LIFECYCLES.items():
        # The backfill: for each id, the last of its opening and ending events decides.
        parts.append(
            f"INSERT INTO unfinished (kind, id, seq) SELECT '{kind}', {column}, seq FROM ("
            f"SELECT {column}, type, max(seq) AS seq FROM events"
            f" WHERE {column} IS NOT NULL AND type IN ({_sql_list((*opens, *ends))}) GROUP BY {column})"
            f" WHERE type IN ({_sql_list(opens)});"
        )
        # Every insert runs every trigger's WHEN, so it is a range test on the family — an
        # IN list there costs half as much again as the insert itself (measured) — and only
        # the family's few events reach the IN lists of the body.
        parts.append(
            f"CREATE TRIGGER unfinished_{kind} AFTER INSERT ON events"
            f" WHEN NEW.type >= '{family}' AND NEW.type < '{family[:-1]}/' AND NEW.{column} IS NOT NULL"
            " BEGIN"
            f" INSERT OR IGNORE INTO unfinished (kind, id, seq) SELECT '{kind}', NEW.{column}, NEW.seq"
            f" WHERE NEW.type IN ({_sql_list(opens)});"
            f" DELETE FROM unfinished WHERE NEW.type IN ({_sql_list(ends)})"
            f" AND kind = '{kind}' AND id = NEW.{column};"
            " END;"
        )
    return "\n".join(parts)


_UNFINISHED: Final = _unfinished_schema()

ORPHAN_OUTCOME: Final = "guidance.outcome without its guidance.fired"
"""How both backends' trigger words its refusal (the store tells it from a duplicate by it)."""

# The outcome rule's condition and body (migrations 2 -> 3 and 3 -> 4 attach it to inserts).
_OUTCOME_RULE: Final = f"""WHEN NEW.type = 'guidance.outcome'
    BEGIN
        SELECT RAISE(ABORT, '{ORPHAN_OUTCOME} (firing_id not in the log)')
        WHERE NOT EXISTS (
            SELECT 1 FROM events WHERE type = 'guidance.fired'
            AND payload ->> '$.firing_id' = NEW.payload ->> '$.firing_id'
        );
    END;
    """

# MIGRATIONS[i] moves a database from schema version i to i + 1. Only ever append to it: a
# database records the version it is at, and each step runs once, in its own transaction.
MIGRATIONS: Final[tuple[str, ...]] = (
    # 0 -> 1: the log. ``seq`` is the rowid, so appends go to the right edge of the table and
    # every secondary index is implicitly ordered by seq within a key: a run's trace is one
    # index range scan, already in seq order, whatever the size of the log. The per-id indexes
    # are partial (most events carry only some ids), which keeps them small and cheap to insert.
    """
    CREATE TABLE events (
        seq            INTEGER PRIMARY KEY,
        event_id       TEXT    NOT NULL,
        ts             INTEGER NOT NULL,
        type           TEXT    NOT NULL,
        session_id     TEXT,
        run_id         TEXT,
        step_id        TEXT,
        tool_call_id   TEXT,
        agent_id       TEXT,
        task_id        TEXT,
        correlation_id TEXT,
        payload        TEXT    NOT NULL
    );
    CREATE UNIQUE INDEX events_event_id ON events (event_id);
    CREATE INDEX events_run ON events (run_id) WHERE run_id IS NOT NULL;
    CREATE INDEX events_session ON events (session_id) WHERE session_id IS NOT NULL;
    CREATE INDEX events_agent ON events (agent_id) WHERE agent_id IS NOT NULL;
    CREATE INDEX events_correlation ON events (correlation_id) WHERE correlation_id IS NOT NULL;
    CREATE INDEX events_type ON events (type);
    """,
    # 1 -> 2: what resume looks for at open, found without reading the log (docs/design.md §5b), and
    # the database's own labels (``meta``: who created it, e.g. ``soma demo``).
    #
    # ``unfinished`` holds one row per run, session and actor task that was opened and has
    # not ended, keyed by the event that opened it. Triggers keep it in the same transaction
    # as the events, so recovery costs what was interrupted, not the size of the log. A run
    # opens with run.accepted (or run.started) and ends with its terminal event (run.resumed
    # and run.suspended leave it open); a session opens with session.started or
    # session.resumed and ends with session.stopped; a task (the actor layer's, which owns
    # the reserved ``actor.*`` family) opens with actor.task.received and ends with its
    # terminal event. The backfill makes the same rows for a log written before.
    _UNFINISHED
    + """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    """,
    # 2 -> 3: who recorded each event (``source``: runtime, hook, wrap, replay, test), on the
    # envelope. An outside agent's events named it in their payload before: the backfill
    # takes it from there (the LIKE is a cheap pre-filter, so the JSON is parsed only where
    # the word appears).
    #
    # And the log refuses a ``guidance.outcome`` whose ``guidance.fired`` it does not hold
    # (docs/design.md §9): an outcome is evidence about a firing, and one without its firing
    # would count in ``soma outcomes`` for an arm nobody can check. The check is the
    # database's own, so no writer — the runtime, a hook writing with plain sqlite3, an
    # import — can get round it; the firing-id index makes it one index probe.
    """
    ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'runtime';
    UPDATE events SET source = payload ->> '$.source'
        WHERE payload LIKE '%"source"%' AND payload ->> '$.source' IN ('hook', 'wrap', 'replay', 'test');
    CREATE INDEX events_firing ON events (payload ->> '$.firing_id') WHERE type = 'guidance.fired';
    CREATE TRIGGER outcome_needs_firing BEFORE INSERT ON events """
    + _OUTCOME_RULE,
    # 3 -> 4: the same refusal as an AFTER trigger. A BEFORE INSERT trigger costs every insert
    # (whatever its WHEN says) ~1.9 us a row, 14% of an append of the run's events (measured:
    # 13.3 against 11.4 us a row, batches of 1,000); an AFTER one that raises aborts the
    # statement all the same — the whole batch, as before — and a row-level AFTER trigger runs
    # as each row is inserted, so a firing earlier in the same batch is found, a later one not.
    """
    DROP TRIGGER outcome_needs_firing;
    CREATE TRIGGER outcome_needs_firing AFTER INSERT ON events """
    + _OUTCOME_RULE,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
