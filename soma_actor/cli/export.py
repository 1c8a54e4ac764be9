"""``soma export``: events of the database as JSONL (one envelope per line), or as
OpenTelemetry spans sent to a collector (``--otlp ENDPOINT``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ._common import EXIT_OK, CliError, db_option, open_db, run

if TYPE_CHECKING:
    from soma_runtime import EventLog


@click.command(short_help="Export events as JSONL.")
@db_option
@click.option("-o", "--output", metavar="FILE", help="Write to FILE (atomically) instead of stdout.")
@click.option("--run", "run_id", metavar="ID", help="Only this run's events.")
@click.option("--session", "session_id", metavar="ID", help="Only this session's events.")
@click.option("--agent", "agent_id", metavar="ID", help="Only this agent's events.")
@click.option(
    "--type", "types", multiple=True, metavar="TYPE", help="Only these types (repeatable; 'run.*')."
)
@click.option(
    "--after", "after_seq", type=click.IntRange(min=0), default=0, help="Only events after this seq."
)
@click.option(
    "--otlp",
    metavar="ENDPOINT",
    help="Send spans (OTLP/HTTP) to ENDPOINT, e.g. http://localhost:4318, instead of writing JSONL. "
    "Headers, timeout and TLS come from the OTEL_EXPORTER_OTLP_* variables. Needs soma[telemetry].",
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
    """
    if otlp is not None and (output is not None or types):
        raise click.UsageError("--otlp sends spans: it takes neither -o nor --type")
    return run(_export, db, output, run_id, session_id, agent_id, types, after_seq, otlp)


async def _export(
    db: str,
    output: str | None,
    run_id: str | None,
    session_id: str | None,
    agent_id: str | None,
    types: tuple[str, ...],
    after_seq: int,
    otlp: str | None = None,
) -> int:
    async with open_db(db) as log:
        # Naming something with no events is a typo far more often than an empty slice.
        if run_id is not None and not await log.query(run_id=run_id, limit=1):
            raise CliError(f"no run {run_id!r} in {db}")
        if session_id is not None and not await log.query(session_id=session_id, limit=1):
            raise CliError(f"no session {session_id!r} in {db}")
        if agent_id is not None and not await log.query(agent_id=agent_id, limit=1):
            raise CliError(f"no agent {agent_id!r} in {db}")
        if otlp is not None:
            return await _export_otlp(log, otlp, run_id, session_id, agent_id, after_seq)
        count = await log.export_jsonl(
            output if output is not None else sys.stdout,
            run_id=run_id,
            session_id=session_id,
            agent_id=agent_id,
            type=list(types) or None,
            after_seq=after_seq,
        )
    if output is not None:
        click.echo(f"exported {count} events to {output}", err=True)
    return EXIT_OK


async def _export_otlp(
    log: EventLog,
    endpoint: str,
    run_id: str | None,
    session_id: str | None,
    agent_id: str | None,
    after_seq: int,
) -> int:
    from soma_runtime.telemetry import ExportFailed, export_log

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
