"""Files Soma creates are owner-only; another app's database is refused untouched (issue 14,
breakages 7 and 8; docs/design.md §5c).

Before: the database, its ``-wal`` and ``-shm`` were ``-rw-r--r--`` (another local user read all
4,967 events while the control socket refused them), and another app's SQLite database was
refused but left switched to WAL, with ``-wal``/``-shm`` beside it.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path

import anyio
import pytest

from soma_runtime import Runtime, Step
from soma_runtime.store import StoreOpenError

pytestmark = pytest.mark.anyio


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_its_wal_shm_and_exports_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: without care, files come out world-readable
    try:
        db = tmp_path / "soma.db"
        async with Runtime.open(db, vitals=False) as rt:
            session = await rt.start_session("a")
            await (await session.start_run([Step("s1", "echo", {"value": "private"})])).result()
            for name in ("soma.db", "soma.db-wal", "soma.db-shm"):
                assert mode(tmp_path / name) == 0o600, name
            await rt.events.export_jsonl(tmp_path / "export.jsonl")
            assert mode(tmp_path / "export.jsonl") == 0o600
        with anyio.fail_after(60):
            done = await anyio.run_process(
                [
                    sys.executable,
                    "-m",
                    "soma_actor.cli",
                    "export",
                    "--db",
                    str(db),
                    "-o",
                    str(tmp_path / "cli.jsonl"),
                ]
            )
        assert done.returncode == 0
        assert mode(tmp_path / "cli.jsonl") == 0o600
    finally:
        os.umask(old)


async def test_a_world_readable_database_of_ours_is_tightened_at_open(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with Runtime.open(db, vitals=False):
        pass
    db.chmod(0o644)  # made by an older Soma
    async with Runtime.open(db, vitals=False):
        assert mode(db) == 0o600


async def test_another_apps_database_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreOpenError, match="not a Soma event store"):
        async with Runtime.open(db, vitals=False):
            pass
    assert db.read_bytes() == before, "the file changed"
    assert sorted(os.listdir(tmp_path)) == ["app.db"], "files were left beside it"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


async def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("these are my notes, not a database\n" * 100)
    before = db.read_bytes()
    with pytest.raises(StoreOpenError):
        async with Runtime.open(db, vitals=False):
            pass
    assert db.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
