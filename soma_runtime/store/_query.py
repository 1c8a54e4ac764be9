"""Filters of an event query, and the SQL ``WHERE`` clause that applies them.

Kept apart from the SQLite backend so that readers with no use for aiosqlite or pydantic
(``glance``, behind ``soma statusline``) filter exactly as the store does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import Event


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters of a query; ``None`` means "any". All given filters must match (AND).

    ``type`` is an exact type, a family pattern ``"run.*"``, or a tuple of those (OR);
    ``run_id`` one id or a tuple of them (OR).
    """

    run_id: str | tuple[str, ...] | None = None
    session_id: str | None = None
    agent_id: str | None = None
    correlation_id: str | None = None
    type: str | tuple[str, ...] | None = None
    after_seq: int = 0
    limit: int | None = None
    descending: bool = False

    def matches(self, event: Event) -> bool:
        """The same predicate as the SQL, for events already in memory (seq bounds aside)."""
        return self.matches_fields(
            event.type, event.run_id, event.session_id, event.agent_id, event.correlation_id
        )

    def matches_fields(
        self,
        type: str,
        run_id: str | None,
        session_id: str | None,
        agent_id: str | None,
        correlation_id: str | None,
    ) -> bool:
        """:meth:`matches`, on an event's fields (a committed event not made an envelope yet:
        the feed's ring filters before it builds one)."""
        if self.run_id is not None and (
            run_id != self.run_id if isinstance(self.run_id, str) else run_id not in self.run_id
        ):
            return False
        if self.session_id is not None and session_id != self.session_id:
            return False
        if self.agent_id is not None and agent_id != self.agent_id:
            return False
        if self.correlation_id is not None and correlation_id != self.correlation_id:
            return False
        if self.type is None:
            return True
        exact, families = _type_patterns(self.type)
        return type in exact or type.startswith(families)

    def has_filters(self) -> bool:
        return any(
            v is not None
            for v in (self.run_id, self.session_id, self.agent_id, self.correlation_id, self.type)
        )


@lru_cache(maxsize=256)
def _type_patterns(type_filter: str | tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """A type filter as the exact types it names and the prefixes of its families
    (``"run.*"``: ``"run."``), worked out once per filter: a follower tests every event
    committed against it (the vitals monitor, four per step)."""
    patterns = (type_filter,) if isinstance(type_filter, str) else type_filter
    exact = frozenset(p for p in patterns if not p.endswith(".*"))
    return exact, tuple(p[:-1] for p in patterns if p.endswith(".*"))


def where(query: EventQuery, upto_seq: int | None, *, postgres: bool = False) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause of ``query`` with ``?`` placeholders, and its parameters. SQL both
    backends share, but for a list of run ids: a JSON text for SQLite, an array for
    PostgreSQL."""
    conds = ["seq > ?"]
    params: list[Any] = [query.after_seq]
    if upto_seq is not None:
        conds.append("seq <= ?")
        params.append(upto_seq)
    if isinstance(query.run_id, tuple):
        if postgres:
            conds.append("run_id = ANY(?)")
            params.append(list(query.run_id))
        else:
            conds.append("run_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(query.run_id)))
    for column in ("run_id", "session_id", "agent_id", "correlation_id"):
        value = getattr(query, column)
        if isinstance(value, str):
            conds.append(f"{column} = ?")
            params.append(value)
    if query.type is not None:
        patterns = (query.type,) if isinstance(query.type, str) else query.type
        alts = []
        for pattern in patterns:
            if pattern.endswith(".*"):
                # A range rather than LIKE, so the type index serves it ('/' follows '.').
                alts.append("(type >= ? AND type < ?)")
                params += [pattern[:-1], pattern[:-2] + "/"]
            else:
                alts.append("type = ?")
                params.append(pattern)
        conds.append("(" + " OR ".join(alts or ["1 = 0"]) + ")")
    return " AND ".join(conds), params
