"""The PostgreSQL schema of the event log, as its migrations build it (``postgres`` runs them).

The same tables as SQLite's (``_schema``), in PostgreSQL's terms. Only ever append to
:data:`MIGRATIONS`: a database records the version it is at, and each step runs once, in its
own transaction, when a writer opens a database of an older version.

Choices that differ from SQLite's, and why:

- ``payload`` is ``json``, not ``jsonb``: ``json`` keeps the text as written, so an event reads
  back byte for byte as it was stored (``jsonb`` reorders keys and rewrites numbers).
- ``type`` and the ids are collated ``"C"``: the store selects a family (``run.*``) as the
  range ``'run.' <= type < 'run/'``, and ids by prefix the same way, which needs byte order
  whatever the database's locale (and byte order is the cheapest to compare).
- The index of unfinished runs, sessions and tasks is kept by one PL/pgSQL row trigger, in the
  transaction of the insert, exactly as SQLite's triggers keep it.
"""

from __future__ import annotations

from typing import Final

from ._schema import LIFECYCLES
from .events import ID_FIELDS

SEQ_LOCK: Final = (0x736F6D61, 2)
"""The advisory lock every batch holds while it numbers and inserts its rows."""


def _sql_list(types: tuple[str, ...]) -> str:
    return ", ".join(f"'{t}'" for t in types)


def _unfinished_trigger() -> str:
    branches = []
    for kind, (column, family, opens, ends) in LIFECYCLES.items():
        branches.append(
            f"  IF NEW.{column} IS NOT NULL AND NEW.type >= '{family}' AND NEW.type < '{family[:-1]}/' THEN\n"
            f"    IF NEW.type IN ({_sql_list(opens)}) THEN\n"
            f"      INSERT INTO unfinished (kind, id, seq, owner) VALUES ('{kind}', NEW.{column}, NEW.seq,"
            " current_setting('soma.node_id', true)) ON CONFLICT DO NOTHING;\n"
            f"    ELSIF NEW.type IN ({_sql_list(ends)}) THEN\n"
            f"      DELETE FROM unfinished WHERE kind = '{kind}' AND id = NEW.{column};\n"
            "    END IF;\n"
            "  END IF;\n"
        )
    return (
        "CREATE FUNCTION soma_unfinished() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n"
        + "".join(branches)
        + "  RETURN NULL;\nEND\n$body$;\n"
        "CREATE TRIGGER events_unfinished AFTER INSERT ON events"
        " FOR EACH ROW EXECUTE FUNCTION soma_unfinished();\n"
    )


# soma_append(node, columns…): a batch of events in one transaction, as every writer writes.
#
# - Several runtimes append to one log, and seq must stay gap-free and in commit order (a
#   follower reading "seq > last" must never miss a row committed later with a lower seq):
#   so each batch takes one transaction-scoped advisory lock, numbers its rows after the
#   highest stored seq, and commits before the next batch can number its own. The lock is
#   held for one INSERT; group commit makes that one per batch, not per event.
# - Fencing: a node whose lease expired (and whose runs another node may have taken over)
#   can no longer write — the check is in the same transaction as the rows (SQLSTATE SOMA1).
# - The unfinished index's trigger reads the writing node from ``soma.node_id``, set here for
#   the transaction.
# - NOTIFY soma_events with the new high-water mark: delivered at commit, it wakes the other
#   runtimes' followers (who then read the table, so none misses an event).
def _append_function(*, sources: bool) -> str:
    """``soma_append``'s definition; with ``sources``, as schema 3 has it (each event's
    ``source`` in a column of its own, see ``_schema``)."""
    ids = ", ".join(ID_FIELDS)
    id_args = ", ".join(f"{c}s TEXT[]" for c in ID_FIELDS)
    id_arrays = ", ".join(f"{c}s" for c in ID_FIELDS)
    id_values = ", ".join(f"x_{c}" for c in ID_FIELDS)
    source_arg, source_column, source_array, source_value = (
        (" sources TEXT[],", " source,", " sources,", " s,") if sources else ("", "", "", "")
    )
    return f"""
CREATE FUNCTION soma_append(
    node TEXT, event_ids TEXT[], tss BIGINT[], types TEXT[],
    {id_args},{source_arg} payloads TEXT[]
) RETURNS BIGINT LANGUAGE plpgsql AS $body$
DECLARE
    base BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock({SEQ_LOCK[0]}, {SEQ_LOCK[1]});
    IF node IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM nodes WHERE node_id = node AND expires_at > clock_timestamp()) THEN
            RAISE EXCEPTION 'node % holds no lease: it expired, and its runs may have moved', node
                USING ERRCODE = 'SOMA1';
        END IF;
        PERFORM set_config('soma.node_id', node, true);
    END IF;
    SELECT coalesce(max(seq), 0) INTO base FROM events;
    INSERT INTO events (seq, event_id, ts, type, {ids},{source_column} payload)
    SELECT base + n, e, t, y, {id_values},{source_value} p::json
    FROM unnest(event_ids, tss, types, {id_arrays},{source_array} payloads)
        WITH ORDINALITY AS x(e, t, y, {id_values},{source_value} p, n)
    ORDER BY n;
    PERFORM pg_notify('soma_events', (base + cardinality(event_ids))::text);
    RETURN base + 1;
END
$body$;
"""


