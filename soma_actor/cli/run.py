"""``soma run``: start a run of steps in a live runtime, and with ``--wait`` see it through.

Steps come from a JSON file (``-``: stdin) — a list of ``{"id", "tool", "args", "timeout"}``
objects as ``Step.to_json`` writes them, or ``{"steps": [...], "timeout": …}`` — or from
``--step`` options, one step each, written as a tool and its arguments::

    soma run --wait --step 'echo value=hi' --step 'text_head path=README.md lines=3'

An argument's value is JSON when it parses as JSON (``lines=3`` is a number, ``'tags=["a"]'``
a list) and text otherwise; ``@s1`` is the whole output of step ``s1`` and ``@s1.items.0`` a
part of it. ``--step`` steps are named s1, s2, … in order.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ._common import EXIT_ERROR, EXIT_OK, CliError, control_option, plural, run
from ._watch import Work, drive, on_interrupt_option, took_since

if TYPE_CHECKING:
    from soma_runtime import Event
    from soma_runtime.control import ControlClient

EXIT_FAILED: Final = 3
EXIT_TIMEOUT: Final = 4
EXIT_CANCELLED: Final = 5
EXIT_INTERRUPTED: Final = 130
RUN_EXITS: Final = {
    "completed": EXIT_OK,
    "failed": EXIT_FAILED,
    "timeout": EXIT_TIMEOUT,
    "cancelled": EXIT_CANCELLED,
}
TERMINAL: Final = {f"run.{state}" for state in RUN_EXITS}
DEFAULT_AGENT: Final = "cli"


@click.command(short_help="Start a run of steps; --wait to see it through.")
@click.argument("steps_file", required=False, metavar="[STEPS.json]")
@click.option("--step", "step_specs", multiple=True, metavar="'TOOL K=V …'", help="A step (repeatable).")
@click.option("--wait", is_flag=True, help="Follow the run to its end, printing progress and the result.")
@click.option(
    "--agent",
    default=DEFAULT_AGENT,
    show_default=True,
    metavar="NAME",
    help="The agent the run is for (its session is reused).",
)
@click.option("--session", "session_id", metavar="ID", help="Run in this live session instead.")
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Bound the run."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@on_interrupt_option
@control_option
def run_command(
    steps_file: str | None,
    step_specs: tuple[str, ...],
    wait: bool,
    agent: str,
    session_id: str | None,
    timeout: float | None,
    as_json: bool,
    on_interrupt: str,
    control: str,
) -> int:
    """Start a run of steps in the runtime listening on --control.

    Without --wait, print the run's id once the runtime accepted it. With --wait, print
    each step as it runs (a live line on a terminal), then the outputs on stdout; the exit
    status says how the run ended: 0 completed, 3 failed, 4 timed out, 5 cancelled, 130
    interrupted by Ctrl-C (see --on-interrupt). A run the runtime refuses (an unknown tool,
    bad arguments) is one line on stderr and exit 1: nothing ran.

    \b
    Examples:
      soma run --wait --step 'echo value=hi'
      soma run --wait --step 'file_read path=README.md' --step 'text_head path=README.md lines=3'
      soma run steps.json --agent research --timeout 60
      echo '[{"id": "s1", "tool": "sleep", "args": {"seconds": 5}}]' | soma run - --wait
    """
    steps, file_timeout = _read_steps(steps_file, step_specs)
    return run(_run, control, steps, agent, session_id, timeout or file_timeout, wait, as_json, on_interrupt)


async def _run(
    control: str,
    steps: list[dict[str, Any]],
    agent: str,
    session_id: str | None,
    timeout: float | None,
    wait: bool,
    as_json: bool,
    on_interrupt: str,
) -> int:
    async def start(client: ControlClient) -> Work:
        agent_id = None if session_id else agent
        started = await client.start_run(steps, agent_id=agent_id, session_id=session_id, timeout=timeout)
        run_id = started["run_id"]
        return Work(
            run_id,
            f"{run_id} ({plural(len(steps), 'step')}, agent {started.get('agent_id')})",
            {"run_id": run_id},
            lambda event: event.type in TERMINAL,
            run_id,
            lambda client: client.cancel_run(run_id),
        )

    driven = await drive(control, wait=wait, on_interrupt=on_interrupt, start=start)
    if driven is None:
        return EXIT_OK
    work, outcome = driven
    if outcome.end is None:
        return EXIT_INTERRUPTED
    run_id = work.id
    took = took_since(outcome.first, outcome.end)
    return _report(run_id, outcome.end, took, as_json, EXIT_INTERRUPTED if outcome.interrupted else None)


def _report(run_id: str, end: Event, took: str, as_json: bool, exit_code: int | None) -> int:
    state = end.type.removeprefix("run.")
    payload = end.payload
    outputs = payload.get("outputs") or {}
    error = payload.get("error") or payload.get("reason")
    if as_json:
        result = {"run_id": run_id, "state": state, "outputs": outputs, "error": error}
        click.echo(json.dumps(result, ensure_ascii=False))
    elif state == "completed":
        for step_id, output in outputs.items():
            click.echo(f"{step_id}: {output if isinstance(output, str) else json.dumps(output)}")
    line = f"{run_id} {state}{took}" + (f": {error}" if error and state != "completed" else "")
    click.echo(("✓ " if state == "completed" else "✗ ") + line, err=True)
    return exit_code if exit_code is not None else RUN_EXITS.get(state, EXIT_ERROR)


# --------------------------------------------------------------------------- steps


def _read_steps(file: str | None, specs: tuple[str, ...]) -> tuple[list[dict[str, Any]], float | None]:
    if (file is None) == (not specs):
        raise click.UsageError("give the steps as a STEPS.json file or as --step options (one of them)")
    if specs:
        return [_parse_step(f"s{i}", spec) for i, spec in enumerate(specs, start=1)], None
    assert file is not None
    name = "stdin" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"no such file: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {name}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{name}:{exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from None
    timeout = None
    if isinstance(data, dict):
        unknown = set(data) - {"steps", "timeout"}
        if unknown:
            shape = '{"steps": [...], "timeout": …}'
            raise CliError(f"{name}: unknown key {sorted(unknown)[0]!r} (a run is {shape})")
        timeout = data.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
            raise CliError(f"{name}: 'timeout' must be a number of seconds, got {timeout!r}")
        data = data.get("steps")
    if not isinstance(data, list) or not data:
        raise CliError(f"{name}: expected a non-empty list of steps (or {{\"steps\": [...]}})")
    return data, timeout


def _parse_step(step_id: str, spec: str) -> dict[str, Any]:
    """``TOOL k=v …`` → a step as JSON; a reference ``@s1.path`` → ``{"$from_step": …}``."""
    try:
        words = shlex.split(spec)
    except ValueError as exc:
        raise click.BadParameter(f"{spec!r}: {exc}", param_hint="--step") from None
    if not words:
        raise click.BadParameter("a step needs a tool: --step 'echo value=hi'", param_hint="--step")
    tool, *pairs = words
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{spec!r}: {pair!r} is not KEY=VALUE", param_hint="--step")
        args[key] = _value(value)
    return {"id": step_id, "tool": tool, "args": args}


def _value(text: str) -> Any:
    if text.startswith("@") and len(text) > 1:
        step, _, path = text[1:].partition(".")
        return {"$from_step": step, "path": path.split(".") if path else None}
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
