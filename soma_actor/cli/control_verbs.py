"""Verbs that steer a live runtime through its control socket: ``soma cancel``."""

from __future__ import annotations

import click

from ._common import EXIT_OK, CliError, control_option, run


@click.command(short_help="Cancel a run in a live runtime.")
@click.argument("run_id")
@control_option
def cancel(run_id: str, control: str) -> int:
    """Cancel the run RUN_ID in the runtime listening on --control.

    Returns once the run is terminal: its active tool is stopped (its OS process killed, if
    it has one), `run.cancelled` is recorded, and its session keeps serving. A run that had
    already finished is left as it was and reported.

    \b
    Examples:
      soma cancel run-3f2a…
      soma cancel run-3f2a… --control /run/user/1000/soma.sock
    """
    return run(_cancel, run_id, control)


async def _cancel(run_id: str, control: str) -> int:
    from soma_runtime.control import ControlClient, ControlError

    async with ControlClient.connect(control) as client:
        try:
            result = await client.cancel_run(run_id)
        except ControlError as exc:
            if exc.code == "not_found":
                raise CliError(f"{exc.message} (runtime on {control})") from None
            raise
    state = result["state"]
    if state == "cancelled":
        click.echo(f"{run_id} cancelled")
    else:
        detail = f": {result['error']}" if result["error"] else ""
        click.echo(f"{run_id} had already finished: {state}{detail}")
    return EXIT_OK
