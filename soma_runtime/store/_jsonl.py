"""JSONL encoding of the log: one envelope per line (``Event.to_json()``).

Import is validate-everything-first: every line is parsed, checked against the envelope and
its type's payload model, redacted and serialized before a single event is appended, so a
corrupt file imports nothing (unless the caller asks for the good lines only). The store
assigns fresh ``seq`` numbers; ``event_id``, ``ts``, ids and payload are kept, and an
``event_id`` already stored (or repeated in the file) is an error naming its line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .errors import InvalidEvent, JsonlLineError
from .events import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_SOURCE,
    ID_FIELDS,
    SOURCES,
    Event,
    PreparedEvent,
    prepare_event,
)

MAX_REPORTED_ERRORS = 100
"""Bad lines collected before parsing stops (a wholly wrong file should fail fast)."""

_ENVELOPE_KEYS = frozenset(Event.model_fields)


@dataclass(frozen=True)
class ImportReport:
    """What an import did: how many events were appended, and which lines were skipped."""

    imported: int
    skipped: list[JsonlLineError] = field(default_factory=list)


@dataclass
class ParsedFile:
    events: list[PreparedEvent] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # source line of each event
    seqs: list[int] = field(default_factory=list)  # the seq each line was exported with
    errors: list[JsonlLineError] = field(default_factory=list)


def encode(events: Iterable[Event]) -> str:
    return "".join(event.to_json() + "\n" for event in events)


def parse(
    lines: Iterable[str],
    source: str,
    max_payload_bytes: int,
    *,
    need_seq: bool = False,
    max_errors: int = MAX_REPORTED_ERRORS,
) -> ParsedFile:
    """Parse and prepare every line; collect (up to ``max_errors``) what is wrong and where.

    ``need_seq``: every line must carry the ``seq`` it was exported with (to read a log as
    recorded rather than to import it, where the store assigns new ones).
    """
    out = ParsedFile()
    first_line_of: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            prepared, seq = _parse_line(text, max_payload_bytes, need_seq)
        except _LineProblem as problem:
            out.errors.append(JsonlLineError(source, number, str(problem)))
        else:
            earlier = first_line_of.setdefault(prepared.event_id, number)
            if earlier != number:
                out.errors.append(
                    JsonlLineError(
                        source, number, f"duplicate event_id {prepared.event_id!r} (first on line {earlier})"
                    )
                )
            else:
                out.events.append(prepared)
                out.lines.append(number)
                out.seqs.append(seq)
        if len(out.errors) >= max_errors:
            break
    return out


def read_events(lines: Iterable[str], source: str, max_payload_bytes: int) -> list[Event]:
    """The events of an export as they were recorded, ``seq`` included (for replay and other
    readers of a log without a store). Each line is checked as an import checks it; the
    first bad one raises :class:`JsonlLineError` naming its line."""
    parsed = parse(lines, source, max_payload_bytes, need_seq=True, max_errors=1)
    if parsed.errors:
        raise parsed.errors[0]
    events = []
    for prepared, seq in zip(parsed.events, parsed.seqs, strict=True):
        prepared.seq = seq
        events.append(prepared.event())
    return events


def read_jsonl(source: str | os.PathLike[str] | Iterable[str]) -> list[Event]:
    """Read a JSONL export back as the events it recorded, each with its original ``seq``,
    without a store (``soma replay FILE``). Lines are checked as :meth:`EventLog.import_jsonl`
    checks them; the first bad line raises :class:`JsonlLineError` (``source:line: problem``).

    Here rather than with the store (``log`` re-exports it): reading a file needs the event
    models, not the store's process, the kernel or aiosqlite.
    """
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        with open(source, "rb") as fh:
            return read_events(utf8_lines(fh, name), name, DEFAULT_MAX_PAYLOAD_BYTES)
    return read_events(source, str(getattr(source, "name", "<lines>")), DEFAULT_MAX_PAYLOAD_BYTES)


class _LineProblem(Exception):
    pass


def utf8_lines(raw: Iterable[bytes], source: str) -> Iterator[str]:
    """Decode lines one by one, so that bytes that are not UTF-8 are reported with their line."""
    for number, line in enumerate(raw, start=1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
            raise JsonlLineError(source, number, problem) from None


def _parse_line(text: str, max_payload_bytes: int, need_seq: bool) -> tuple[PreparedEvent, int]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # json's messages may end in a position of their own ("… starting at"): the column
        # goes in parentheses after them, never glued on.
        raise _LineProblem(f"not JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _LineProblem(f"expected a JSON object (an event envelope), got {type(data).__name__}")
    unknown = set(data) - _ENVELOPE_KEYS
    if unknown:
        raise _LineProblem(f"unknown envelope field(s) {sorted(unknown)}")
    # The envelope is checked by the Event model itself; seq is reassigned by the store, so
    # for an import an export's seq is only checked for shape.
    if need_seq and "seq" not in data:
        raise _LineProblem("no 'seq' (an exported event carries the seq it was recorded with)")
    data.setdefault("seq", 1)
    if "source" not in data:  # an export from before the envelope had it (see ``Event.source``)
        named = data.get("payload", {}).get("source") if isinstance(data.get("payload"), dict) else None
        data["source"] = named if named in SOURCES else DEFAULT_SOURCE
    try:
        envelope = Event.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _LineProblem(f"bad envelope field {where!r}: {first['msg']}") from None
    ids: dict[str, Any] = {name: getattr(envelope, name) for name in ID_FIELDS}
    try:
        prepared = prepare_event(
            envelope.type,
            envelope.payload,
            ids,
            event_id=envelope.event_id,
            ts=envelope.ts,
            max_payload_bytes=max_payload_bytes,
            source=envelope.source,
        )
    except InvalidEvent as exc:
        raise _LineProblem(str(exc)) from None
    return prepared, envelope.seq
