"""Run every benchmark part and print one table (``python -m benchmarks [part ...]``).

Every figure is a ratio against a raw baseline measured in the same process (raw asyncio
queues and tasks, anyio cancel scopes, plain sqlite3, a direct coroutine call), so a noisy
shared machine moves both sides alike.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread

from . import core, hooks, kernel, postgres, ray_tools, resume, startup, store, telemetry, vitals
from ._table import Row, print_table


async def store_rows() -> list[Row]:
    # The store benchmark drives its own event loops (one per measured configuration).
    rows: list[Row] = await anyio.to_thread.run_sync(store.main)
    return rows


PARTS: dict[str, Callable[[], Awaitable[list[Row]]]] = {
    "kernel": kernel.run,
    "store": store_rows,
    "core": core.run,
    "vitals": vitals.run,
    "telemetry": telemetry.run,
    "startup": startup.run,
    "hooks": hooks.run,
    "resume": resume.run,
    "postgres": postgres.run,
    "ray": ray_tools.run,
}


async def main(names: list[str]) -> list[Row]:
    rows: list[Row] = []
    for name in names or list(PARTS):
        if name not in PARTS:
            raise SystemExit(f"unknown benchmark part {name!r}; parts: {', '.join(PARTS)}")
        rows.extend(await PARTS[name]())
    return rows


if __name__ == "__main__":
    rows = anyio.run(main, sys.argv[1:], backend="asyncio")
    print_table(rows)
