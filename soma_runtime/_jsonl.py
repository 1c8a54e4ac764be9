"""JSONL encoding of the log: one envelope per line (``Event.to_json()``).

Import is validate-everything-first: every line is parsed, checked against the envelope and
its type's payload model, redacted and serialized before a single event is appended, so a
corrupt file imports nothing (unless the caller asks for the good lines only). The store
assigns fresh ``seq`` numbers; ``event_id``, ``ts``, ids and payload are kept, and an
``event_id`` already stored (or repeated in the file) is an error naming its line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .event_errors import InvalidEvent, JsonlLineError
from .events import ID_FIELDS, Event, PreparedEvent, prepare_event

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
    errors: list[JsonlLineError] = field(default_factory=list)


def encode(events: Iterable[Event]) -> str:
    return "".join(event.to_json() + "\n" for event in events)


def parse(lines: Iterable[str], source: str, max_payload_bytes: int) -> ParsedFile:
    """Parse and prepare every line; collect (up to a cap) what is wrong and where."""
    out = ParsedFile()
    first_line_of: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            prepared = _parse_line(text, max_payload_bytes)
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
        if len(out.errors) >= MAX_REPORTED_ERRORS:
            break
    return out


class _LineProblem(Exception):
    pass


def _parse_line(text: str, max_payload_bytes: int) -> PreparedEvent:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _LineProblem(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _LineProblem(f"expected a JSON object (an event envelope), got {type(data).__name__}")
    unknown = set(data) - _ENVELOPE_KEYS
    if unknown:
        raise _LineProblem(f"unknown envelope field(s) {sorted(unknown)}")
    # The envelope is checked by the Event model itself; seq is reassigned by the store, so
    # an export's seq is only checked for shape.
    data.setdefault("seq", 1)
    try:
        envelope = Event.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _LineProblem(f"bad envelope field {where!r}: {first['msg']}") from None
    ids: dict[str, Any] = {name: getattr(envelope, name) for name in ID_FIELDS}
    try:
        return prepare_event(
            envelope.type,
            envelope.payload,
            ids,
            event_id=envelope.event_id,
            ts=envelope.ts,
            max_payload_bytes=max_payload_bytes,
        )
    except InvalidEvent as exc:
        raise _LineProblem(str(exc)) from None
