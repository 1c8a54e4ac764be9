"""A runtime that is one node of a shared PostgreSQL log, for the failover test.

Usage: python _node_child.py URL SIDE LABEL SECONDS

Starts two runs of three steps (s1 quick, s2 slow for SECONDS the first time — one with an
idempotent tool, one not — s3 quick), prints ``RUN <label> <run id>`` for each and ``READY``,
then serves until SIGTERM (an orderly stop) — or until it is killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

import _crash_tools as ct

from soma_runtime import Runtime, Step


def plan(label: str, tool: str, side: str, seconds: float) -> list[Step]:
    return [
        Step("s1", "quick", ct.args(label, "s1", side)),
        Step("s2", tool, ct.args(label, "s2", side, seconds)),
        Step("s3", "quick", ct.args(label, "s3", side)),
    ]


async def main(url: str, side: str, label: str, seconds: float) -> None:
    async with Runtime.open(db=url, tools=ct.TOOLS, vitals=False) as rt:
        session = await rt.start_session(label)
        for kind in ("safe", "once"):
            run = await session.start_run(plan(f"{label}-{kind}", f"task_{kind}", side, seconds))
            print("RUN", f"{label}-{kind}", run.run_id, flush=True)
        print("READY", flush=True)
        await rt.serve_forever()


if __name__ == "__main__":
    url, side, label, seconds = sys.argv[1:5]
    anyio.run(main, url, side, label, float(seconds), backend="asyncio")
