"""Child process of the durability test: append forever, printing each acknowledged event.

Usage: python _append_child.py DB PRODUCERS. Prints "<seq> <event_id>" once per acknowledged
append (several producers, so acknowledgements come from real group commits), until killed.
"""

from __future__ import annotations

import sys

import anyio

from soma_runtime.store.log import open_event_log


async def main(path: str, producers: int) -> None:
    async with open_event_log(path) as log:

        async def produce(k: int) -> None:
            n = 0
            while True:
                event = await log.append("run.accepted", {"producer": k, "n": n}, run_id=f"r{k}")
                sys.stdout.write(f"{event.seq} {event.event_id}\n")
                sys.stdout.flush()
                n += 1

        async with anyio.create_task_group() as tg:
            for k in range(producers):
                tg.start_soon(produce, k)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
