"""The event envelope, the registry of event types, and the append path's preparation.

Every state change in Soma is an :class:`Event` (docs/design.md §4). The envelope is fixed; the
payload is checked against the model registered for the event's ``type`` (the core ones are in
``payloads``), then stored as plain JSON. Upper layers (vitals, actors) add their own types
with :func:`register_event_type` — either one name (``"vitals.updated"``) or a family
(``"actor.*"``: every ``actor.<something>``; an exact registration wins over a family).

Payload models allow extra fields (``extra="allow"``) on purpose: a later layer may enrich an
event with fields the core does not know, and that must not be a breaking change. What a model
*declares* is checked (required fields present, types right).

The hot path is :func:`prepare_event`, run in the appender's task: redact → validate the
payload once → serialize it once. After the commit the store stamps ``seq``; the envelope is
then built once, without validating again (``PreparedEvent.event``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Literal, NamedTuple, get_args, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticSerializationError, from_json, to_json

from ._limits import MAX_PAYLOAD_DEPTH, payload_too_deep
from ._redaction import redact
from .errors import EventTypeConflict, InvalidEvent, PayloadTooLarge, UnknownEventType
from .payloads import CORE_PAYLOADS

ID_FIELDS: Final = (
    "session_id",
    "run_id",
    "step_id",
    "tool_call_id",
    "agent_id",
    "task_id",
    "correlation_id",
)
"""The correlation ids of the envelope, in storage order."""

Source = Literal["runtime", "hook", "wrap", "replay", "test"]
"""Who recorded an event: a runtime (``runtime``), a Claude Code hook (``hook``), a wrapped SDK
client (``wrap``), a replay of a recorded log (``replay``) or a test (``test``). Reports of what
agents did in earnest (``soma outcomes``) leave ``replay`` and ``test`` out."""

SOURCES: Final[tuple[str, ...]] = get_args(Source)
DEFAULT_SOURCE: Final = "runtime"

DEFAULT_MAX_PAYLOAD_BYTES: Final = 1024 * 1024
"""Default cap on one event's serialized (UTF-8 JSON) payload: 1 MiB.

Events are records of what happened, not blob storage: a tool that returns megabytes should
store a reference (a path, a digest) and put a summary in the event. The store's
``max_payload_bytes`` setting overrides it.
"""

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_FAMILY_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*$")


class Event(BaseModel):
    """One immutable entry of the log. ``seq`` is assigned by the store: gap-free, from 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    event_id: str
    ts: int
    """Wall-clock time of the append, in nanoseconds since the epoch."""
    type: str
    session_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    tool_call_id: str | None = None
    agent_id: str | None = None
    task_id: str | None = None
    correlation_id: str | None = None
    source: Source = DEFAULT_SOURCE
    """Who recorded it (see :data:`Source`); a log from before the field reads ``runtime``
    (or, for an outside agent's events, the ``source`` their payload named)."""
    payload: dict[str, Any] = Field(default_factory=dict)

    def data(self) -> BaseModel:
        """The payload parsed into its registered model (typed access to its fields)."""
        return payload_model(self.type).model_validate(self.payload)

    def to_json(self) -> str:
        """The envelope as one line of JSON (the JSONL export format)."""
        return self.model_dump_json()


# --------------------------------------------------------------------------- registry

_EXACT: dict[str, type[BaseModel]] = {}
_FAMILIES: dict[str, type[BaseModel]] = {}  # "actor." -> model, for "actor.*"
_RESOLVED: dict[str, type[BaseModel]] = {}  # lookup cache, cleared on registration


def register_event_type(name: str, model: type[BaseModel], *, replace: bool = False) -> None:
    """Register ``model`` as the payload of event type ``name`` (or a family ``"x.*"``).

    Registering the same model twice is a no-op; a *different* model for a taken name raises
    :class:`EventTypeConflict` unless ``replace=True``.
    """
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"payload model for {name!r} must be a pydantic model class, got {model!r}")
    if _FAMILY_NAME.match(name):
        table, key = _FAMILIES, name[:-1]
    elif _TYPE_NAME.match(name):
        table, key = _EXACT, name
    else:
        raise ValueError(
            f"event type name {name!r} must be dotted lowercase words "
            "(e.g. 'run.cancelled') or a family ending in '.*' (e.g. 'actor.*')"
        )
    existing = table.get(key)
    if existing is not None and existing is not model and not replace:
        raise EventTypeConflict(name, existing, model)
    table[key] = model
    _RESOLVED.clear()


