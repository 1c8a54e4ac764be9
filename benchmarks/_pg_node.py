"""A runtime that is one node of a shared PostgreSQL log, for the failover benchmark:
``python -m benchmarks._pg_node URL LABEL``. Starts one run whose second step blocks (an
idempotent tool, quick when it runs again elsewhere), prints ``RUN <id>`` and serves until
SIGTERM or a kill."""

from __future__ import annotations

import sys

import anyio

from soma_runtime import Runtime, Step, tool

_BLOCKING = {"on": False}  # in the victim's process only


@tool(idempotent=True)
async def block_once(label: str) -> str:
    """Blocks in the victim's process (until it is killed); returns at once in any other."""
    if _BLOCKING["on"]:
        await anyio.sleep_forever()
    return label


async def main(url: str, label: str) -> None:
    _BLOCKING["on"] = label == "victim"
    async with Runtime.open(db=url, tools=[block_once], vitals=False) as rt:
        session = await rt.start_session(label)
        steps = [Step("s1", "echo", {"value": 1}), Step("s2", "block_once", {"label": label})]
        run = await session.start_run(steps)
        print("RUN", run.run_id, flush=True)
        await rt.serve_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], backend="asyncio")
