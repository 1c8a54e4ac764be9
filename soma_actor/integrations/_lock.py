"""The one-writer lock of a Soma database, taken for the length of one direct write.

A database has one writer at a time (docs/design.md §5c): a runtime holds an exclusive
``flock`` on ``<db>-lock`` for as long as it lives. A hook or a wrapped client that writes
without a runtime takes the *same* lock by the same protocol (``soma_runtime.store._flock``),
so it never writes beside a runtime, and never beside another hook. It holds the lock for
milliseconds, and waits for it a bounded time: long enough to queue behind other hooks (each
holds it for one transaction), short enough that a hook answers within Claude Code's limits
when a runtime holds it for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from soma_runtime.store._flock import lock_path, release, wait_lock


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
        path, began = lock_path(db), time.monotonic()
        got = wait_lock(path, wait, give_way)
        if isinstance(got, int):
            return cls(path, got)
        raise LockBusy(path, got.holder, time.monotonic() - began)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            release(self.path, fd)

    def __enter__(self) -> WriteLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
