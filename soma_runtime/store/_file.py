"""The database file itself: who may read it, whether it is ours, whether it is whole
(docs/design.md §5c). Standard library only; the SQLite backend (``sqlite``) calls these
around its own open.

- Owner-only: a database holds every argument and output of every run. Soma creates it
  ``0600`` — SQLite gives its ``-wal`` and ``-shm`` the main file's mode — and tightens one
  it finds readable by others (when it is the owner).
- A file that is not a Soma database is refused *before* anything touches it: SQLite's
  ``immutable`` read creates no ``-wal``/``-shm``, and no journal mode changes.
- Whole: ``PRAGMA quick_check`` at open after an unclean shutdown, and whenever the file is
  small enough for it to be cheap (:data:`QUICK_CHECK_BYTES`); a damaged file raises
  :class:`StoreCorrupt` instead of being served as partial results. The shutdown is told
  by the header's ``user_version``: a writer sets it to :data:`WRITER_OPEN` when it opens
  and back to 0 when it closes in order, so a writer that died leaves it set.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from .errors import StoreCorrupt, StoreOpenError

QUICK_CHECK_BYTES: Final = 16 * 1024 * 1024
"""A database (with its WAL) up to this size is checked at every open: a few ms."""

WRITER_OPEN: Final = 1
"""``user_version`` while a writer has the file open (see the module docstring)."""

_MAX_PROBLEMS: Final = 20
_SUFFIXES: Final = ("", "-wal", "-shm")


def create_private(name: str) -> None:
    """Create the database file owner-only if it does not exist yet (SQLite would create it
    with the umask's mode, usually world-readable, and its WAL and SHM after it)."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.close(fd)


def make_private(name: str) -> None:
    """Take group and other permissions away from the database, its WAL and its SHM, where
    this process owns them (files someone else owns are theirs to decide)."""
    uid = os.geteuid()
    for suffix in _SUFFIXES:
        path = name + suffix
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue
        if info.st_uid == uid and stat.S_IMODE(info.st_mode) & 0o077:
            with contextlib.suppress(OSError):
                os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)


def refuse_foreign(name: str) -> None:
    """:class:`StoreOpenError` if ``name`` holds something other than a Soma database (or
    nothing yet), found out without changing a byte or leaving a file beside it."""
    file = Path(name)
    try:
        if file.stat().st_size == 0:
            return
    except FileNotFoundError:
        return
    uri = file.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_CORRUPT:
            # A database, read without locks (``immutable``) while a connection of this same
            # process may still be checkpointing into it: a predecessor killed a moment ago,
            # whose threads are closing. Not proof of a foreign file: the open proper, which
            # takes SQLite's locks, decides (a file really damaged is ``StoreCorrupt`` there).
            return
        raise StoreOpenError(name, f"not a Soma event store: {exc}") from exc
    if tables and "schema_version" not in tables:
        # (A fresh Soma database whose schema is still only in its WAL shows no tables
        # here; the open's own check sees it whole.)
        raise StoreOpenError(
            name, f"not a Soma event store (it has tables {sorted(tables)}); it was left untouched"
        )


def file_size(name: str) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            total += os.stat(name + suffix).st_size
    return total


def check_sql(*, full: bool) -> str:
    """SQLite's integrity check (``full``: also every index against its table) or its quick
    check (the structure of every page), reporting at most a few problems."""
    return f"PRAGMA {'integrity_check' if full else 'quick_check'}({_MAX_PROBLEMS})"


def problems(rows: Iterable[Sequence[object]]) -> list[str]:
    """The problems in the rows of :func:`check_sql`; [] for a whole file."""
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


def corrupt(name: str, found: list[str]) -> StoreCorrupt:
    return StoreCorrupt(name, found[0], tuple(found))
