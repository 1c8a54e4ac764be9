"""``soma check`` on a PostgreSQL database: the schema version and every event read back,
an unreadable row named by its seq (the pages themselves are the server's to check)."""

from __future__ import annotations

import asyncpg
import pytest

from soma_actor.cli import main
from soma_runtime import open_event_log
from soma_runtime.store.check import check_database

pytestmark = pytest.mark.anyio


async def test_check_reads_every_event_of_a_postgresql_log_and_names_an_unreadable_one(pg_url: str) -> None:
    async with open_event_log(pg_url) as log:
        for i in range(3):
            await log.append("session.started", {"intent": f"i{i}"}, session_id=f"s{i}")
    whole = check_database(pg_url)
    assert whole.ok and whole.events == 3 and whole.schema_version is not None
    assert any("pg_amcheck" in line for line in whole.lines())

    conn = await asyncpg.connect(pg_url)  # another program writes a row no Soma would
    try:
        await conn.execute(
            "INSERT INTO events (seq, event_id, ts, type, payload)"
            " VALUES (4, 'foreign', 0, 'actor.note', '[1]')"
        )
    finally:
        await conn.close()
    broken = check_database(pg_url)
    assert not broken.ok and broken.unreadable_count == 1 and list(broken.unreadable) == [4]
    assert main(["check", "--db", pg_url]) == 1