def payload_model(event_type: str) -> type[BaseModel]:
    """The payload model of ``event_type``; :class:`UnknownEventType` if none is registered."""
    model = _RESOLVED.get(event_type)
    if model is not None:
        return model
    model = _EXACT.get(event_type)
    if model is None and isinstance(event_type, str) and _TYPE_NAME.match(event_type):
        # Longest family prefix wins: "actor.task.*" before "actor.*".
        for prefix in sorted(_FAMILIES, key=len, reverse=True):
            if event_type.startswith(prefix):
                model = _FAMILIES[prefix]
                break
    if model is None:
        raise UnknownEventType(event_type)
    _RESOLVED[event_type] = model
    return model


def event_types() -> dict[str, type[BaseModel]]:
    """A snapshot of the registry: exact names and families (``"actor.*"``)."""
    return {**_EXACT, **{prefix + "*": model for prefix, model in _FAMILIES.items()}}


for _name, _model in CORE_PAYLOADS.items():
    register_event_type(_name, _model)


# --------------------------------------------------------------------------- the append path

# Event ids: a per-process prefix (start time + randomness) and a counter. Cheaper than uuid4
# (a fifth of the cost) and near-sequential, which keeps the unique index on event_id
# appending at its right edge instead of splitting random B-tree pages.
_ID_PREFIX: Final = f"ev-{time.time_ns():x}{os.urandom(3).hex()}-"
_ID_COUNTER = itertools.count(1)


def new_event_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