_APPEND: Final = _append_function(sources=False)

# 2 -> 3 (issue 18): soma_append takes each event's ``source`` (the envelope's, see ``_schema``).
_OLD_APPEND_ARGS: Final = ", ".join(
    ["TEXT", "TEXT[]", "BIGINT[]", "TEXT[]", *(["TEXT[]"] * len(ID_FIELDS)), "TEXT[]"]
)
_APPEND_3: Final = f"DROP FUNCTION soma_append({_OLD_APPEND_ARGS});" + _append_function(sources=True)

MIGRATIONS: Final[tuple[str, ...]] = (
    # 0 -> 1: the log. Each per-id index carries seq, so a run's trace is one index range scan
    # already in seq order; they are partial, as most events carry only some ids.
    """
    CREATE TABLE events (
        seq            BIGINT  PRIMARY KEY,
        event_id       TEXT    NOT NULL UNIQUE,
        ts             BIGINT  NOT NULL,
        type           TEXT    COLLATE "C" NOT NULL,
        session_id     TEXT    COLLATE "C",
        run_id         TEXT    COLLATE "C",
        step_id        TEXT    COLLATE "C",
        tool_call_id   TEXT    COLLATE "C",
        agent_id       TEXT    COLLATE "C",
        task_id        TEXT    COLLATE "C",
        correlation_id TEXT    COLLATE "C",
        payload        JSON    NOT NULL
    );
    CREATE INDEX events_run ON events (run_id, seq) WHERE run_id IS NOT NULL;
    CREATE INDEX events_session ON events (session_id, seq) WHERE session_id IS NOT NULL;
    CREATE INDEX events_agent ON events (agent_id, seq) WHERE agent_id IS NOT NULL;
    CREATE INDEX events_correlation ON events (correlation_id, seq) WHERE correlation_id IS NOT NULL;
    CREATE INDEX events_type ON events (type, seq);
    """,
    # 1 -> 2: what resume looks for at open (see ``_schema``), and the database's labels; and
    # what several runtimes sharing the log need (see ``postgres``): their leases (``nodes``),
    # who owns each unfinished run, session and task (``unfinished.owner``: set by the trigger
    # from the writing node, in the transaction of the event), and ``soma_append``, the one
    # way events are written.
    """
    CREATE TABLE unfinished (
        kind TEXT NOT NULL, id TEXT NOT NULL, seq BIGINT NOT NULL, owner TEXT COLLATE "C",
        PRIMARY KEY (kind, id)
    );
    CREATE INDEX unfinished_owner ON unfinished (owner);
    CREATE TABLE nodes (
        node_id    TEXT COLLATE "C" PRIMARY KEY,
        expires_at TIMESTAMPTZ NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        pid        INTEGER,
        host       TEXT
    );
    """
    + _unfinished_trigger()
    + _APPEND
    + """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2 -> 3: who recorded each event (``source``), backfilled from the payloads of the outside
    # agents' events that named it there; and the log refuses a guidance.outcome whose
    # guidance.fired it does not hold (SQLSTATE SOMA2), with the firing-id index that makes
    # the check one probe. A row trigger before the insert sees the rows the same statement
    # inserted before it, so a firing and its outcome may come in one batch.
    """
    ALTER TABLE events ADD COLUMN source TEXT COLLATE "C" NOT NULL DEFAULT 'runtime';
    UPDATE events SET source = payload ->> 'source'
        WHERE payload::text LIKE '%"source"%' AND payload ->> 'source' IN ('hook', 'wrap', 'replay', 'test');
    CREATE INDEX events_firing ON events ((payload ->> 'firing_id')) WHERE type = 'guidance.fired';
    CREATE FUNCTION soma_outcome_needs_firing() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM events WHERE type = 'guidance.fired'
            AND payload ->> 'firing_id' = NEW.payload ->> 'firing_id'
        ) THEN
            RAISE EXCEPTION 'guidance.outcome without its guidance.fired (firing_id % not in the log)',
                NEW.payload ->> 'firing_id' USING ERRCODE = 'SOMA2';
        END IF;
        RETURN NEW;
    END
    $body$;
    CREATE TRIGGER events_outcome_needs_firing BEFORE INSERT ON events FOR EACH ROW
        WHEN (NEW.type = 'guidance.outcome') EXECUTE FUNCTION soma_outcome_needs_firing();
    """
    + _APPEND_3,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
