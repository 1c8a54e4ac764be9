"""The ``soma`` command (``soma = "soma_actor.cli:main"``; also ``python -m soma_actor.cli``).

Exit codes: 0 success; 1 an error, reported as one line on stderr (a missing database, a
corrupt file, an unknown run, no runtime listening, a bad config file…); 2 bad usage; 3
``soma replay`` found the replayed trajectory different from the recorded one. ``soma run
--wait`` and ``soma ask`` exit by how the work ended: 0 completed, 3 failed (or declined),
4 timed out, 5 cancelled, 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import logging

import click

from ._common import EXIT_ERROR, one_line


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    from ._app import cli

    try:
        code = cli.main(args=argv, prog_name="soma", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("soma: interrupted", err=True)
        return 130
    except Exception as exc:
        message = one_line(exc)
        if message is not None:
            click.echo(f"soma: error: {message}", err=True)
        else:
            # A bug, not bad input: still one line, with the traceback one flag away.
            logging.getLogger("soma.cli").debug("unexpected error", exc_info=exc)
            click.echo(
                f"soma: internal error: {type(exc).__name__}: {exc} (--log-level debug shows the traceback)",
                err=True,
            )
        return EXIT_ERROR
    return code if isinstance(code, int) else 0
