"""``soma serve``: run a runtime, serving its control API, until SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal
from typing import Literal

import anyio
import click

from . import _logging
from ._common import EXIT_OK, control_option, run


@click.command(short_help="Run a runtime until SIGINT or SIGTERM.")
@click.option(
    "--db",
    default="soma.db",
    show_default=True,
    envvar="SOMA_DB",
    metavar="PATH",
    help="The event store (created if missing). Env: SOMA_DB.",
)
@control_option
@click.option(
    "--root",
    default=".",
    show_default=True,
    metavar="DIR",
    help="The directory the file tools are confined to.",
)
@click.option("--no-vitals", is_flag=True, help="Run without the vitals monitor.")
@click.option(
    "--on-shutdown",
    type=click.Choice(["cancel", "suspend"]),
    default="cancel",
    show_default=True,
    help="What a stop records for live runs: cancelled, or suspended for the next start to resume.",
)
def serve(db: str, control: str, root: str, no_vitals: bool, on_shutdown: str) -> int:
    """Run a Soma runtime until SIGINT or SIGTERM, then shut it down cleanly.

    The runtime records to --db and serves the control API on --control (a Unix socket,
    owner-only), through which `soma cancel`, the dashboard and other processes see and
    steer it. A socket left by a dead runtime is replaced; a live one is refused, and so is
    a database another runtime has open.

    At start, runs a previous runtime left unfinished (it was killed, or suspended them)
    are resumed. On SIGINT or SIGTERM every live run records its end (cancelled, reason
    shutdown; or suspended, with --on-shutdown suspend, e.g. for a deploy) and every session
    its stop, before the database closes.

    \b
    Examples:
      soma serve
      soma serve --db agents.db --control /run/user/1000/soma.sock
      soma --log-json serve --no-vitals
      soma serve --on-shutdown suspend   # a deploy: the next start resumes the live runs
    """
    return run(_serve, os.path.abspath(db), os.path.abspath(control), root, not no_vitals, on_shutdown)


async def _serve(
    db: str, control: str, root: str, vitals: bool, on_shutdown: Literal["cancel", "suspend"]
) -> int:
    from soma_runtime import Runtime

    log = _logging.get_logger("soma.cli.serve")
    # Listen for the signals before starting, so one arriving during the start still ends
    # in an orderly shutdown rather than the default handler's abrupt exit. (An embedding
    # program gets the same from ``await rt.serve_forever()``.)
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with Runtime.open(
            db=db, root=root, control=control, vitals=None if vitals else False, on_shutdown=on_shutdown
        ) as rt:
            recovered = rt.recovery
            if recovered.resumed or recovered.started or recovered.ended:
                log.info(
                    "recovered",
                    resumed=len(recovered.resumed) + len(recovered.started),
                    ended=len(recovered.ended),
                    killed_tool_processes=len(recovered.killed_os_pids),
                )
            log.info("serving", db=db, control=control, os_pid=os.getpid())
            async for signum in signals:
                log.info("stopping", signal=signal.Signals(signum).name)
                break
    log.info("stopped")
    return EXIT_OK
