"""``soma serve``: run a runtime, serving its control API, until SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal

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
    "--otel",
    is_flag=True,
    help="Export the log to OpenTelemetry as it is written: spans and the soma.pressure gauges, "
    "over OTLP configured by the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT…). "
    "Needs soma[telemetry].",
)
def serve(db: str, control: str, root: str, no_vitals: bool, otel: bool) -> int:
    """Run a Soma runtime until SIGINT or SIGTERM, then shut it down cleanly.

    The runtime records to --db and serves the control API on --control (a Unix socket,
    owner-only), through which `soma cancel`, the dashboard and other processes see and
    steer it. A socket left by a dead runtime is replaced; a live one is refused.

    \b
    Examples:
      soma serve
      soma serve --db agents.db --control /run/user/1000/soma.sock
      soma --log-json serve --no-vitals
      OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 soma serve --otel
    """
    return run(_serve, os.path.abspath(db), os.path.abspath(control), root, not no_vitals, otel)


async def _serve(db: str, control: str, root: str, vitals: bool, otel: bool = False) -> int:
    from soma_runtime import Runtime

    log = _logging.get_logger("soma.cli.serve")
    # Listen for the signals before starting, so one arriving during the start still ends
    # in an orderly shutdown rather than the default handler's abrupt exit.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        telemetry = True if otel else None
        async with Runtime.open(
            db=db, root=root, control=control, vitals=None if vitals else False, telemetry=telemetry
        ) as rt:
            log.info("serving", db=db, control=control, os_pid=os.getpid(), otel=otel)
            async for signum in signals:
                log.info("stopping", signal=signal.Signals(signum).name)
                break
    if rt.telemetry is not None:
        log.info("telemetry", **rt.telemetry.stats().to_json())  # what was sent, and lost
    log.info("stopped")
    return EXIT_OK
