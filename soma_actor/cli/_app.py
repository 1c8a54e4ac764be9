"""The ``soma`` click group: global options, and the table of verbs.

A verb is one module with a click command, plus one line in :data:`COMMANDS`. Modules are
imported when their verb runs (or ``--help`` lists them), so ``soma --version`` and a verb
never pay for the others' imports (the dashboard's Textual, say).
"""

from __future__ import annotations

import importlib
from typing import Final

import click

from soma_runtime import __version__

from . import _logging

COMMANDS: Final = {
    "serve": "soma_actor.cli.serve:serve",
    "run": "soma_actor.cli.run:run_command",
    "ask": "soma_actor.cli.ask:ask",
    "cancel": "soma_actor.cli.control_verbs:cancel",
    "status": "soma_actor.cli.status:status",
    "statusline": "soma_actor.cli.status:statusline",
    "trace": "soma_actor.cli.trace:trace",
    "export": "soma_actor.cli.export:export",
    "check": "soma_actor.cli.check:check",
    "replay": "soma_actor.cli.replay:replay",
    "outcomes": "soma_actor.cli.outcomes:outcomes",
    "lessons": "soma_actor.cli.outcomes:lessons",
    "dashboard": "soma_actor.cli.dashboard.command:dashboard",
    "demo": "soma_actor.cli.demo:demo",
    "init": "soma_actor.cli.init:init",
    "hook": "soma_actor.cli.hook:hook",
}

SUMMARIES: Final = {
    "serve": "Run a runtime until SIGINT or SIGTERM.",
    "run": "Start a run of steps; --wait to see it through.",
    "ask": "Give an agent a task and wait for its reply.",
    "cancel": "Cancel a run or an agent's task in a live runtime.",
    "status": "Each agent's vitals and budget.",
    "statusline": "One short line for a shell prompt.",
    "trace": "A run's events, in order.",
    "export": "Export events as JSONL.",
    "check": "Check a database: every page, index and event.",
    "replay": "Replay a log's vitals; does it match the record?",
    "outcomes": "Does guidance help? Outcomes per pattern and arm.",
    "lessons": "Lessons: errors that got fixed, and how often they came back.",
    "dashboard": "A live TUI: agents, pressure, runs, the tree, events, guidance.",
    "demo": "The demo: scripted agents through every outcome, on a real runtime.",
    "init": "Put Soma's hooks into Claude Code's settings (--remove: take them out).",
    "hook": "Record a Claude Code hook event from stdin (run by Claude Code).",
}
"""Each verb's ``short_help``, for ``soma --help``: listing the verbs must not import them all
(the demo's module alone costs half a second). A test keeps it equal to each command's own."""


class VerbGroup(click.Group):
    """A group whose commands are the entries of :data:`COMMANDS`, imported on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES[name]) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=VerbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="soma", message="%(prog)s %(version)s")
@click.option("--log-json", is_flag=True, help="Log JSON lines to stderr (default: console format).")
@click.option(
    "--log-level",
    type=click.Choice(_logging.LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    help="The least severe log records shown.",
)
def cli(log_json: bool, log_level: str) -> None:
    """Soma: an OTP-style runtime for LLM agents.

    Run a runtime with `soma serve` (its tools and agents from --config soma.toml); give it
    work from a shell with `soma run` and `soma ask`, steer it with `soma cancel`; look at it
    with `soma status`, `soma trace` and `soma dashboard`; watch Claude Code sessions after
    `soma init`. Every verb has --help.

    \b
    Examples:
      soma serve --config soma.toml
      soma run --wait --step 'echo value=hi'
      soma ask greeter "say hi"
      soma status
      soma trace run-3f2a
      soma init                      # Claude Code's sessions, as agents
    """
    _logging.configure(json_logs=log_json, level=log_level)
