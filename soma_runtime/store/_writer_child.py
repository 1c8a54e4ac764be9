"""The program of a file log's writer process (``_writer_process``): one SQLite connection,
serving the requests its parent writes to its stdin, answering each on its stdout, in order.

Run as a script with ``python -S -E`` — standard library only, nothing else of Soma's — so
it starts in ~15 ms and imports nothing the parent's environment could change.

A frame is a 4-byte big-endian length and a pickle (both ends are this package: nothing
foreign is ever unpickled). A request is ``(sql, params, fetch)``; the answer is
``("ok", rows | None)`` or ``("error", class name, extended code, code name, message)`` —
what the parent needs to raise the very ``sqlite3`` error an in-process connection would.

It lives as long as its stdin: EOF (the parent closed it, or died — SIGKILL included) closes
the connection, which rolls back anything uncommitted, and the process exits. Stop signals
sent to its process group are its parent's to act on, not its own (``ignore_stop_signals``). It holds the
parent's writer lock descriptor (inherited), so the lock outlives neither of them.
"""

from __future__ import annotations

import pickle
import signal
import sqlite3
import struct
import sys
from typing import Any, BinaryIO

_HEAD = struct.Struct(">I")


def serve(path: str, busy_timeout: float, requests: BinaryIO, answers: BinaryIO) -> None:
    # Autocommit, as the in-process connection: each INSERT is its own transaction. The
    # parent sets the pragmas with its first requests (which also show it this one is up).
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        while True:
            head = requests.read(_HEAD.size)
            if len(head) < _HEAD.size:
                return  # EOF: the parent is done (or gone)
            (size,) = _HEAD.unpack(head)
            sql, params, fetch = pickle.loads(requests.read(size))
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
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            answers.write(_HEAD.pack(len(data)) + data)
            answers.flush()
    finally:
        conn.close()


def ignore_stop_signals() -> None:
    """Its parent decides when it stops, by closing its stdin. A Ctrl-C in a terminal reaches
    the whole process group, and a service manager's SIGTERM often the whole group too: the
    parent then shuts down in order — and writes its runs' last events through this very
    process, which must still be there to write them."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


if __name__ == "__main__":
    ignore_stop_signals()
    serve(sys.argv[1], float(sys.argv[2]), sys.stdin.buffer, sys.stdout.buffer)
