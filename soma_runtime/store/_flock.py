"""The protocol of a database's writer lock, shared by everything that writes one: a runtime
(``_lock.WriterLock``, held for as long as it lives) and a Claude Code hook or a wrapped
client writing without a runtime (``soma_actor.integrations._lock``, held for one transaction).

SQLite lets any number of connections write one file, taking turns; Soma must not. Two
writers appending to one log race for ``seq``, and each believes the runs it finds unfinished
are its own to resume. So a writer first takes an exclusive ``flock`` on ``<db>-lock`` and
writes its pid into the file, for whoever is refused to name.

The lock belongs to the open file description, and the kernel drops it when the last
descriptor to it closes — which includes its process dying by SIGKILL. A lock therefore never
outlives its holder, and there is no stale-lock detection to get wrong. The descriptor is
close-on-exec: a tool's child process holds it only between fork and exec.

Removing the file on release would race with a writer that opened it just before: that one
would lock an unlinked inode while a third creates a new file and locks that. So whoever gets
the lock checks that the path still names the inode it locked, and starts over if not; with
that check, the holder may remove the file when it lets go, and leaves nothing behind.

Standard library only, and nothing else of Soma's: a hook imports it on every tool call.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

SUFFIX: Final = "-lock"
_REPLACED_ATTEMPTS: Final = 16  # a path replaced this often while we lock it is someone else's bug
_FIRST_PAUSE: Final = 0.0005
_LONGEST_PAUSE: Final = 0.02


def lock_path(db: str) -> str:
    return db + SUFFIX


@dataclass(frozen=True)
class Taken:
    """The lock is held by someone else: ``holder`` is the pid it wrote (None: unknown)."""

    holder: int | None


def try_lock(path: str) -> int | Taken:
    """Lock the file at ``path`` without waiting: its descriptor, or :class:`Taken`.
    ``OSError`` for anything else (a directory we cannot create in, a file system without
    ``flock``)."""
    for _ in range(_REPLACED_ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return Taken(holder)
            raise
        if _names(path, fd):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)  # its holder removed the file meanwhile: lock the one there now
    raise OSError(errno.EAGAIN, f"the lock file {path!r} keeps being replaced")


def wait_lock(path: str, wait: float, give_way: Callable[[], bool] | None = None) -> int | Taken:
    """:func:`try_lock` until it succeeds or ``wait`` seconds pass (or ``give_way()`` says to
    stop asking): the descriptor, or who held it last. Blocks the calling thread.

    A hook holds the lock for a few milliseconds and a runtime for good, so the polls start
    fast and back off: a queue of hooks drains quickly, a runtime is recognised within
    ``wait``."""
    deadline = time.monotonic() + wait
    pause = _FIRST_PAUSE
    while True:
        got = try_lock(path)
        if isinstance(got, int):
            return got
        left = deadline - time.monotonic()
        if left <= 0 or (give_way is not None and give_way()):
            return got
        time.sleep(min(pause, left))
        pause = min(pause * 2, _LONGEST_PAUSE)


def release(path: str, fd: int, *, remove: bool = True) -> None:
    """Let go of the lock held as ``fd``, removing its file while still holding it — unless
    ``remove`` is false: a child that inherited ``fd`` (a runtime's writer process, killed,
    not yet gone) still holds the lock on this file, and a new file would let a successor
    lock that instead while the child lives."""
    try:
        if remove and _names(path, fd):
            os.unlink(path)  # still holding it: see the module docstring
    finally:
        os.close(fd)


def _names(path: str, fd: int) -> bool:
    """Whether ``path`` is the file open as ``fd``."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
