"""``soma check``: a full integrity check of a database, with a clear report.

What the runtime does cheaply at open (SQLite's quick check, after an unclean shutdown or on a
small file), done in full: every page and index (``integrity_check``), the schema version,
and every event read back. Read-only, safe beside a runtime that writes the file. Exit 0
when everything is whole, 1 when anything is not (the report says what, and what to do).
"""

from __future__ import annotations

import click

from ._common import EXIT_ERROR, EXIT_OK, db_option


@click.command(short_help="Check a database: every page, index and event.")
@db_option
def check(db: str) -> int:
    """Check a database in full: SQLite's integrity check of every page and index, its
    schema version, and every event read back as the runtime reads it.

    On a postgresql:// URL: the schema version and every event read back (the pages and
    indexes are the server's to check: pg_amcheck).

    Read-only: safe while a runtime writes the database. Exits 0 if all is well, 1 if the
    file is damaged (restore a backup) or holds events that cannot be read (they are
    listed by seq; every read skips them).

    \b
    Examples:
      soma check
      soma check --db /var/lib/agents/soma.db
    """
    from soma_runtime.store.check import check_database

    report = check_database(db)
    for line in report.lines():
        click.echo(line, err=not report.ok)
    return EXIT_OK if report.ok else EXIT_ERROR
