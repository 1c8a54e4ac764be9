"""``soma replay``: a recorded log through a fresh vitals engine, compared with the record.

The engine is deterministic, so replaying the log a monitor recorded (from its start, with
the configuration it ran with) reproduces every ``vitals.updated`` payload bit for bit.

A slice — one run, one session, one agent — is replayed from the state its agents were in
when it began, not from a fresh engine: a baseline is everything the agent did before, and
the trust graph ties agents together, so the slice's points are those of a replay of the
whole log up to the slice's last event, compared only where their cause is in the slice.
From a database (or a whole export) that log is at hand. An export that is itself a slice
(``soma export --run/--agent/--type``, or ``--after``) is missing the history its first
points depend on: replaying it would report differences that are not there, so the command
says it cannot, and how to replay it instead. A runtime that ran with its own
``VitalsConfig`` is replayed with that config (``--config``, the JSON of
``VitalsConfig.to_json()``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import click

from ._common import DEFAULT_DB, EXIT_DIVERGED, EXIT_OK, CliError, glance_db, plural

if TYPE_CHECKING:
    from soma_runtime.vitals import EventLike, VitalsConfig

    class Recorded(EventLike, Protocol):
        """What replay reads of an event: what the engine does, and the run it is of."""

        @property
        def run_id(self) -> str | None: ...


SQLITE_MAGIC: Final = b"SQLite format 3\x00"


@click.command(short_help="Replay a log's vitals; does it match the record?")
@click.argument("file", required=False, metavar="[FILE.jsonl]")
@click.option(
    "--db",
    metavar="PATH",
    envvar="SOMA_DB",
    help=f"Replay from this event store (default without FILE: ./{DEFAULT_DB}). Env: SOMA_DB.",
)
@click.option("--run", "run_id", metavar="ID", help="Only this run's points.")
@click.option("--session", "session_id", metavar="ID", help="Only this session's points.")
@click.option("--agent", "agent_id", metavar="ID", help="Only this agent's points.")
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
    agent_id: str | None,
    config_file: str | None,
    quiet: bool,
) -> int:
    """Replay a recorded log's vitals deterministically; print the trajectory and whether it
    matches the recorded one bit for bit.

    The log is an event store (--db, default ./soma.db) or a whole JSONL export (`soma export
    -o all.jsonl`). --run, --session or --agent replay only that slice's points, from the
    state its agents had reached (the log before it is replayed too). Exit status 0 when the
    trajectories are identical (or there is nothing to replay), 3 when they differ (the first
    difference is shown).

    \b
    Examples:
      soma replay
      soma replay --db soma.db --run run-3f2a…
      soma replay all.jsonl --quiet
      soma replay --db soma.db --config vitals.json
    """
    source_of_db = click.get_current_context().get_parameter_source("db")
    if file is not None and source_of_db is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give a FILE.jsonl or --db PATH (one of them)")
    if sum(value is not None for value in (run_id, session_id, agent_id)) > 1:
        raise click.UsageError("--run, --session and --agent are exclusive")
    config = None if config_file is None else load_config(config_file)
    source = file if file is not None else db or DEFAULT_DB
    return _replay(source, file is not None, Slice(run_id, session_id, agent_id), config, quiet)


@dataclass(frozen=True)
class Slice:
    run_id: str | None = None
    session_id: str | None = None
    agent_id: str | None = None

    @property
    def whole(self) -> bool:
        return self.run_id is None and self.session_id is None and self.agent_id is None

    def holds(self, event: Recorded) -> bool:
        if self.run_id is not None:
            return event.run_id == self.run_id
        if self.session_id is not None:
            return event.session_id == self.session_id
        return event.agent_id == self.agent_id

    def __str__(self) -> str:
        if self.run_id is not None:
            return f"run {self.run_id}"
        if self.session_id is not None:
            return f"session {self.session_id}"
        return f"agent {self.agent_id}" if self.agent_id is not None else "the log"


def _replay(source: str, is_file: bool, part: Slice, config: VitalsConfig | None, quiet: bool) -> int:
    from soma_runtime.vitals import divergence
    from soma_runtime.vitals import replay as replay_events

    events = _from_file(source) if is_file else _from_db(source, part)
    if not events:
        click.echo(f"nothing to replay: {source} holds no events")
        return EXIT_OK
    if is_file:
        _check_whole(source, events, part)
    causes = {e.seq for e in events if part.whole or (part.holds(e) and e.type != "vitals.updated")}
    if not causes:
        raise CliError(f"no events for {part} in {source}")
    # Everything up to the slice's end: what its agents' state at its start came from.
    history = [e for e in events if e.seq <= max(causes)]
    replayed = [p for u in replay_events(history, config=config) if (p := u.payload())["cause_seq"] in causes]
    # Recorded points come after their causes: look for them in the whole log.
    recorded = [
        dict(e.payload) for e in events if e.type == "vitals.updated" and e.payload.get("cause_seq") in causes
    ]
    if not replayed and not recorded:
        click.echo(f"nothing to replay: no action in {part} is one the vitals score (tool and model calls)")
        return EXIT_OK
    if not quiet:
        for point in replayed:
            click.echo(_point(point))
    where = divergence(replayed, recorded)
    if where is None:
        click.echo(f"match: {plural(len(replayed), 'point')}, bit-identical to the recorded trajectory")
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


def _from_file(file: str) -> Sequence[Recorded]:
    from soma_runtime.store import read_jsonl  # from the JSONL codec: no store, kernel or aiosqlite

    try:
        with open(file, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise CliError(f"no such file: {file}") from None
    except IsADirectoryError:
        raise CliError(f"{file} is a directory, not a JSONL export") from None
    if head == SQLITE_MAGIC:
        raise CliError(f"{file} is a Soma database, not a JSONL export: replay it with --db {file}")
    return read_jsonl(file)


def _from_db(db: str, part: Slice) -> Sequence[Recorded]:
    # A glance (the standard library's sqlite3): the engine reads plain rows as well as events.
    with glance_db(db) as log:
        if not part.whole and not log.query(
            run_id=part.run_id, session_id=part.session_id, agent_id=part.agent_id, limit=1
        ):
            raise CliError(f"no events for {part} in {db}")
        # All of it, for a slice too: its points depend on every action before it (of its
        # agents, and of those the trust graph links them to), and its recorded points on
        # vitals events written after it.
        return log.query()


def _check_whole(file: str, events: Sequence[Recorded], part: Slice) -> None:
    """Refuse an export that is a slice: its first points depend on events it lacks."""
    seqs = [e.seq for e in events]
    if seqs == list(range(1, len(seqs) + 1)):
        return
    missing = next((n for n, seq in enumerate(seqs, start=1) if seq != n), len(seqs) + 1)
    raise CliError(
        f"{file} is a slice of a log (from seq {seqs[0]}; seq {missing} is not in it): the vitals at its "
        "start depend on the events before and between its own, so it cannot be replayed exactly. "
        f"Replay the database it came from (soma replay --db PATH{_flag(part)}) or a whole export "
        "(soma export -o all.jsonl)"
    )


def _flag(part: Slice) -> str:
    for flag, value in (("--run", part.run_id), ("--session", part.session_id), ("--agent", part.agent_id)):
        if value is not None:
            return f" {flag} {value}"
    return " --run ID"


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
