"""``soma init``: Soma's hooks into Claude Code's settings, or (``--remove``) out of them.

The settings file is edited by ``soma_actor.integrations.claude_code.settings``: every other
setting and hook is kept as it is, the write is atomic with a ``.bak`` of what was there, a
second ``soma init`` changes nothing, and a file that is not valid JSON is refused untouched.
"""

from __future__ import annotations

import os
import shlex
import sys

import click

from ._common import EXIT_OK, CliError

MAX_SOCKET_PATH = 107


@click.command(short_help="Put Soma's hooks into Claude Code's settings (--remove: take them out).")
@click.option(
    "--user", is_flag=True, help="~/.claude/settings.json (every project) instead of ./.claude/settings.json."
)
@click.option("--local", is_flag=True, help="./.claude/settings.local.json (this project, not committed).")
@click.option("--settings", "settings_file", metavar="FILE", help="Edit this settings file instead.")
@click.option(
    "--db",
    metavar="PATH",
    help="Where the hooks record.  [default: ./soma.db; with --user ~/.soma/soma.db]",
)
@click.option(
    "--control",
    metavar="PATH",
    help="A runtime's control socket the hooks use when one answers there.  "
    "[default: soma.sock beside the database]",
)
@click.option(
    "--config",
    metavar="FILE.toml",
    help="The hooks' config: deny, destructive_commands, secret_files, subagent_trust.",
)
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="At a session's start a hook starts `soma serve` for the database when none answers on "
    "--control; later hooks record through it, faster. It stops after 30 idle minutes.",
)
@click.option(
    "--timeout",
    type=click.IntRange(1, 600),
    default=10,
    show_default=True,
    help="Seconds Claude Code gives each hook.",
)
@click.option(
    "--statusline/--no-statusline",
    default=True,
    show_default=True,
    help="Also set Claude Code's status line to `soma statusline` (never replaces one of yours).",
)
@click.option(
    "--remove", is_flag=True, help="Take Soma's hooks (and status line) out again; everything else stays."
)
@click.option("--dry-run", is_flag=True, help="Print the settings as they would be, and write nothing.")
def init(
    user: bool,
    local: bool,
    settings_file: str | None,
    db: str | None,
    control: str | None,
    config: str | None,
    serve: bool,
    timeout: int,
    statusline: bool,
    remove: bool,
    dry_run: bool,
) -> int:
    """Make Claude Code report to Soma: hooks on SessionStart, UserPromptSubmit, PreToolUse,
    PostToolUse, PostToolUseFailure, Stop, SubagentStart, SubagentStop and SessionEnd, each
    running `soma hook` (by absolute path), and the status line `soma statusline`. Every
    other setting and hook is kept; the old file is saved as FILE.bak; running it again
    changes nothing. Then `soma status` (and the dashboard, and `soma replay`) show each
    Claude session as an agent, claude-<session id>.

    \b
    Examples:
      soma init                      # this project: .claude/settings.json, ./soma.db
      soma init --user               # every project: ~/.claude/settings.json, ~/.soma/soma.db
      soma init --no-serve --dry-run # see what would be written (hooks that write the file)
      soma init --remove             # take Soma's hooks out again
    """
    from ..integrations.claude_code import settings as claude_settings

    if sum((user, local, settings_file is not None)) > 1:
        raise click.UsageError("give at most one of --user, --local and --settings")
    home = os.path.expanduser("~")
    if settings_file is not None:
        path = os.path.abspath(settings_file)
    elif user:
        path = os.path.join(home, ".claude", "settings.json")
    else:
        path = os.path.abspath(os.path.join(".claude", "settings.local.json" if local else "settings.json"))
    try:
        current, text = claude_settings.read(path)
    except claude_settings.SettingsError as exc:
        raise CliError(str(exc)) from None

    if remove:
        updated, changes = claude_settings.remove(current)
        return _finish(path, updated, text, changes, dry_run, "no Soma hooks there: nothing to remove")

    database = os.path.abspath(db or (os.path.join(home, ".soma", "soma.db") if user else "soma.db"))
    socket = os.path.abspath(control or os.path.join(os.path.dirname(database), "soma.sock"))
    if len(os.fsencode(socket)) > MAX_SOCKET_PATH - 12:
        raise CliError(
            f"the control socket path {socket} is too long for a Unix socket; give a shorter --control"
        )
    soma = _soma_command()
    hook = [*soma, "hook", "--db", database, "--control", socket]
    if config is not None:
        config = os.path.abspath(config)
        _check_config(config)
        hook += ["--config", config]
    if serve:
        hook.append("--serve")
    line = shlex.join([*soma, "statusline", "--db", database]) if statusline else None
    updated, changes = claude_settings.install(current, shlex.join(hook), timeout=timeout, statusline=line)
    if not dry_run:
        _prepare_database(database)
    code = _finish(path, updated, text, changes, dry_run, "Soma's hooks are already there: nothing to change")
    if not dry_run:
        click.echo(f"Claude Code sessions started from now on record to {database}")
        click.echo(f"  soma status --db {shlex.quote(database)}      # each session: claude-<session id>")
        if serve:
            click.echo(f"  (a session's first hook starts `soma serve` on {socket}; idle 30 min, it stops)")
    return code


def _finish(
    path: str, updated: dict[str, object], text: str | None, changes: list[str], dry_run: bool, nothing: str
) -> int:
    from ..integrations.claude_code import settings as claude_settings

    written = [c for c in changes if not c.startswith("kept")]
    for change in changes:
        click.echo(f"{'would have ' if dry_run and not change.startswith('kept') else ''}{change}")
    if dry_run:
        click.echo(f"--- {path} (not written)")
        click.echo(claude_settings.render(updated), nl=False)
        return EXIT_OK
    if not written:
        click.echo(f"{path}: {nothing}")
        return EXIT_OK
    try:
        backup = claude_settings.write(path, updated, text)
    except OSError as exc:
        raise CliError(f"{path}: could not write it: {exc.strerror or exc}") from None
    click.echo(f"wrote {path}" + (f" (the previous file is {backup})" if backup else ""))
    return EXIT_OK


def _soma_command() -> list[str]:
    """How Claude Code should start this Soma: the console script by absolute path, or this
    interpreter running the package (``python -m soma_actor.cli``)."""
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script) == "soma" and os.path.isfile(script):
        return [os.path.abspath(script)]
    return [sys.executable, "-m", "soma_actor.cli"]


def _check_config(path: str) -> None:
    from ..integrations.claude_code.policy import HookPolicy, PolicyError

    try:
        HookPolicy.load(path).vitals_config()
    except PolicyError as exc:
        raise CliError(str(exc)) from None


def _prepare_database(database: str) -> None:
    """Create the database (and its directory, owner-only) now, so the first hook does not."""
    from ..integrations._direct import NotAStore, create_store

    directory = os.path.dirname(database)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    if not os.path.exists(database):
        create_store(database)
        return
    from ..integrations._direct import connect

    try:
        connect(database).close()
    except NotAStore as exc:
        raise CliError(str(exc)) from None
