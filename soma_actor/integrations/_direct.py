"""Recording straight to a Soma database, when no runtime is there to record for us.

One step — a hook's events, a wrapped client's model call — is one SQLite transaction under
the database's writer lock (``_lock``): read what the step needs, append its events, bring
the vitals up to date, hand out pending guidance, commit. Steps of concurrent hooks queue on
the lock, so each sees every step before it: no event is lost or written twice, ``seq`` stays
gap-free, and a guidance firing is delivered once.

The rows are the store's own: the same columns, ``seq`` following the last one, event ids in
the store's format, payloads redacted by the store's redaction and encoded as the store
encodes them (``_wire``). A ``soma serve`` opening the file later sees nothing it would not
have written itself.

Vitals. The vitals engine is deterministic: fed the same events in ``seq`` order it reaches
the same state. Each step that records an action (``_ledger.ACTIONS``) runs the engine over
every event it has not yet seen and records the ``vitals.updated`` / ``guidance.fired``
events of those after the last one already acted on (the newest vitals event's
``cause_seq``) — exactly what a vitals monitor does when it starts on this file, so a monitor
started later continues where the hooks left off, and ``soma replay`` finds the trajectory it
recomputes. Between steps, the engine's exported state is kept in the database
(``soma_vitals_cache``, one row) with the seq and event id it stands at: a step restores it
instead of replaying the log, and a cache that does not match the log (another Soma version,
another vitals config, a file rewritten under it) is dropped and rebuilt from the log.
Steps that record no action (a tool's start, a prompt) do not run the engine at all; the next
action catches it up. As a monitor does, each vitals event says the ``source`` of the event
that caused it, an outcome is recorded only for a firing the log holds (the database refuses
the others), and a firing in the control arm of an A/B test is never handed out.

A database of an older schema is migrated first, by the store's own code (``create_store``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import TYPE_CHECKING

from soma_runtime.store._redaction import redact

from ._ledger import ACTIONS, Draft, Facts, Firing, Outcome, Vitals, delivery, newest
from ._lock import WriteLock
from ._wire import canonical, encode

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from soma_runtime.vitals import VitalsConfig, VitalsEngine

# The store's columns, in its order (``store.sqlite.COLUMNS``).
_COLUMNS = ", ".join(
    [
        *("seq", "event_id", "ts", "type", "session_id", "run_id", "step_id", "tool_call_id"),
        *("agent_id", "task_id", "correlation_id", "source", "payload"),
    ]
)
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?)"
SCHEMA_VERSION = 4
"""The store's schema version these rows are written for (``store._schema.SCHEMA_VERSION``,
not imported: ``soma hook`` keeps its imports to the standard library)."""
_CACHE_TABLE = (
    "CREATE TABLE IF NOT EXISTS soma_vitals_cache ("
    "id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT NOT NULL, last_seq INTEGER NOT NULL, "
    "event_id TEXT NOT NULL, state TEXT NOT NULL)"
)
_VITALS_TYPES = ("vitals.updated", "guidance.fired", "guidance.outcome", "lesson.recorded", "lesson.recalled")
_ENGINE_SKIPS = (*_VITALS_TYPES, "guidance.delivered", "hook.error")

# Event ids as the store makes them (``store.events.new_event_id``): a per-process prefix of
# start time and randomness, then a counter.
_ID_PREFIX = f"ev-{time.time_ns():x}{os.urandom(3).hex()}-"
_ids = iter(range(1, 1 << 62))


def new_event_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):x}"


class NotAStore(Exception):
    """The file is not a Soma event store (or cannot be opened as one)."""


class _Row:
    """An event as the engine reads it (``VitalsEngine.observe`` takes any such object)."""

    __slots__ = ("agent_id", "event_id", "payload", "seq", "session_id", "source", "tool_call_id", "type")

    def __init__(
        self,
        seq: int,
        event_id: str,
        type: str,
        session_id: str | None,
        tool_call_id: str | None,
        agent_id: str | None,
        payload: dict[str, Any],
        source: str,
    ) -> None:
        self.seq = seq
        self.source = source
        self.event_id = event_id
        self.type = type
        self.session_id = session_id
        self.tool_call_id = tool_call_id
        self.agent_id = agent_id
        self.payload = payload


class DirectLedger:
    """A :class:`~soma_actor.integrations._ledger.Ledger` on the database file ``db``.

    ``wait`` bounds how long a step waits for the writer lock (other hooks hold it for
    milliseconds; a runtime holds it for as long as it runs: :class:`~._lock.LockBusy`).
    ``config`` is the vitals config (default: the engine's defaults).
    """

    def __init__(self, db: str, *, wait: float = 3.0, config: VitalsConfig | None = None) -> None:
        self.db = os.path.abspath(db)
        self.wait = wait
        self._config = config

    def transaction(self) -> _Transaction:
        """One step: ``with ledger.transaction() as step: step.facts(…); step.exchange(…)``."""
        return _Transaction(self)

    def facts(self, agent_id: str, sessions: Sequence[str], task_agent: str | None) -> Facts:
        with self.transaction() as step:
            return step.facts(agent_id, sessions, task_agent)

    def exchange(self, drafts: Sequence[Draft], agent_id: str, channel: str | None) -> Outcome:
        with self.transaction() as step:
            return step.exchange(drafts, agent_id, channel)

    def config_key(self) -> str:
        from soma_runtime import __version__

        config = {} if self._config is None else self._config.to_json()
        return f"{__version__}|{json.dumps(config, sort_keys=True)}"

    def engine_config(self) -> VitalsConfig | None:
        return self._config


class _Transaction:
    def __init__(self, ledger: DirectLedger) -> None:
        self._ledger = ledger
        self._lock: WriteLock | None = None
        self._conn: sqlite3.Connection | None = None
        self._last_seq = 0

    # -- the step's frame ---------------------------------------------------------------------

    def __enter__(self) -> _Transaction:
        db = self._ledger.db
        if not os.path.exists(db):
            create_store(db)
        self._lock = WriteLock.acquire(db, wait=self._ledger.wait)
        try:
            self._conn = connect(db)
            if _version(self._conn) < SCHEMA_VERSION:  # written by an older Soma: migrate it first
                self._close()
                create_store(db, migrate=True)
                self._lock = WriteLock.acquire(db, wait=self._ledger.wait)
                self._conn = connect(db)
            self._conn.execute("BEGIN IMMEDIATE")
            value = self._conn.execute("SELECT max(seq) FROM events").fetchone()[0]
            self._last_seq = int(value) if value is not None else 0
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        conn = self._conn
        try:
            if conn is not None:
                if exc_type is None:
                    conn.execute("COMMIT")
                elif conn.in_transaction:
                    conn.execute("ROLLBACK")
        finally:
            self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    @property
    def conn(self) -> sqlite3.Connection:
        assert self._conn is not None, "outside its transaction"
        return self._conn

    # -- the Ledger protocol ------------------------------------------------------------------

    def facts(self, agent_id: str, sessions: Sequence[str], task_agent: str | None) -> Facts:
        started = {s for s in sessions if self._started(s)}
        return Facts(started, self._open_task(task_agent) if task_agent else None, self.vitals(agent_id))

    def exchange(self, drafts: Sequence[Draft], agent_id: str, channel: str | None) -> Outcome:
        seqs = self.append(drafts)
        if any(d.type in ACTIONS for d, seq in zip(drafts, seqs, strict=True) if seq):
            self.settle_vitals()
        guidance: list[Firing] = []
        if channel is not None:
            guidance = newest(self.pending(agent_id))
            if guidance:
                session = next((d.session_id for d in drafts if d.agent_id == agent_id), None)
                self.append([delivery(guidance, agent_id, session, channel)])
        return Outcome(self.vitals(agent_id), guidance, [s for s in seqs if s])

    # -- reading --------------------------------------------------------------------------------

    def has_event(self, event_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return row is not None

    def _started(self, session_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM events WHERE session_id = ? AND type = 'session.started' LIMIT 1", (session_id,)
        ).fetchone()
        return row is not None

    def _open_task(self, agent_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT type, task_id FROM events WHERE agent_id = ? AND type GLOB 'actor.task.*' "
            "ORDER BY seq DESC LIMIT 1",
            (agent_id,),
        ).fetchone()
        return row[1] if row is not None and row[0] == "actor.task.received" else None

    def vitals(self, agent_id: str) -> Vitals | None:
        row = self.conn.execute(
            "SELECT payload FROM events WHERE agent_id = ? AND type = 'vitals.updated' "
            "ORDER BY seq DESC LIMIT 1",
            (agent_id,),
        ).fetchone()
        return None if row is None else Vitals.from_payload(agent_id, json.loads(row[0]))

    def pending(self, agent_id: str) -> list[Firing]:
        """The guidance fired for the agent after the newest one already delivered."""
        row = self.conn.execute(
            "SELECT payload ->> '$.upto_seq' FROM events WHERE agent_id = ? AND type = 'guidance.delivered' "
            "ORDER BY seq DESC LIMIT 1",
            (agent_id,),
        ).fetchone()
        after = int(row[0]) if row is not None and row[0] is not None else 0
        rows = self.conn.execute(
            # A firing in the control arm of an A/B test (``vitals.arms``) is never handed out.
            "SELECT seq, payload FROM events WHERE agent_id = ? AND type = 'guidance.fired' AND seq > ? "
            "AND (payload ->> '$.delivered') IS NOT 0 ORDER BY seq",
            (agent_id, after),
        ).fetchall()
        return [Firing.from_event(seq, json.loads(payload)) for seq, payload in rows]

    # -- writing --------------------------------------------------------------------------------

    def append(self, drafts: Sequence[Draft]) -> list[int]:
        """Append ``drafts`` in order; the seq of each (0 for one whose ``once`` session had
        already started)."""
        skip = {d.once for d in drafts if d.once is not None and self._started(d.once)}
        rows = []
        seqs = []
        for draft in drafts:
            if draft.once is not None and draft.once in skip:
                seqs.append(0)
                continue
            self._last_seq += 1
            payload = encode(canonical(draft.type, redact(draft.payload)))
            rows.append(
                (
                    self._last_seq,
                    draft.event_id or new_event_id(),
                    time.time_ns(),
                    draft.type,
                    draft.session_id,
                    draft.tool_call_id,
                    draft.agent_id,
                    draft.task_id,
                    draft.correlation_id,
                    draft.source or "runtime",
                    payload,
                )
            )
            seqs.append(self._last_seq)
        self.conn.executemany(_INSERT, rows)
        return seqs

    # -- vitals ---------------------------------------------------------------------------------

    def settle_vitals(self) -> None:
        """Run the engine over every event it has not seen and record the vitals events a
        monitor would have recorded (see the module docstring)."""

        engine, key = self._restore()
        acted = self._acted()
        drafts: list[Draft] = []
        last: _Row | None = None
        fired: set[str] = set()
        for row in self._rows_after(engine.last_seq):
            last = row
            for update in engine.observe(row):
                if row.seq <= acted:
                    continue  # a monitor already recorded these
                kind = update.event_type
                if kind == "guidance.fired":
                    fired.add(update.payload()["firing_id"])
                elif kind == "guidance.outcome" and not self._holds(update.payload()["firing_id"], fired):
                    continue
                drafts.append(
                    Draft(
                        kind,
                        update.payload(),
                        agent_id=update.agent_id,
                        session_id=update.session_id,
                        source=row.source,
                    )
                )
        if drafts:
            self.append(drafts)
        if last is not None:
            self._save(engine, key, last)

    def _holds(self, firing_id: str, fired: set[str]) -> bool:
        """Whether the firing is in the log (or about to be, in this step's drafts)."""
        if firing_id in fired:
            return True
        row = self.conn.execute(
            "SELECT 1 FROM events WHERE type = 'guidance.fired' AND payload ->> '$.firing_id' = ? LIMIT 1",
            (firing_id,),
        ).fetchone()
        return row is not None

    def _acted(self) -> int:
        row = self.conn.execute(
            "SELECT payload ->> '$.cause_seq' FROM events "
            f"WHERE type IN ({', '.join('?' * len(_VITALS_TYPES))}) ORDER BY seq DESC LIMIT 1",
            _VITALS_TYPES,
        ).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    def _rows_after(self, seq: int) -> Iterator[_Row]:
        cursor = self.conn.execute(
            "SELECT seq, event_id, type, session_id, tool_call_id, agent_id, payload, source FROM events "
            f"WHERE seq > ? AND type NOT IN ({', '.join('?' * len(_ENGINE_SKIPS))}) ORDER BY seq",
            (seq, *_ENGINE_SKIPS),
        )
        for seq_, event_id, kind, session_id, tool_call_id, agent_id, payload, source in cursor:
            yield _Row(seq_, event_id, kind, session_id, tool_call_id, agent_id, json.loads(payload), source)

    def _restore(self) -> tuple[VitalsEngine, str]:
        """The engine as the cache has it, if the cache matches this log and config; else a
        fresh one (which then replays the whole log)."""
        from soma_runtime.vitals.engine import VitalsEngine

        key = self._ledger.config_key()
        conn = self.conn
        conn.execute(_CACHE_TABLE)
        row = conn.execute(
            "SELECT key, last_seq, event_id, state FROM soma_vitals_cache WHERE id = 1"
        ).fetchone()
        if row is not None and row[0] == key:
            at = conn.execute("SELECT event_id FROM events WHERE seq = ?", (row[1],)).fetchone()
            if at is not None and at[0] == row[2]:
                try:
                    return VitalsEngine.from_state(json.loads(row[3])), key
                except (ValueError, KeyError, TypeError):
                    pass  # a state this engine cannot read: rebuilt below
        return VitalsEngine(self._ledger.engine_config()), key

    def _save(self, engine: VitalsEngine, key: str, last: _Row) -> None:
        state = json.dumps(engine.state(), separators=(",", ":"))
        self.conn.execute(
            "INSERT OR REPLACE INTO soma_vitals_cache (id, key, last_seq, event_id, state) "
            "VALUES (1, ?, ?, ?, ?)",
            (key, last.seq, last.event_id, state),
        )


def connect(db: str) -> sqlite3.Connection:
    try:
        # timeout: SQLite's busy timeout, for a checkpoint or a reader's lock, never for the
        # writer lock (ours, taken before). Autocommit: transactions are explicit.
        conn = sqlite3.connect(db, timeout=5.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise NotAStore(f"{db}: {exc}") from exc
    try:
        # What the store sets: durable against a crash of this process, without an fsync per
        # commit (docs: store.sqlite).
        conn.execute("PRAGMA synchronous = NORMAL")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        conn.close()
        raise NotAStore(f"{db}: {exc}") from exc
    if not {"events", "schema_version"} <= tables:
        conn.close()
        raise NotAStore(f"{db}: not a Soma event store (it has tables {sorted(tables)})")
    return conn


def _version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def create_store(db: str, *, migrate: bool = False) -> None:
    """Create the event store at ``db`` with the store's own code (once, under a lock on its
    directory so that concurrent first hooks create it once) — or, with ``migrate``, bring an
    existing one to the current schema the same way."""
    import fcntl

    directory = os.path.dirname(db) or "."
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        created = not os.path.exists(db)
        if migrate or created:
            import anyio

            from soma_runtime.store.sqlite import SqliteLog

            async def make() -> None:
                log = await SqliteLog.open(db)
                await log.close()

            anyio.run(make, backend="asyncio")
            if created:
                os.chmod(db, 0o600)
    finally:
        os.close(fd)
