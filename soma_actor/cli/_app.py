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
    "status": "soma_actor.cli.status:status",
    "statusline": "soma_actor.cli.status:statusline",
    "replay": "soma_actor.cli.replay:replay",
    "trace": "soma_actor.cli.trace:trace",
    "export": "soma_actor.cli.export:export",
    "cancel": "soma_actor.cli.control_verbs:cancel",
    "run": "soma_actor.cli.run:run_command",
    "ask": "soma_actor.cli.ask:ask",
    "demo": "soma_actor.cli.demo:demo",
    "dashboard": "soma_actor.cli.dashboard.command:dashboard",
}


class VerbGroup(click.Group):
    """A group whose commands are the entries of :data:`COMMANDS`, imported on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


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

    Run a runtime with `soma serve`; look at it with `soma status` (from its database) or
    steer it through its control socket (`soma cancel`). Every verb has --help.

    \b
    Examples:
      soma serve --db soma.db --control soma.sock
      soma status --db soma.db
      soma replay --db soma.db
      soma trace run-3f2a… --db soma.db
    """
    _logging.configure(json_logs=log_json, level=log_level)
