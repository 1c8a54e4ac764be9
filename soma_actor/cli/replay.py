"""``soma replay``: a recorded log through a fresh vitals engine, compared with the record.

The engine is deterministic, so replaying the log a monitor recorded (from its start, with
the default configuration) reproduces every ``vitals.updated`` payload bit for bit. A slice
(``--run``, ``--session``) replays from a fresh engine too: it matches the record only when
the agent had no history before it — a divergence there is the baseline it had built, and
the command says where. A runtime that ran with its own ``VitalsConfig`` is replayed with
that config (``--config``, the JSON of ``VitalsConfig.to_json()``); the default one would
diverge from its record at the first action its settings weigh differently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import click

from ._common import EXIT_DIVERGED, EXIT_OK, CliError, open_db, run

if TYPE_CHECKING:
    from soma_runtime import Event
    from soma_runtime.vitals import VitalsConfig


@click.command(short_help="Replay a log's vitals; does it match the record?")
@click.argument("file", required=False, metavar="[FILE.jsonl]")
@click.option("--db", metavar="PATH", help="Replay from this event store instead of a JSONL file.")
@click.option("--run", "run_id", metavar="ID", help="Only this run's events.")
@click.option("--session", "session_id", metavar="ID", help="Only this session's events.")
@click.option(
    "--config",
    "config_file",
    metavar="FILE.json",
    help="The VitalsConfig the runtime ran with (VitalsConfig.to_json()); default: the default config.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the verdict, not the trajectory.")
def replay(
    file: str | None,
    db: str | None,
    run_id: str | None,
    session_id: str | None,
    config_file: str | None,
    quiet: bool,
) -> int:
    """Replay a recorded log's vitals deterministically; print the trajectory and whether it
    matches the recorded one bit for bit.

    The log is a JSONL export (`soma export`) or, with --db, an event store. Exit status 0
    when the trajectories are identical, 3 when they differ (the first difference is shown).

    \b
    Examples:
      soma replay --db soma.db
      soma replay events.jsonl --quiet
      soma replay --db soma.db --session sess-8c1e…
      soma replay --db soma.db --config vitals.json
    """
    if (file is None) == (db is None):
        raise click.UsageError("give a FILE.jsonl or --db PATH (one of them)")
    if run_id is not None and session_id is not None:
        raise click.UsageError("--run and --session are exclusive")
    config = None if config_file is None else load_config(config_file)
    return run(_replay, file, db, run_id, session_id, config, quiet)


async def _replay(
    file: str | None,
    db: str | None,
    run_id: str | None,
    session_id: str | None,
    config: VitalsConfig | None,
    quiet: bool,
) -> int:
    from soma_runtime.vitals import divergence, recorded_trajectory
    from soma_runtime.vitals import replay as replay_events

    if file is not None:
        events, recorded = await _from_file(file, run_id, session_id)
    else:
        assert db is not None
        events, recorded = await _from_db(db, run_id, session_id)
    replayed = [u.payload() for u in replay_events(events, config=config)]
    if recorded is None:
        recorded = recorded_trajectory(events)
    if not quiet:
        for point in replayed:
            click.echo(_point(point))
    where = divergence(replayed, recorded)
    if where is None:
        click.echo(f"match: {len(replayed)} points, bit-identical to the recorded trajectory")
        return EXIT_OK
    click.echo(f"DIVERGES at point {where}: {_difference(replayed, recorded, where)}")
    if config is None:
        # A hint, not the verdict: on stderr, so that -q output stays the one verdict line.
        click.echo(
            "hint: a runtime that ran with its own VitalsConfig replays with it: --config FILE.json", err=True
        )
    return EXIT_DIVERGED


def load_config(path: str) -> VitalsConfig:
    """A ``VitalsConfig`` from its JSON (``VitalsConfig.to_json()``); a bad file is a CliError
    that says what is wrong with it."""
    from soma_runtime.vitals import VitalsConfig

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: not a vitals config: expected a JSON object, got {type(data).__name__}")
    try:
        return VitalsConfig.from_json(data)
    except KeyError as exc:
        raise CliError(f"{path}: not a vitals config: no {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        raise CliError(f"{path}: not a vitals config: {exc}") from None


async def _from_file(
    file: str, run_id: str | None, session_id: str | None
) -> tuple[list[Event], list[dict[str, Any]] | None]:
    from soma_runtime.store.log import read_jsonl

    if not await anyio.Path(file).is_file():
        raise CliError(f"no such file: {file}")
    events = await anyio.to_thread.run_sync(read_jsonl, file)
    if run_id is None and session_id is None:
        return events, None
    return _slice(events, run_id, session_id, f"in {file}")


async def _from_db(
    db: str, run_id: str | None, session_id: str | None
) -> tuple[list[Event], list[dict[str, Any]] | None]:
    async with open_db(db) as log:
        if run_id is None and session_id is None:
            return await log.query(), None
        events = await log.query(run_id=run_id, session_id=session_id)
        if run_id is not None and events and events[0].session_id is not None:
            # A run's events carry no vitals (those name the session): add its session's.
            events += await log.query(session_id=events[0].session_id, type="vitals.updated")
            events.sort(key=lambda e: e.seq)
    return _slice(events, run_id, session_id, f"in {db}")


def _slice(
    events: Sequence[Event], run_id: str | None, session_id: str | None, where: str
) -> tuple[list[Event], list[dict[str, Any]]]:
    """The slice's own events, and the recorded updates whose cause is one of them."""
    if run_id is not None:
        own = [e for e in events if e.run_id == run_id]
        what = f"run {run_id}"
    else:
        own = [e for e in events if e.session_id == session_id and e.type != "vitals.updated"]
        what = f"session {session_id}"
    if not own:
        raise CliError(f"no events for {what} {where}")
    causes = {e.seq for e in own}
    recorded = [
        dict(e.payload) for e in events if e.type == "vitals.updated" and e.payload.get("cause_seq") in causes
    ]
    return own, recorded


def _point(p: dict[str, Any]) -> str:
    return (
        f"#{p['cause_seq']:<6} {p['agent_id']:<16} action {p['action']:<4} "
        f"{str(p['mode']).upper():<7} p={p['effective_pressure']:.4f} own={p['pressure']:.4f}"
    )


def _difference(replayed: list[dict[str, Any]], recorded: list[dict[str, Any]], i: int) -> str:
    if i >= len(recorded):
        return f"the record ends after {len(recorded)} points; the replay goes on ({_point(replayed[i])})"
    if i >= len(replayed):
        return f"the replay ends after {len(replayed)} points; the record goes on ({_point(recorded[i])})"
    mine, theirs = replayed[i], recorded[i]
    for key in sorted({*mine, *theirs}):
        if mine.get(key) != theirs.get(key):
            cause = theirs.get("cause_seq")
            return f"cause seq {cause}: {key} recorded {theirs.get(key)!r}, replayed {mine.get(key)!r}"
    return "the points differ"
