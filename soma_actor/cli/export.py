"""``soma export``: events of the database as JSONL (one envelope per line), or as
OpenTelemetry spans sent to a collector (``--otlp ENDPOINT``).

JSONL is read through a glance (the standard library's sqlite3): the lines are the store's own JSON,
in ``Event.to_json()``'s shape, without a pydantic model built for each of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from ._common import EXIT_OK, CliError, db_option, glance_db, open_db, run

if TYPE_CHECKING:
    from soma_runtime.store.glance import Glance


@click.command(short_help="Export events as JSONL.")
@db_option
@click.option("-o", "--output", metavar="FILE", help="Write to FILE (atomically) instead of stdout.")
@click.option("--run", "run_id", metavar="ID", help="Only this run's events.")
@click.option("--session", "session_id", metavar="ID", help="Only this session's events.")
@click.option("--agent", "agent_id", metavar="ID", help="Only this agent's events.")
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="TYPE",
    help="Only these types (repeatable, or comma-separated; 'run.*').",
)
@click.option(
    "--after", "after_seq", type=click.IntRange(min=0), default=0, help="Only events after this seq."
)
@click.option(
    "--otlp",
    metavar="ENDPOINT",
    help="Send spans (OTLP/HTTP) to ENDPOINT, e.g. http://localhost:4318, instead of writing JSONL. "
    "Headers, timeout and TLS come from the OTEL_EXPORTER_OTLP_* variables. Needs soma-runtime[telemetry].",
)
def export(
    db: str,
    output: str | None,
    run_id: str | None,
    session_id: str | None,
    agent_id: str | None,
    types: tuple[str, ...],
    after_seq: int,
    otlp: str | None,
) -> int:
    """Export events as JSONL: the format `soma replay FILE` and EventLog.import_jsonl read.

    The export is a snapshot: events committed while it runs are not included. Naming a
    run, session or agent with no events is an error (a typo, most likely).

    \b
    Examples:
      soma export > all.jsonl
      soma export --run run-3f2a… -o run.jsonl
      soma export --agent research --type 'llm.*' --type 'tool.*'
      soma export --otlp http://localhost:4318 --session sess-3f2a…
      soma export --type 'guidance.*,tool.blocked,lesson.*'   # the audit trail of guidance
    """
    types = tuple(t.strip() for given in types for t in given.split(",") if t.strip())
    if otlp is not None:
        if output is not None or types:
            raise click.UsageError("--otlp sends spans: it takes neither -o nor --type")
        return run(_export_otlp, db, otlp, run_id, session_id, agent_id, after_seq)
    with glance_db(db) as log:
        _check_names(log, db, run_id, session_id, agent_id)
        with nullcontext(sys.stdout) if output is None else atomic_file(output) as fh:
            count = log.export_jsonl(
                fh.write,
                run_id=run_id,
                session_id=session_id,
                agent_id=agent_id,
                type=list(types) or None,
                after_seq=after_seq,
            )
    if output is not None:
        click.echo(f"exported {count} events to {output}", err=True)
    return EXIT_OK


def _check_names(
    log: Glance, db: str, run_id: str | None, session_id: str | None, agent_id: str | None
) -> None:
    # Naming something with no events is a typo far more often than an empty slice.
    if run_id is not None and not log.query(run_id=run_id, limit=1):
        raise CliError(f"no run {run_id!r} in {db}")
    if session_id is not None and not log.query(session_id=session_id, limit=1):
        raise CliError(f"no session {session_id!r} in {db}")
    if agent_id is not None and not log.query(agent_id=agent_id, limit=1):
        raise CliError(f"no agent {agent_id!r} in {db}")


async def _export_otlp(
    db: str,
    endpoint: str,
    run_id: str | None,
    session_id: str | None,
    agent_id: str | None,
    after_seq: int,
) -> int:
    from soma_runtime.telemetry import ExportFailed, export_log

    with glance_db(db) as quick:
        _check_names(quick, db, run_id, session_id, agent_id)
    async with open_db(db) as log:
        try:
            report = await export_log(
                log,
                endpoint=endpoint,
                run_id=run_id,
                session_id=session_id,
                agent_id=agent_id,
                after_seq=after_seq,
            )
        except ExportFailed as exc:
            raise CliError(str(exc)) from None
    incomplete = f", {report.incomplete} still open when the log ends" if report.incomplete else ""
    summary = f"exported {report.exported} spans ({report.events} events{incomplete}) to {endpoint}"
    click.echo(summary, err=True)
    return EXIT_OK


@contextmanager
def atomic_file(path: str) -> Iterator[TextIO]:
    """A file written beside ``path`` and renamed into place only once complete: an export
    is never left half-written. An error names ``path``, never the temporary file."""
    target = Path(path)
    temp = target.with_name(target.name + ".partial")
    try:
        # Owner-only, like the database it comes from.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        with open(fd, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        if exc.filename is not None and Path(exc.filename) == temp:
            raise OSError(exc.errno, exc.strerror, path) from None
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
