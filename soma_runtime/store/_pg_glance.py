"""A glance (``glance``) at a PostgreSQL database: the same synchronous, read-only reader as a
SQLite file gets, for the verbs that use one (``soma status``, ``trace``, ``export``…).

asyncpg is asynchronous only, and a glance may be taken from inside a running event loop
(``soma export`` does); so the connection lives on an event loop of its own, in a thread of
its own, and each read waits for its answer there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg

from .errors import StoreOpenError, StoreReadError
from .glance import _SELECT, Glance
from .postgres import numbered, redacted_url

T = TypeVar("T")


class _LoopThread:
    """An asyncio event loop running in a daemon thread; :meth:`run` waits for a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="soma-pg-glance", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class PgGlance(Glance):
    """A :class:`Glance` whose rows come from a PostgreSQL database."""

    def __init__(self, path: str, loop: _LoopThread, conn: asyncpg.Connection) -> None:
        self.path = path
        self._loop = loop
        self._pg = conn
        self._select = _SELECT  # a writer migrates a PostgreSQL log before anything reads it

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return [tuple(r) for r in self._loop.run(self._pg.fetch(numbered(sql), *params))]
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreReadError(self.path, str(exc).splitlines()[0]) from exc


@contextmanager
def pg_glance(url: str) -> Iterator[Glance]:
    """Open the database at ``url`` read-only."""
    name = redacted_url(url)
    loop = _LoopThread()
    try:
        try:
            conn = loop.run(asyncpg.connect(url, server_settings={"default_transaction_read_only": "on"}))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreOpenError(name, str(exc).splitlines()[0]) from exc
        try:
            tables = {
                r[0]
                for r in loop.run(
                    conn.fetch(
                        "SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = current_schema()"
                    )
                )
            }
            if not tables:
                raise StoreOpenError(name, "it is empty: no Soma runtime has written to it")
            if not {"events", "schema_version"} <= tables:
                raise StoreOpenError(name, f"not a Soma event store (it has tables {sorted(tables)})")
            yield PgGlance(name, loop, conn)
        finally:
            loop.run(conn.close())
    finally:
        loop.close()
