"""PostgreSQL in the tests: the session's throwaway cluster (``soma_runtime.testing.postgres``)
and a fresh database per test that asks. A machine without PostgreSQL fails these tests with
how to get it — they are never skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from soma_runtime.testing.postgres import ClusterUnavailable, ThrowawayCluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[ThrowawayCluster]:
    try:
        with ThrowawayCluster.started() as cluster:
            yield cluster
    except ClusterUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def pg_url(pg_cluster: ThrowawayCluster) -> str:
    """The URL of a fresh database of the session's cluster."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each backend in turn: a SQLite file, a PostgreSQL database — the
    store's contract is the same on both, and the tests that take this prove it."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return str(tmp_path / "soma.db")


async def raw_rows(db: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` read past the store, on a connection of its own (as another process
    would): sqlite3 for a file, asyncpg for a PostgreSQL URL."""
    if db.startswith("postgresql://"):
        import asyncpg

        conn = await asyncpg.connect(db)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    import sqlite3

    raw = sqlite3.connect(db)
    try:
        return list(raw.execute(sql).fetchall())
    finally:
        raw.close()