class PreparedEvent:
    """An event validated and serialized, waiting for the store to assign its ``seq``.

    After the commit the store sets ``seq``; ``event()`` then builds the envelope once, lazily,
    in whichever task first needs it (the appender or a subscriber) — not in the single
    writer, whose time is everyone's latency.
    """

    __slots__ = (
        "_event",
        "_payload",
        "event_id",
        "ids",
        "payload_json",
        "seq",
        "source",
        "ts",
        "type",
    )

    def __init__(
        self,
        event_id: str,
        ts: int,
        type: str,
        ids: tuple[str | None, ...],
        payload: dict[str, Any] | None,
        payload_json: str,
        source: str = DEFAULT_SOURCE,
    ) -> None:
        self.event_id = event_id
        self.source = source
        self.ts = ts
        self.type = type
        self.ids = ids
        self._payload = payload  # None: parsed from payload_json when first needed
        self.payload_json = payload_json
        self.seq = 0
        self._event: Event | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The payload as JSON data: what ``payload_json`` stores, parsed on first use.

        Lazily, because most prepared events are only ever written: a run's events wait in
        the feed's ring for subscribers that may never come, and there a parsed payload would
        be several more objects per event for the garbage collector to walk, again and again.
        """
        payload = self._payload
        if payload is None:
            payload = self._payload = from_json(self.payload_json)
        return payload

    @property
    def row(self) -> str:
        """The database row as JSON, minus its seq (the writer's to assign). Made in the
        producer's task, where a request joins its events' rows (``server.Append``), so the
        single writer only joins one text per request; not kept, so the feed's ring does not
        hold every payload twice."""
        event_id, type, source = self.event_id, self.type, self.source
        if event_id.startswith(_ID_PREFIX) and (type in _EXACT or type in _RESOLVED) and source in SOURCES:
            # Our own event id, a registered type name, a known source: nothing in them needs
            # escaping. The ids are encoded once per combination (a run's events share theirs).
            ids_json = _IDS_JSON.get(self.ids)
            if ids_json is None:
                ids_json = _encoded_ids(self.ids)
            return f'["{event_id}",{self.ts},"{type}",{ids_json},"{source}",{self.payload_json}]'
        return f"{to_json((event_id, self.ts, type, *self.ids, source)).decode()[:-1]},{self.payload_json}]"

    def row_json(self, seq: int) -> str:
        """The database row as a JSON array, in the column order of the ``events`` table."""
        return f"[{seq},{self.row[1:]}"

    def event(self) -> Event:
        """The committed envelope (``seq`` must have been assigned)."""
        event = self._event
        if event is None:
            event = self._event = envelope(
                self.seq, self.event_id, self.ts, self.type, self.ids, self.source, self.payload
            )
        return event

    def committed(self) -> Committed:
        """The committed event (``seq`` assigned) as the feed's ring keeps it."""
        return (self.seq, self.event_id, self.ts, self.type, self.source, self.payload_json, *self.ids)


Committed = tuple[Any, ...]
"""A committed event as the feed's ring keeps it: ``(seq, event_id, ts, type, source,
payload_json, *ids)``, the ids in ``ID_FIELDS`` order.

A flat tuple of atoms (strings, ints, None), because the cyclic collector stops tracking
such a tuple the first time it meets it: the ring's 10,000 events cost no full collection
anything, and are never promoted towards one. (Flat: a nested ids tuple, older and already
promoted, would keep its row tracked until a full collection untracked it first.)
"""


def committed_event(row: Committed) -> Event:
    """The envelope of a committed event the ring keeps (its payload parsed here)."""
    return envelope(row[0], row[1], row[2], row[3], row[6:], row[4], from_json(row[5]))


def envelope(
    seq: int, event_id: str, ts: int, type: str, ids: tuple[str | None, ...], source: str, payload: Any
) -> Event:
    """A committed event's envelope from its parts, validated where they were prepared."""
    session_id, run_id, step_id, tool_call_id, agent_id, task_id, correlation_id = ids
    return trusted_event(
        {
            "seq": seq,
            "event_id": event_id,
            "ts": ts,
            "type": type,
            "session_id": session_id,
            "run_id": run_id,
            "step_id": step_id,
            "tool_call_id": tool_call_id,
            "agent_id": agent_id,
            "task_id": task_id,
            "correlation_id": correlation_id,
            "source": source,
            "payload": payload,
        }
    )


class CommittedEvents(Sequence["Event"]):
    """What ``EventLog.append_many`` answers: the batch's committed envelopes, each built
    when it is first read (and kept).

    An envelope is a pydantic model with its payload parsed back from JSON: ~3 µs an event,
    a third of the appender's share of a batch (measured: ``BENCHMARKS.md``, issue 15). Most
    callers read a seq or nothing; they should not pay for the rest. A caller that reads
    every envelope pays what it paid before, once.
    """

    __slots__ = ("_prepared",)

    def __init__(self, prepared: list[PreparedEvent]) -> None:
        self._prepared = prepared

    def __len__(self) -> int:
        return len(self._prepared)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            return [prepared.event() for prepared in self._prepared[index]]
        return self._prepared[index].event()

    def __iter__(self) -> Iterator[Event]:
        return (prepared.event() for prepared in self._prepared)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable as one

    def __repr__(self) -> str:
        return f"CommittedEvents({list(self)!r})"


_IDS_JSON: dict[tuple[str | None, ...], str] = {}
_IDS_JSON_SIZE: Final = 4096


def _encoded_ids(ids: tuple[str | None, ...]) -> str:
    """``ids`` as the JSON of their columns, remembered (a bounded number: forgotten all at
    once when full, which costs one encoding each for the ids in use)."""
    text = to_json(ids).decode()[1:-1]
    if len(_IDS_JSON) >= _IDS_JSON_SIZE:
        _IDS_JSON.clear()
    _IDS_JSON[ids] = text
    return text


# Every trusted envelope has every field set, so they all share one fields-set: one set less
# to allocate per event, and one object less per event for the garbage collector to walk
# again and again while the event sits in the feed's ring. Safe to share because nothing
# mutates it in place: an Event is frozen, and pydantic copies the set in ``model_copy``.
_ALL_FIELDS_SET: Final = set(Event.model_fields)


def trusted_event(fields: dict[str, Any]) -> Event:
    """An ``Event`` from fields this module validated itself, without validating them again.

    What ``BaseModel.model_construct`` does, minus its generic per-field default handling
    (every field is present here): a third of the cost of validation, on the hottest path.
    ``test_events`` checks the result is indistinguishable from a validated ``Event``.
    """
    event = Event.__new__(Event)
    object.__setattr__(event, "__dict__", fields)
    object.__setattr__(event, "__pydantic_fields_set__", _ALL_FIELDS_SET)
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event


class EventDraft(NamedTuple):
    """An event to append (``EventLog.append_many``): type, payload and correlation ids.

    A named tuple rather than a dataclass: drafts are built by the thousand, and a frozen
    dataclass pays a ``__setattr__`` per field.
    """

    type: str
    payload: Mapping[str, Any] | BaseModel | None = None
    session_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    tool_call_id: str | None = None
    agent_id: str | None = None
    task_id: str | None = None
    correlation_id: str | None = None
    source: str | None = None
    """Who records it (:data:`Source`); None: the store's default (``EventStoreConfig.source``)."""

    def id_values(self) -> tuple[Any, ...]:
        return self[2:9]


def prepare_event(
    type: str,
    payload: Mapping[str, Any] | BaseModel | None,
    ids: Mapping[str, str | None] | None = None,
    *,
    event_id: str | None = None,
    ts: int | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    source: str = DEFAULT_SOURCE,
) -> PreparedEvent:
    """Check, redact and serialize one event; :class:`InvalidEvent` names what was wrong.

    ``ids`` maps id field names (``run_id``…) to values; unknown names are rejected.
    """
    if ids:
        unknown = set(ids) - set(ID_FIELDS)
        if unknown:
            raise InvalidEvent(type, f"unknown id field(s) {sorted(unknown)}; known: {ID_FIELDS}")
        values: tuple[Any, ...] = tuple(ids.get(name) for name in ID_FIELDS)
    else:
        values = _NO_IDS
    return prepare_values(
        type, payload, values, event_id=event_id, ts=ts, max_payload_bytes=max_payload_bytes, source=source
    )


_NO_IDS: Final = (None,) * len(ID_FIELDS)

# Ids are stored as SQLite text columns, and SQLite cuts such text at a NUL: "a\x00b" was
# acknowledged as itself and read back as "a". Ids are identifiers, so NUL is refused up
# front (payload strings keep theirs: the payload is stored as JSON, where NUL is escaped).
_NUL: Final = "\x00"


def _utf8(text: str) -> bool:
    """Whether ``text`` is encodable (a lone surrogate is not): ASCII, the usual id, is free."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def prepare_values(
    type: str,
    payload: Mapping[str, Any] | BaseModel | None,
    id_values: tuple[Any, ...],
    *,
    event_id: str | None = None,
    ts: int | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    source: str = DEFAULT_SOURCE,
) -> PreparedEvent:
    """:func:`prepare_event` with the ids already in ``ID_FIELDS`` order (the hot path)."""
    if not isinstance(type, str):
        raise InvalidEvent(type, f"type must be a str, got {_kind(type)}")
    model = payload_model(type)
    if len(id_values) != len(ID_FIELDS):
        raise InvalidEvent(type, f"expected {len(ID_FIELDS)} id values, got {len(id_values)}")
    check_ids(type, id_values)
    if event_id is not None and not (isinstance(event_id, str) and event_id and _NUL not in event_id):
        raise InvalidEvent(type, f"event_id must be a non-empty str without NUL, got {_kind(event_id)}")
    if ts is not None and not (isinstance(ts, int) and not isinstance(ts, bool)):
        raise InvalidEvent(type, f"ts must be an int (nanoseconds), got {_kind(ts)}")
    if source not in SOURCES:
        raise InvalidEvent(type, f"source must be one of {', '.join(SOURCES)}, got {_kind(source)}")

    if payload is None:
        raw: Any = {}
    elif isinstance(payload, BaseModel):
        raw = payload.model_dump()
    elif isinstance(payload, Mapping):
        raw = payload
    else:
        raise InvalidEvent(type, f"payload must be a mapping or a model, got {_kind(payload)}")
    try:
        # Redact *before* validating so a secret cannot leak through a validation message.
        clean = redact(raw)
        validated = model.__pydantic_validator__.validate_python(clean)
        serializer = model.__pydantic_serializer__
        data: dict[str, Any] | None
        if direct_json(model):
            # Serialized straight from the model: the same text as dumping it to JSON data and
            # encoding that, without building the data (``PreparedEvent.payload`` parses the
            # text back if anyone asks for it).
            data, encoded = None, serializer.to_json(validated).decode()
        else:
            data = serializer.to_python(validated, mode="json")
            encoded = to_json(data).decode()
    except ValidationError as exc:
        raise InvalidEvent(type, f"payload does not match {model.__name__}: {summary(exc)}") from None
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        raise InvalidEvent(type, f"payload is not JSON-serializable: {exc}") from None
    except RecursionError:
        raise InvalidEvent(type, "payload is nested too deeply (or contains a cycle)") from None
    if ("NaN" in encoded or "Infinity" in encoded) and _has_non_finite(encoded):
        # JSON has no NaN/Infinity; SQLite would refuse the whole batch this event is in.
        raise InvalidEvent(type, "payload contains NaN or Infinity, which JSON cannot represent")
    deep = payload_too_deep(encoded)
    if deep is not None:
        # Committed, it could not be read back (see ``_limits``): refused before the store.
        raise InvalidEvent(
            type, f"payload is nested {deep} levels deep, over the limit of {MAX_PAYLOAD_DEPTH}"
        )
    # len(str) <= UTF-8 size <= 4 * len(str): encode only when the cheap bounds do not decide.
    size = len(encoded)
    if size > max_payload_bytes or (
        size * 4 > max_payload_bytes and (size := len(encoded.encode())) > max_payload_bytes
    ):
        raise PayloadTooLarge(type, size, max_payload_bytes)
    return PreparedEvent(
        event_id if event_id is not None else new_event_id(),
        ts if ts is not None else time.time_ns(),
        type,
        id_values,
        data,
        encoded,
        source,
    )


def check_ids(type: str, id_values: tuple[Any, ...]) -> None:
    """:class:`InvalidEvent` for an id the log cannot store as itself (naming the field)."""
    for value in id_values:  # the common case in one pass; the slow path names the field
        # (isascii is one C call; a non-ASCII id takes the slow path, which checks it properly)
        if value is not None and (value.__class__ is not str or _NUL in value or not value.isascii()):
            for name, v in zip(ID_FIELDS, id_values, strict=True):
                if v is None:
                    continue
                if not isinstance(v, str):
                    raise InvalidEvent(type, f"{name} must be a str or None, got {_kind(v)}")
                if _NUL in v:
                    raise InvalidEvent(type, f"{name} must not contain NUL characters, got {v!r:.60}")
                if not _utf8(v):
                    raise InvalidEvent(type, f"{name} must be UTF-8 text (no lone surrogates), got {v!r:.60}")


def direct_json(model: type[BaseModel]) -> bool:
    """Whether ``model`` may be serialized straight to JSON (see ``_DIRECT_JSON``)."""
    direct = _DIRECT_JSON.get(model)
    if direct is None:
        direct = _DIRECT_JSON[model] = _direct_json_is_exact(model.__pydantic_core_schema__)
    return direct


_DIRECT_JSON: dict[type[BaseModel], bool] = {}
"""Per payload model: does serializing it straight to JSON give the same text as dumping it
to JSON data first? Not when a declared float may hold NaN/Infinity: the dump keeps the
value (which the append then refuses), the direct route writes ``null`` instead."""


def _direct_json_is_exact(schema: Any, allow_inf_nan: bool = True) -> bool:
    """Whether no float or decimal in this core schema can validate a non-finite value and
    no serializer is a user function (whose output the two routes could treat apart)."""
    if isinstance(schema, dict):
        config = schema.get("config")
        if isinstance(config, dict) and "allow_inf_nan" in config:
            allow_inf_nan = config["allow_inf_nan"] is not False
        kind = schema.get("type")
        if kind in ("float", "decimal") and schema.get("allow_inf_nan", allow_inf_nan) is not False:
            return False
        if kind in ("function-plain", "function-wrap"):
            return False
        serialization = schema.get("serialization")
        if isinstance(serialization, dict) and str(serialization.get("type", "")).startswith("function"):
            return False
        return all(_direct_json_is_exact(value, allow_inf_nan) for value in schema.values())
    if isinstance(schema, list | tuple):
        return all(_direct_json_is_exact(value, allow_inf_nan) for value in schema)
    return True


def _has_non_finite(encoded: str) -> bool:
    """Whether the JSON text has a bare NaN/Infinity (not merely those letters in a string)."""

    def refuse(_constant: str) -> None:
        raise ValueError

    try:
        json.loads(encoded, parse_constant=refuse)
    except ValueError:
        return True
    return False


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def summary(exc: ValidationError) -> str:
    """A validation error in a line: the first few problems, by field."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
