"""Child of the one-writer tests: open a runtime on DB and hold it until killed.

Usage: python _writer_child.py DB. Prints ``OPEN <pid>`` once open, or ``LOCKED <holder pid>
<seconds it took>`` if another runtime has the database (and exits 3).
"""

from __future__ import annotations

import os
import sys
import time

import anyio

from soma_runtime import Runtime
from soma_runtime.store import StoreLocked


async def main(db: str) -> int:
    started = time.monotonic()
    try:
        async with Runtime.open(db=db, vitals=False):
            print("OPEN", os.getpid(), flush=True)
            await anyio.sleep_forever()
    except StoreLocked as exc:
        print("LOCKED", exc.pid, f"{time.monotonic() - started:.3f}", flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1]))
