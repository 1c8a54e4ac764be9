"""A runtime for the Ray resume test to SIGKILL: it connects to the test's Ray instance by
address, starts one run of ``gated_safe`` and one of ``gated_once`` (both block while the
gate exists), prints ``RUN label run_id`` for each, and waits to be killed.

Usage: python _ray_child.py DB ADDRESS DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

import _ray_tools as rt_tools

from soma_runtime import Runtime, Step


def gated_args(label: str, folder: Path) -> dict[str, str]:
    return {
        "label": label,
        "side": str(folder / "side"),
        "fifo": str(folder / f"{label}.fifo"),
        "gate": str(folder / "gate"),
    }


async def main(db: str, address: str, folder: Path) -> None:
    async with Runtime.open(db=db, tools=rt_tools.TOOLS, ray=address, vitals=False) as rt:
        session = await rt.start_session("agent")
        for label, tool in (("safe", "gated_safe"), ("once", "gated_once")):
            run = await session.start_run([Step("s1", tool, gated_args(label, folder))])
            print("RUN", label, run.run_id, flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], Path(sys.argv[3]))
