"""One writer per database: an OS lock on a file beside it, held for as long as the writer lives.

SQLite lets any number of connections write one file, taking turns; Soma must not. Two
runtimes appending to one log race for ``seq``, and each believes the runs it finds unfinished
are its own to resume. So a writer first takes an exclusive ``flock`` on ``<db>-lock``,
without waiting: a second writer is refused at once with :class:`StoreLocked`, naming the pid
the holder wrote into the file.

The lock belongs to the open file description, and the kernel drops it when the last
descriptor to it closes — which includes its process dying by SIGKILL. A lock therefore never
outlives its holder, and there is no stale-lock detection to get wrong. The descriptor is
close-on-exec: a tool's child process holds it only between fork and exec.

Removing the file on release would race with a writer that opened it just before: that one
would lock an unlinked inode while a third creates a new file and locks that. So whoever gets
the lock checks that the path still names the inode it locked, and starts over if not; with
that check, the holder may remove the file when it lets go, and leaves nothing behind.
"""

from __future__ import annotations

import errno
import fcntl
import os

from .errors import StoreLocked, StoreOpenError

SUFFIX = "-lock"
_ATTEMPTS = 16  # a path replaced this often while we lock it is someone else's bug


def lock_path(db: str) -> str:
    return db + SUFFIX


class WriterLock:
    """The exclusive right to write the database at ``db`` (see the module docstring)."""

    __slots__ = ("_fd", "db", "path")

    def __init__(self, db: str, path: str, fd: int) -> None:
        self.db = db
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db: str) -> WriterLock:
        """Take the lock now or raise :class:`StoreLocked` (another writer has it)."""
        path = lock_path(db)
        for _ in range(_ATTEMPTS):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise StoreOpenError(db, f"cannot create its lock file {path!r}: {exc.strerror}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise StoreLocked(db, holder) from None
                raise StoreOpenError(db, f"cannot lock {path!r}: {exc.strerror}") from exc
            if _names(path, fd):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return cls(db, path, fd)
            os.close(fd)  # its holder removed the file meanwhile: lock the one there now
        raise StoreOpenError(db, f"its lock file {path!r} keeps being replaced")

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let go (idempotent). Synchronous, so a killed owner's last callback can do it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _names(self.path, fd):
                os.unlink(self.path)  # still holding it: see the module docstring
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
