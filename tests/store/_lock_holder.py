"""Child process of the store recovery tests: a writer killed inside a batch.

Usage: python _lock_holder.py DB SEQ. Opens a write transaction on DB, writes one row (seq
SEQ, event_id ``uncommitted-<pid>``) and prints ``locked``; then holds the transaction — and
with it SQLite's write lock — until it is killed. Its row is never committed, so it must
never be seen, and every writer that needs the lock meanwhile waits (SQLite's busy timeout).
"""

from __future__ import annotations

import os
import sqlite3
import sys


def main(path: str, seq: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO events (seq, event_id, ts, type, payload) VALUES (?, ?, 0, 'run.accepted', '{}')",
        (seq, f"uncommitted-{os.getpid()}"),
    )
    sys.stdout.write("locked\n")
    sys.stdout.flush()
    sys.stdin.read()  # until killed (or the test closes our stdin)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
