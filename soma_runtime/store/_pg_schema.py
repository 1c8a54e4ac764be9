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


def _sql_list(types: tuple[str, ...]) -> str:
    return ", ".join(f"'{t}'" for t in types)


def _unfinished_trigger() -> str:
    branches = []
    for kind, (column, family, opens, ends) in LIFECYCLES.items():
        branches.append(
            f"  IF NEW.{column} IS NOT NULL AND NEW.type >= '{family}' AND NEW.type < '{family[:-1]}/' THEN\n"
            f"    IF NEW.type IN ({_sql_list(opens)}) THEN\n"
            f"      INSERT INTO unfinished (kind, id, seq) VALUES ('{kind}', NEW.{column}, NEW.seq)"
            " ON CONFLICT DO NOTHING;\n"
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
    # 1 -> 2: what resume looks for at open (see ``_schema``), and the database's labels.
    """
    CREATE TABLE unfinished (
        kind TEXT NOT NULL, id TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (kind, id)
    );
    """
    + _unfinished_trigger()
    + """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
