"""Hook events that waited: ``<db>-spool.jsonl``, one JSON entry per line.

A hook that can neither reach a runtime nor take the database's writer lock in time (a
runtime without a control socket holds it) leaves its event here rather than lose it, and
answers nothing. The next one that records — a hook that gets the lock, or a runtime serving
hooks — takes the spool (:func:`taken`), records every entry in order before its own event,
and empties it. Each entry has an id, recorded with it (``hook.spooled``), so an entry whose
recording was committed by a process that died before emptying the spool is not recorded
twice. Appends and takes hold an ``flock`` on the file: entries are whole lines.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def spool_path(db: str) -> str:
    return db + "-spool.jsonl"


def keep(db: str, entry: dict[str, Any], why: str) -> None:
    """Append ``entry`` (``{"input": hook JSON}`` or ``{"error": payload}``) and why it waits."""
    line = json.dumps({"id": os.urandom(8).hex(), "at": time.time(), "why": why, **entry}, ensure_ascii=False)
    fd = os.open(spool_path(db), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@contextmanager
def taken(db: str) -> Iterator[list[dict[str, Any]]]:
    """The entries waiting, in order; emptied when the block ends without an error."""
    fd = lock(db)
    if fd is None:
        yield []
        return
    try:
        yield read(fd)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def lock(db: str) -> int | None:
    """The spool, open and locked (None: there is none). Blocks while a hook appends."""
    try:
        fd = os.open(spool_path(db), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read(fd: int) -> list[dict[str, Any]]:
    """The entries of the locked spool ``fd``, in order (a torn line — from a hook killed
    while writing it — skipped)."""
    data = b""
    while chunk := os.pread(fd, 1 << 20, len(data)):
        data += chunk
    entries = []
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            entries.append(entry)
    return entries


def note(entry: dict[str, Any]) -> dict[str, Any]:
    """The ``hook.spooled`` payload that records ``entry`` as taken."""
    return {"entry": entry["id"], "spooled_at": entry.get("at"), "why": entry.get("why")}
