"""Child of the serve_forever test: an embedding program that runs until a signal.

Usage: python _serve_child.py DB. Starts a run that sleeps, prints ``SERVING``, and serves
with ``await rt.serve_forever()``; prints ``SIGNAL <n>`` once it returns.
"""

from __future__ import annotations

import sys

import anyio

from soma_runtime import Runtime, Step


async def main(db: str) -> None:
    async with Runtime.open(db=db, vitals=False) as rt:
        session = await rt.start_session("a")
        await session.start_run([Step("s1", "sleep", {"seconds": 60})])
        print("SERVING", flush=True)
        signum = await rt.serve_forever()
        print("SIGNAL", signum, flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
