"""What the verbs share: exit codes, the ``--db`` / ``--control`` options, opening a database
read-only, running a coroutine, and turning errors into one clear line.

Only click is imported at module level: a verb imports what it uses when it runs, so each
pays for its own dependencies and ``soma statusline`` pays for almost none.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

if TYPE_CHECKING:
    from soma_runtime import EventLog
    from soma_runtime.store.glance import Glance

T = TypeVar("T")

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2  # click's own, for bad options and arguments
EXIT_DIVERGED: Final = 3  # soma replay: the replayed trajectory differs from the record

DEFAULT_DB: Final = "soma.db"
DEFAULT_CONTROL: Final = "soma.sock"

db_option = click.option(
    "--db",
    "db",
    default=DEFAULT_DB,
    show_default=True,
    envvar="SOMA_DB",
    metavar="PATH|URL",
    help="The event store: a SQLite file, or a postgresql:// URL. Env: SOMA_DB.",
)
control_option = click.option(
    "--control",
    "control",
    default=DEFAULT_CONTROL,
    show_default=True,
    envvar="SOMA_CONTROL",
    metavar="PATH",
    help="The runtime's control socket. Env: SOMA_CONTROL.",
)


class CliError(Exception):
    """An error the command reports as one line on stderr, exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run(main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``main(*args)`` on anyio's asyncio backend (what Soma runs on)."""
    import anyio

    return anyio.run(partial(main, *args), backend="asyncio")


def _check_db(path: str) -> None:
    from soma_runtime.store._backend import is_postgres

    if is_postgres(path):
        return  # a server's database: opening it says what is wrong
    if not os.path.isfile(path):
        raise CliError(f"no database at {path} (give one with --db PATH or SOMA_DB)")


@asynccontextmanager
async def open_db(path: str) -> AsyncIterator[EventLog]:
    """The event log at ``path``, read-only (safe beside a runtime writing to it)."""
    from soma_runtime import open_event_log

    _check_db(path)
    async with open_event_log(path, readonly=True) as log:
        yield log


@contextmanager
def glance_db(path: str) -> Iterator[Glance]:
    """A quick read-only look at the database at ``path`` (no asyncio, no pydantic): for
    verbs that read a few rows and must start fast."""
    from soma_runtime.store._backend import is_postgres

    _check_db(path)
    if is_postgres(path):
        from soma_runtime.store._pg_glance import pg_glance

        with pg_glance(path) as db:
            yield db
        return
    from soma_runtime.store.glance import glance

    with glance(path) as db:
        yield db


def plural(count: int, noun: str) -> str:
    """``1 agent``, ``2 agents``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def one_line(exc: BaseException) -> str | None:
    """The message of an error the user can act on (bad input, missing things), or None for
    a bug. Follows start failures (``StartError.reason``) and causes to the error itself."""
    from soma_runtime.control.errors import ControlClientError, ControlSocketError
    from soma_runtime.store.errors import EventError
    from soma_runtime.telemetry.errors import TelemetryConfigError, TelemetryUnavailable

    telemetry = TelemetryUnavailable | TelemetryConfigError  # the extra missing, or an OTEL_* setting
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BaseExceptionGroup) and len(seen.exceptions) == 1:
            seen = seen.exceptions[0]  # one failure out of a task group: it is the error
            continue
        if isinstance(seen, CliError | EventError | ControlClientError | ControlSocketError | telemetry):
            return str(seen)
        if isinstance(seen, OSError) and seen.filename is not None:
            return f"{seen.strerror or seen}: {os.fsdecode(seen.filename)}"
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else seen.__cause__
    return None
