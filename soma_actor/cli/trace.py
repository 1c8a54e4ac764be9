"""``soma trace RUN_ID``: a run's events in order, from the database."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

import click

from ._common import EXIT_OK, CliError, db_option, open_db, run

if TYPE_CHECKING:
    from soma_runtime import Event

_PAYLOAD_PREVIEW: Final = 100
_TERMINAL: Final = ("run.completed", "run.failed", "run.cancelled", "run.timeout")


@click.command(short_help="A run's events, in order.")
@click.argument("run_id")
@db_option
@click.option("--full", is_flag=True, help="Print whole payloads instead of a preview.")
def trace(run_id: str, db: str, full: bool) -> int:
    """Print the events of the run RUN_ID in order: time since the run was accepted, seq,
    type, step, and the payload.

    \b
    Examples:
      soma trace run-3f2a…
      soma trace run-3f2a… --db agents.db --full
      soma export --run run-3f2a…     # the same events as JSONL
    """
    return run(_trace, run_id, db, full)


async def _trace(run_id: str, db: str, full: bool) -> int:
    async with open_db(db) as log:
        events = await log.query(run_id=run_id)
    if not events:
        raise CliError(f"no run {run_id!r} in {db}")
    first = events[0]
    pauses = [e.type for e in events if e.type in ("run.suspended", "run.resumed")]
    unended = (
        "suspended (the next runtime to open the store resumes it)"
        if pauses[-1:] == ["run.suspended"]
        else "still running"
    )
    ended = next((e.type.removeprefix("run.") for e in events if e.type in _TERMINAL), unended)
    click.echo(f"run {run_id}  session {first.session_id}  agent {first.agent_id}  {ended}")
    for event in events:
        click.echo(_line(event, first.ts, full))
    return EXIT_OK


def _line(event: Event, t0: int, full: bool) -> str:
    payload = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
    if not full and len(payload) > _PAYLOAD_PREVIEW:
        payload = payload[: _PAYLOAD_PREVIEW - 1] + "…"
    step = event.step_id or ""
    return f"{(event.ts - t0) / 1e9:+9.3f}s  #{event.seq:<6} {event.type:<15} {step:<8} {payload}"
