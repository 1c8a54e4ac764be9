"""Child process of the read-only database test: run as a user who may read DB but not write
it (the test drops root's privileges for it), and check what each kind of open does.

Usage: python _readonly_child.py DB. Prints ``ok`` when every check held; fails otherwise.
"""

from __future__ import annotations

import os
import sys

import anyio

from soma_runtime.store.errors import StoreOpenError, StoreReadOnly
from soma_runtime.store.log import open_event_log


async def main(db: str) -> None:
    assert not os.access(db, os.W_OK), "the database is writable: the fault was not made"
    try:
        async with open_event_log(db):
            raise AssertionError("a read-write open of an unwritable file succeeded")
    except StoreOpenError as exc:
        expected = (db, "the file is not writable (open it read-only to read it)")
        assert (exc.path, exc.problem) == expected, exc
    async with open_event_log(db, readonly=True) as log:
        assert [e.session_id for e in await log.query()] == ["s"]
        try:
            await log.append("session.stopped", {})
            raise AssertionError("an append to a read-only log succeeded")
        except StoreReadOnly:
            pass
        assert (await log.stats()).readonly
    print("ok")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
