"""``soma ask AGENT MESSAGE``: give an agent of a live runtime a task and wait for its reply.

The task's chain — its model calls, the runs of the steps it proposes, messages to other
agents — shares one correlation id, which is what the command follows: every line of
progress is an event of this task (or of the tasks it delegated).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

import click

from ._common import EXIT_ERROR, EXIT_OK, control_option, run
from ._watch import Work, drive, on_interrupt_option, took_since
from .run import EXIT_CANCELLED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TIMEOUT

if TYPE_CHECKING:
    from soma_runtime import Event
    from soma_runtime.control import ControlClient

TASK_EXITS: Final = {
    "completed": EXIT_OK,
    "failed": EXIT_FAILED,
    "rejected": EXIT_FAILED,
    "timeout": EXIT_TIMEOUT,
    "cancelled": EXIT_CANCELLED,
}


@click.command(short_help="Give an agent a task and wait for its reply.")
@click.argument("agent")
@click.argument("message")
@click.option("--no-wait", is_flag=True, help="Print the task's id once the agent took it, and return.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Bound the task (queueing included); it ends in timeout.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the task's result as JSON.")
@on_interrupt_option
@control_option
def ask(
    agent: str,
    message: str,
    no_wait: bool,
    timeout: float | None,
    as_json: bool,
    on_interrupt: str,
    control: str,
) -> int:
    """Send MESSAGE to the agent AGENT of the runtime listening on --control, print its
    progress as it works (its model calls and the steps it runs), and its reply on stdout.

    The exit status says how the task ended: 0 the agent replied, 3 it failed or declined,
    4 it timed out, 5 it was cancelled, 130 interrupted by Ctrl-C (see --on-interrupt).

    \b
    Examples:
      soma ask greeter "say hi"
      soma ask research "what does the Makefile build?" --timeout 120
      soma ask research "summarise the log" --json | jq .reply
    """
    if not message.strip():
        raise click.BadParameter("the message is empty", param_hint="MESSAGE")
    return run(_ask, control, agent, message, no_wait, timeout, as_json, on_interrupt)


async def _ask(
    control: str,
    agent: str,
    message: str,
    no_wait: bool,
    timeout: float | None,
    as_json: bool,
    on_interrupt: str,
) -> int:
    async def start(client: ControlClient) -> Work:
        task = await client.send_task(agent, message, timeout=timeout)
        task_id = task["task_id"]

        def ends_task(event: Event) -> bool:
            return event.task_id == task_id and event.type.removeprefix("actor.task.") in TASK_EXITS

        return Work(
            task_id,
            f"{task_id} ({agent})",
            {"correlation_id": task["correlation_id"]},
            ends_task,
            f"{agent}'s task {task_id}",
            lambda client: client.cancel_task(task_id),
        )

    driven = await drive(control, wait=not no_wait, on_interrupt=on_interrupt, start=start)
    if driven is None:
        return EXIT_OK
    work, outcome = driven
    if outcome.end is None:
        return EXIT_INTERRUPTED
    task_id = work.id
    end = outcome.end
    state = end.type.removeprefix("actor.task.")
    reply, error = end.payload.get("reply"), end.payload.get("error")
    if as_json:
        result = {"task_id": task_id, "agent": agent, "state": state, "reply": reply, "error": error}
        click.echo(json.dumps({**result, "usage": end.payload.get("usage") or {}}, ensure_ascii=False))
    elif state == "completed":
        click.echo(reply or "")
    took = took_since(outcome.first, end)
    detail = f": {error}" if error and state != "completed" else ""
    click.echo(("✓ " if state == "completed" else "✗ ") + f"{task_id} {state}{took}{detail}", err=True)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return TASK_EXITS.get(state, EXIT_ERROR)
