"""Child of the writer-process tests: a store whose append waits on SQLite's lock.

Usage: python _blocked_appender.py DB. Opens the log at DB with a one-minute busy timeout,
prints ``WRITER <pid of its writer process>``, then appends — which waits, another process
holding SQLite's write lock — until this process is killed.
"""

from __future__ import annotations

import sys

import anyio
from _writer_helpers import writer_of

from soma_runtime.store.log import open_event_log
from soma_runtime.store.server import EventStoreConfig


async def main(db: str) -> None:
    async with open_event_log(config=EventStoreConfig(path=db, busy_timeout=60.0)) as log:
        await log.sync()  # attached: the store's process is known
        print("WRITER", writer_of(log._pid).process.pid, flush=True)  # type: ignore[arg-type]
        await log.append("session.started", {})


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
