"""Opening the database a ``db`` names: a ``postgresql://`` URL, else a SQLite file (or
``":memory:"``). Apart from ``_backend`` so that the backends, which import its types, are
not imported by it."""

from __future__ import annotations

import os

from ._backend import LogBackend, NodeName, Synchronous, is_postgres


async def open_backend(
    db: str | os.PathLike[str],
    *,
    readonly: bool = False,
    synchronous: Synchronous = "NORMAL",
    busy_timeout: float = 5.0,
    node: NodeName | None = None,
) -> LogBackend:
    """Open the database ``db`` names: a ``postgresql://`` URL, else a SQLite file."""
    if is_postgres(db):
        from .postgres import PostgresLog  # asyncpg only for those who use it

        return await PostgresLog.open(str(db), readonly=readonly, synchronous=synchronous, node=node)
    from .sqlite import SqliteLog

    return await SqliteLog.open(db, readonly=readonly, synchronous=synchronous, busy_timeout=busy_timeout)
