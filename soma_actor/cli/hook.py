"""``soma hook``: what Claude Code runs at each hook (written into its settings by ``soma init``).

The work is in ``soma_actor.integrations.claude_code.hook``; the ``soma`` entry point sends a
plain ``soma hook …`` there before importing this app, for speed. This command is the same
hook reached through the app — with global options (``soma --log-json hook``) or for its
``--help``.
"""

from __future__ import annotations

import click


@click.command(short_help="Record a Claude Code hook event from stdin (run by Claude Code).")
@click.option(
    "--db", metavar="PATH", help="The event store (created if missing). Env: SOMA_DB.  [default: soma.db]"
)
@click.option(
    "--control",
    metavar="PATH",
    help="A runtime's control socket: recorded through it when one answers there. Env: SOMA_CONTROL.",
)
@click.option(
    "--config", metavar="FILE.toml", help="deny, destructive_commands, secret_files, subagent_trust."
)
@click.option(
    "--serve", is_flag=True, help="At a session's start, start `soma serve` if none answers on --control."
)
@click.option(
    "--serve-idle", type=float, metavar="SECONDS", help="How long a runtime --serve started waits idle."
)
@click.option(
    "--lock-wait", type=float, metavar="SECONDS", help="How long to wait for the database's writer lock."
)
def hook(
    db: str | None,
    control: str | None,
    config: str | None,
    serve: bool,
    serve_idle: float | None,
    lock_wait: float | None,
) -> int:
    """Read one Claude Code hook event (JSON) on stdin, record it in Soma's store with the
    vitals, and answer in Claude Code's JSON on stdout: guidance as additionalContext, and
    under BLOCK a destructive action refused (PreToolUse permissionDecision "deny"). Anything
    wrong — bad input, an unknown event, an internal error — exits 0 with no output, and is
    recorded. `soma init` writes this command into Claude Code's settings.

    \b
    Examples:
      echo '{"hook_event_name":"SessionStart","session_id":"s1"}' | soma hook --db soma.db
      soma hook --db /abs/soma.db --control /abs/soma.sock < event.json
      soma status --db soma.db        # the Claude session as an agent: claude-<session id>
    """
    from ..integrations.claude_code.hook import main

    argv = [
        *(["--db", db] if db else []),
        *(["--control", control] if control else []),
        *(["--config", config] if config else []),
        *(["--serve"] if serve else []),
        *(["--serve-idle", str(serve_idle)] if serve_idle is not None else []),
        *(["--lock-wait", str(lock_wait)] if lock_wait is not None else []),
    ]
    return main(argv)
