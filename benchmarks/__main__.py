"""Run every benchmark part and print one table (``python -m benchmarks [part ...]``)."""

from __future__ import annotations

import sys

import anyio

from . import core, kernel
from ._table import Row, print_table

PARTS = {"kernel": kernel.run, "core": core.run}


async def main(names: list[str]) -> list[Row]:
    rows: list[Row] = []
    for name in names or list(PARTS):
        rows.extend(await PARTS[name]())
    return rows


if __name__ == "__main__":
    rows = anyio.run(main, sys.argv[1:], backend="asyncio")
    print_table(rows)
