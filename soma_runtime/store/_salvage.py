"""Reading past a stored event that cannot be decoded: every read path survives any row.

The append path refuses what could not be read back (``_limits``), but a database may hold
rows written before it did, by another program (a hook writes with the standard library), or
damaged on disk. One such row used to fail every page it was on — a subscription, resume at
open, ``soma export`` — again and again. Reads therefore decode a page in one go (the fast
path, see ``sqlite``) and, only when that fails, row by row here: the rows that decode are
served, each one that does not is reported with its ``seq`` and what is wrong with it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ._limits import MAX_PAYLOAD_DEPTH, json_depth
from .events import Event

log = logging.getLogger("soma.event_store")


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored row that could not be decoded into an event (it was skipped)."""

    seq: int
    problem: str


def decode_rows(
    columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> tuple[list[Event], list[Unreadable]]:
    """The rows (``columns`` order, payload last, as stored) as events, and the ones that
    are not: a payload that is not a JSON object, nests deeper than the log accepts, or an
    envelope field of the wrong type."""
    events: list[Event] = []
    bad: list[Unreadable] = []
    for row in rows:
        seq = row[0]
        try:
            events.append(_decode(columns, row))
        except (ValueError, RecursionError, TypeError) as exc:
            problem = _problem(exc)
            bad.append(Unreadable(int(seq) if isinstance(seq, int) else -1, problem))
            log.warning("event seq %s cannot be read and is skipped: %s", seq, problem)
    return events, bad


def _decode(columns: Sequence[str], row: Sequence[Any]) -> Event:
    text = row[-1]
    if not isinstance(text, str):
        raise ValueError(f"its payload is stored as {type(text).__name__}, not JSON text")
    depth = json_depth(text)
    if depth > MAX_PAYLOAD_DEPTH:
        raise ValueError(f"its payload is nested {depth} levels deep, over the limit of {MAX_PAYLOAD_DEPTH}")
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError(f"its payload is a JSON {type(payload).__name__}, not an object")
    fields = dict(zip(columns[:-1], row[:-1], strict=True))
    fields["payload"] = payload
    return Event.model_validate(fields)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "envelope"
        return f"{where}: {first['msg']}"
    if isinstance(exc, json.JSONDecodeError):
        return f"its payload is not JSON: {exc.msg} at character {exc.pos}"
    if isinstance(exc, RecursionError):
        return "its payload is nested too deeply to decode"
    return str(exc)
