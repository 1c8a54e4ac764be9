"""A corrupt database is refused, never served as partial results (issue 14, breakage 2).

Before: 512 bytes flipped in a 400-event database — ``integrity_check`` said malformed, yet
queries returned 298 of 402 events with no error and the runtime kept appending. Now the open
finds it (SQLite's quick check, run after an unclean shutdown and on any small file) and
raises ``StoreCorrupt``; ``soma check`` reports the damage in full.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from soma_runtime import Runtime, Step, open_event_log
from soma_runtime.store import StoreCorrupt, StoreOpenError, _file
from soma_runtime.store.check import check_database

pytestmark = pytest.mark.anyio


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


async def soma_check(db: Path) -> Done:
    """``soma check --db DB`` in a real subprocess."""
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "soma_actor.cli", "check", "--db", str(db)], check=False
        )
    return Done(done.returncode, done.stdout.decode(), done.stderr.decode())


async def _fill(db: Path, runs: int) -> int:
    async with Runtime.open(db, vitals=False) as rt:
        session = await rt.start_session("a")
        for i in range(runs):
            await (await session.start_run([Step("s1", "echo", {"value": f"value {i} " * 20})])).result()
        return await rt.events.last_seq()


def _flip(db: Path, offset: int, size: int = 512) -> None:
    with open(db, "r+b") as fh:
        fh.seek(offset)
        data = fh.read(size)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in data))


def _page_size(db: Path) -> int:
    with open(db, "rb") as fh:
        header = fh.read(100)
    size = int.from_bytes(header[16:18], "big")
    return 65536 if size == 1 else size


async def test_a_damaged_database_is_refused_at_open_and_reported_by_soma_check(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    last = await _fill(db, 60)
    assert last > 400
    assert not (tmp_path / "soma.db-wal").exists(), "closed in order: everything is in the file"
    # 512 bytes flipped at the start of a page in the middle of the file: a b-tree page header.
    page = _page_size(db)
    pages = db.stat().st_size // page
    _flip(db, (pages // 2) * page)
    with pytest.raises(StoreCorrupt) as refused:
        async with Runtime.open(db, vitals=False):
            pytest.fail("a corrupt database was served")
    assert isinstance(refused.value, StoreOpenError)
    assert "soma check" in str(refused.value) and refused.value.problems
    with pytest.raises(StoreCorrupt):  # readers too: no partial results
        async with open_event_log(db, readonly=True):
            pass
    report = check_database(db)
    assert not report.ok and report.integrity
    done = await soma_check(db)
    assert done.returncode == 1, done.stderr
    assert "CORRUPT" in done.stderr and "restore the database from a backup" in done.stderr


async def test_soma_check_passes_a_whole_database_and_lists_unreadable_events_by_seq(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    last = await _fill(db, 3)
    done = await soma_check(db)
    assert done.returncode == 0, done.stderr
    # (the session.stopped written at close is the one after the last seq read inside)
    assert f"{last + 1} events" in done.stdout and "integrity: ok" in done.stdout
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE events SET payload = '[1, 2' WHERE seq = 2")
    conn.close()
    report = check_database(db)
    assert not report.ok and not report.integrity
    assert list(report.unreadable) == [2] and "not JSON" in report.unreadable[2]


def _user_version(db: Path) -> int:
    with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.close()
    return version


async def test_a_large_file_is_checked_at_open_only_after_an_unclean_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "soma.db"
    async with Runtime.open(db, vitals=False) as rt:
        await rt.events.append("session.started", {})
        assert _user_version(db) == 1, "a writer marks the file open with its first write"
    assert _user_version(db) == 0, "closed in order"
    await _fill(db, 60)
    page = _page_size(db)
    _flip(db, (db.stat().st_size // page // 2) * page)
    monkeypatch.setattr(_file, "QUICK_CHECK_BYTES", 0)  # every file is "large" now
    # Closed in order, a large file is not checked at open (reads would find the damage).
    async with Runtime.open(db, vitals=False, resume=False):
        pass
    # Its writer died (it never cleared the mark): the open checks, whatever the size.
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(StoreCorrupt):
        async with Runtime.open(db, vitals=False):
            pytest.fail("a corrupt database was served after an unclean shutdown")
