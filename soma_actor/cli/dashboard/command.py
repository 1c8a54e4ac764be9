"""The ``soma dashboard`` verb (click), over :func:`run_dashboard`.

Textual is imported when the dashboard runs, not when ``soma --help`` lists this verb.
"""

from __future__ import annotations

import click

from .._common import DEFAULT_DB


@click.command(short_help="A live TUI: agents, pressure, runs, the tree, events, guidance.")
@click.option(
    "--db",
    default=None,
    envvar="SOMA_DB",
    metavar="PATH",
    help="The event store to watch (read-only). Env: SOMA_DB. [default: the one the runtime on "
    "--control writes, else soma.db]",
)
@click.option(
    "--control",
    default=None,
    envvar="SOMA_CONTROL",
    metavar="PATH",
    help="A live runtime's control socket: adds the tree and lets `c` cancel runs. Env: SOMA_CONTROL.",
)
def dashboard(db: str, control: str | None) -> int:
    """Watch a runtime live in the terminal. With a database alone it is read-only; with the
    runtime's control socket it also shows the supervision tree and cancels runs, and finds
    the database the runtime writes by itself.

    Keys: enter details of the selected row (a run, an agent, a guidance firing), t trace of
    the selected run, c cancel it (asks first), / filter, v vitals in the tail, 1-3 tabs,
    ? help (what every column means), q quit.

    \b
    Examples:
      soma dashboard
      soma dashboard --db agents.db
      soma serve --config soma.toml &  soma dashboard --control soma.sock
    """
    from . import run_dashboard

    if db is None and control is None:
        db = DEFAULT_DB
    return run_dashboard(db, control)
