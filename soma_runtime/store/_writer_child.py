"""The program of a file log's writer process (``_writer_process``): one SQLite connection,
serving the requests its parent writes to its stdin, answering each on its stdout, in order.

Run as a script with ``python -S -E`` — standard library only, nothing else of Soma's — so
it starts in ~15 ms (a bare ``python -S``: ~10) and imports nothing the parent's environment
could change.

A frame is a 4-byte big-endian length and a ``marshal`` dump (both ends are this package
on the same interpreter: nothing foreign is ever loaded; and ``pickle`` would cost this
program more to import than all the rest of its start). A request is ``(sql, params,
fetch)``; the answer is ``("ok", rows | None)`` or ``("error", class name, extended code,
code name, message)`` — what the parent needs to raise the very ``sqlite3`` error an
in-process connection would.

It lives as long as its stdin — EOF (the parent closed it) closes the connection, which
rolls back anything uncommitted, and the process exits — and no longer than its parent: a
parent killed outright takes it along (``die_with_parent``). Stop signals
sent to its process group are its parent's to act on, not its own (``ignore_stop_signals``).
It holds the
parent's writer lock descriptor (inherited), so the lock outlives neither of them.
"""

from __future__ import annotations

# Not ``signal``, which imports ``enum`` (a third of this program's start; no stubs); not
# the ``sqlite3`` package, which imports ``datetime`` and more for adapters this connection
# never uses (3 ms): the C modules under them. Its errors are ``sqlite3``'s very classes.
import _signal  # type: ignore[import-not-found]
import _sqlite3 as sqlite3
import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs milliseconds at start; only the checker needs it
    from typing import Any, BinaryIO

HEAD = 4
"""Bytes of a frame's length, big-endian."""
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9


def serve(path: str, busy_timeout: float, requests: BinaryIO, answers: BinaryIO) -> None:
    # Autocommit, as the in-process connection: each INSERT is its own transaction. The
    # parent sets the pragmas with its first requests (which also show it this one is up).
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        while True:
            head = requests.read(HEAD)
            if len(head) < HEAD:
                return  # EOF: the parent is done (or gone)
            sql, params, fetch = marshal.loads(requests.read(int.from_bytes(head, "big")))
            answer: tuple[Any, ...]
            try:
                rows = conn.execute(sql, params).fetchall()
                answer = ("ok", rows if fetch else None)
            except sqlite3.Error as exc:
                answer = (
                    "error",
                    type(exc).__name__,
                    getattr(exc, "sqlite_errorcode", 0),
                    getattr(exc, "sqlite_errorname", ""),
                    str(exc),
                )
            data = marshal.dumps(answer)
            answers.write(len(data).to_bytes(HEAD, "big") + data)
            answers.flush()
    finally:
        conn.close()


def ignore_stop_signals() -> None:
    """Its parent decides when it stops, by closing its stdin. A Ctrl-C in a terminal reaches
    the whole process group, and a service manager's SIGTERM often the whole group too: the
    parent then shuts down in order — and writes its runs' last events through this very
    process, which must still be there to write them."""
    for sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, _signal.SIG_IGN)


def die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux's ``PR_SET_PDEATHSIG``), so
    a runtime killed outright does not leave this process writing on — holding the writer
    lock, a second writer in all but name — until it reads EOF. (Asked here rather than
    between fork and exec, which would make the parent fork the slow way: ~5 ms of its loop
    per open against ~3 ms of this start, which overlaps the opener's.) A parent gone before
    the ask is seen at once."""
    if sys.platform.startswith("linux"):
        import ctypes  # here: only Linux pays its import

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, _SIGKILL)
    if os.getppid() != parent:
        os._exit(128 + _SIGKILL)


if __name__ == "__main__":
    die_with_parent(int(sys.argv[3]))
    ignore_stop_signals()
    serve(sys.argv[1], float(sys.argv[2]), sys.stdin.buffer, sys.stdout.buffer)
    # Its connection is closed (committed work is in the file): nothing is left for the
    # interpreter's finalization to do but take a few milliseconds of its parent's close.
    sys.stdout.flush()
    os._exit(0)
