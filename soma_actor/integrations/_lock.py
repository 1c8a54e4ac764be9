"""The one-writer lock of a Soma database, taken for the length of one direct write.

A database has one writer at a time (docs/design.md §5c): a runtime holds an exclusive
``flock`` on ``<db>-lock`` for as long as it lives, and refuses to open a file whose lock is
taken. A hook or a wrapped client that writes without a runtime takes the *same* lock, by the
same protocol — open (creating it owner-only), ``flock``, check the path still names the file
locked (its holder may have removed it meanwhile), write our pid, and remove the file when
letting go, still holding it — so it never writes beside a runtime, and never beside another
hook. It holds the lock for milliseconds, and waits for it a bounded time: long enough to
queue behind other hooks (each holds it for one transaction), short enough that a hook
answers within Claude Code's limits when a runtime holds it for good.

The kernel drops a ``flock`` when its holder dies, SIGKILL included: a lock never outlives
its holder.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from typing import Final

SUFFIX: Final = "-lock"
_REPLACED_ATTEMPTS: Final = 16


class LockBusy(Exception):
    """Another writer held the lock for the whole wait; ``holder`` is the pid it wrote."""

    def __init__(self, path: str, holder: int | None, waited: float) -> None:
        who = f"pid {holder}" if holder is not None else "another process"
        super().__init__(f"{path}: held by {who} for the {waited:.1f} s we waited")
        self.path = path
        self.holder = holder


class WriteLock:
    """The database's writer lock, held (use as a context manager or :meth:`release`)."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db: str, *, wait: float, give_way: Callable[[], bool] | None = None) -> WriteLock:
        """Take the lock of ``db``, waiting at most ``wait`` seconds. ``give_way`` is asked
        between attempts; True stops waiting (:class:`LockBusy`) — a runtime answering on
        its control socket is a better way to write than waiting for its lock."""
        path = db + SUFFIX
        deadline = time.monotonic() + wait
        pause = 0.0005
        holder: int | None = None
        while True:
            lock = cls._try(path)
            if isinstance(lock, WriteLock):
                return lock
            holder = lock
            now = time.monotonic()
            if now >= deadline or (give_way is not None and give_way()):
                raise LockBusy(path, holder, wait - max(0.0, deadline - now))
            # Hooks hold it for a few milliseconds: poll fast at first, then back off.
            time.sleep(min(pause, max(0.0, deadline - now)))
            pause = min(pause * 2, 0.02)

    @classmethod
    def _try(cls, path: str) -> WriteLock | int | None:
        """The lock, or the pid of its holder (None: unknown) when it is taken."""
        for _ in range(_REPLACED_ATTEMPTS):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return holder
                raise
            if _names(path, fd):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return cls(path, fd)
            os.close(fd)  # its holder removed the file meanwhile: lock the one there now
        raise OSError(f"{path}: the lock file keeps being replaced")

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _names(self.path, fd):
                os.unlink(self.path)  # still holding it, so no one locks a file we remove
        finally:
            os.close(fd)

    def __enter__(self) -> WriteLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _names(path: str, fd: int) -> bool:
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
