"""Verbs that steer a live runtime through its control socket: ``soma cancel``."""

from __future__ import annotations

import click

from ._common import EXIT_OK, CliError, control_option, run


@click.command(short_help="Cancel a run or an agent's task in a live runtime.")
@click.argument("work_id", metavar="RUN_ID|TASK_ID")
@control_option
def cancel(work_id: str, control: str) -> int:
    """Cancel the run RUN_ID (or the agent task TASK_ID) in the runtime listening on --control.

    Returns once it is terminal: a run's active tool is stopped (its OS process killed, if it
    has one), `run.cancelled` is recorded, and its session keeps serving; a task's model call,
    run or delegation is stopped and the agent takes its next message. Work that had already
    finished is left as it was and reported.

    \b
    Examples:
      soma cancel run-3f2a…
      soma cancel task-8c1e…
      soma cancel run-3f2a… --control /run/user/1000/soma.sock
    """
    return run(_cancel, work_id, control)


async def _cancel(work_id: str, control: str) -> int:
    from soma_runtime.control import ControlClient, ControlError

    async with ControlClient.connect(control) as client:
        try:
            if work_id.startswith("task-"):
                result = await client.cancel_task(work_id)
            else:
                result = await client.cancel_run(work_id)
        except ControlError as exc:
            if exc.code == "not_found":
                raise CliError(f"{exc.message} (runtime on {control})") from None
            raise
    state = result["state"]
    if state == "cancelled":
        click.echo(f"{work_id} cancelled")
    else:
        detail = f": {result['error']}" if result.get("error") else ""
        click.echo(f"{work_id} had already finished: {state}{detail}")
    return EXIT_OK
