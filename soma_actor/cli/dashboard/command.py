"""The ``soma dashboard`` verb (click), over :func:`run_dashboard`.

Textual is imported when the dashboard runs, not when ``soma --help`` lists this verb.
"""

from __future__ import annotations

import click


@click.command(short_help="A live TUI: agents, pressure, runs, the tree, events, guidance.")
@click.option(
    "--db",
    default="soma.db",
    show_default=True,
    envvar="SOMA_DB",
    metavar="PATH",
    help="The event store to watch (read-only). Env: SOMA_DB.",
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
    runtime's control socket it also shows the supervision tree and cancels runs.

    Keys: / filter, t or enter trace of the selected run, c cancel it, v vitals in the tail,
    1-3 tabs, q quit.

    \b
    Examples:
      soma dashboard --db soma.db
      soma serve --db soma.db --control soma.sock &  soma dashboard --control soma.sock
    """
    from . import run_dashboard

    return run_dashboard(db, control)
