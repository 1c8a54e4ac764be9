"""One writer per database: :class:`WriterLock`, the runtime's hold on ``<db>-lock`` for as
long as it lives (the protocol, shared with hooks that write without a runtime: ``_flock``).

A second runtime is refused with :class:`StoreLocked`, naming the pid of the holder — after a
short wait, not at once: a Claude Code hook writing straight into the file holds the same lock
for a few milliseconds, and a runtime starting in that moment must not take that for another
runtime. A runtime holds it for good, so the wait ends refused.
"""

from __future__ import annotations

from typing import Final

from ._flock import lock_path, release, wait_lock
from .errors import StoreLocked, StoreOpenError

WAIT: Final = 0.25
"""Seconds a writer waits for the lock: many times a hook's hold, and still prompt."""


class WriterLock:
    """The exclusive right to write the database at ``db`` (see the module docstring)."""

    __slots__ = ("_fd", "db", "path")

    def __init__(self, db: str, path: str, fd: int) -> None:
        self.db = db
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db: str, *, wait: float = WAIT) -> WriterLock:
        """Take the lock within ``wait`` seconds or raise :class:`StoreLocked` (another
        writer has it). Blocks the calling thread for at most that long."""
        path = lock_path(db)
        try:
            got = wait_lock(path, wait)
        except OSError as exc:
            raise StoreOpenError(db, f"cannot lock {path!r}: {exc.strerror or exc}") from exc
        if isinstance(got, int):
            return cls(db, path, got)
        raise StoreLocked(db, got.holder)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int:
        """The lock's descriptor (for a child process that must hold it too)."""
        if self._fd is None:
            raise ValueError(f"the writer lock on {self.db!r} was released")
        return self._fd

    def release(self, *, remove: bool = True) -> None:
        """Let go (idempotent). Synchronous, so a killed owner's last callback can do it.
        ``remove=False``: leave the file, a child still holding the lock (``_flock.release``)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            release(self.path, fd, remove=remove)
