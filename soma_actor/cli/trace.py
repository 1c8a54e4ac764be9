"""``soma trace RUN_ID``: a run's events in order, from the database.

A run may be named by any unique prefix of its id (``soma trace run-3f2a``), as ids are long
and a terminal shows them cut — or by any unique part of it (``soma trace b16``): the ids of
one runtime share their start and differ at their end. The events are read through a
glance (no pydantic, no asyncio): a trace is a few rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import click

from ._common import EXIT_OK, CliError, db_option, glance_db

if TYPE_CHECKING:
    from soma_runtime.store.glance import Glance, Row

_PAYLOAD_PREVIEW: Final = 100
_TERMINAL: Final = ("run.completed", "run.failed", "run.cancelled", "run.timeout")
_CANDIDATES: Final = 5


@click.command(short_help="A run's events, in order.")
@click.argument("run_id")
@db_option
@click.option("--full", is_flag=True, help="Print whole payloads instead of a preview.")
def trace(run_id: str, db: str, full: bool) -> int:
    """Print the events of the run RUN_ID (or of the one run whose id starts with it, or else
    contains it) in order: time since the run was accepted, seq, type, step, and the payload.

    \b
    Examples:
      soma trace run-3f2a…
      soma trace run-3f2a --db agents.db --full
      soma trace b16
      soma export --run run-3f2a…     # the same events as JSONL
    """
    with glance_db(db) as log:
        run_id = resolve_run(log, run_id, db)
        events = log.query(run_id=run_id)
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


def resolve_run(log: Glance, given: str, db: str) -> str:
    """The run ``given`` names: its id, or the one id it starts (else contains)."""
    prefix = given.rstrip("…")  # pasted from a help text or a cut column
    if prefix == given and log.query(run_id=given, limit=1):
        return given
    found = log.ids_starting_with("run_id", prefix, _CANDIDATES + 1) if prefix else []
    if not found and prefix:
        found = log.ids_containing("run_id", prefix, _CANDIDATES + 1)
    if len(found) == 1:
        return found[0]
    if not found:
        raise CliError(f"no run {given!r} in {db}")
    shown = ", ".join(found[:_CANDIDATES]) + (", …" if len(found) > _CANDIDATES else "")
    raise CliError(f"{given!r} names several runs in {db}: {shown}")


def _line(event: Row, t0: int, full: bool) -> str:
    payload = event.payload_json
    if not full and len(payload) > _PAYLOAD_PREVIEW:
        payload = payload[: _PAYLOAD_PREVIEW - 1] + "…"
    step = event.step_id or ""
    return f"{(event.ts - t0) / 1e9:+9.3f}s  #{event.seq:<6} {event.type:<15} {step:<8} {payload}"
