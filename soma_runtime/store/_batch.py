"""The append path for batches: events prepared a batch at a time, not one by one.

``events.prepare_values`` prepares one event: redact (walking the payload), validate, then
serialize — several microseconds of Python per event, on the appender's event loop, which on
a busy runtime is everyone's time. Two kinds of batch do better:

* **Events the runtime builds itself** (:func:`prepare_trusted`): a run's journal, a
  session's runs. Their payloads were checked when they were *typed* — the code that builds
  them passes the registered model's fields as JSON data, and what they carry from outside (a
  step's ``args``, a tool's output, an error's text) was checked where it entered. So they
  are not validated again: each payload is encoded once, by pydantic-core in C.
* **A caller's batch** (:func:`prepare_batch`, ``append_many``): validated with one call per
  event type (``list[Model]``), in C, rather than one per event.

Redaction is never skipped, only gated: the batch's encoded text is scanned once for anything
redaction could act on (``_redaction.clean_json``: C-speed substring searches); a batch that
has nothing passes, one that might goes event by event through the full path, which redacts
precisely. Every other check of the one-event path stays: size cap, nesting, NaN, ids
(trusted ids were checked where they entered: ``start_session``, ``start_run``,
``validate_plan``).

The test suite runs with :func:`check_trusted` on (``SOMA_CHECK_TRUSTED=1``): every trusted
event is then validated against its model as well, so a builder that drifted from its model
fails there, not in a user's log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, from_json, to_json

from ._limits import MAX_PAYLOAD_DEPTH, payload_too_deep
from ._redaction import clean_json
from .errors import InvalidEvent, PayloadTooLarge
from .events import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_SOURCE,
    SOURCES,
    EventDraft,
    PreparedEvent,
    check_ids,
    direct_json,
    new_event_id,
    payload_model,
    prepare_values,
    summary,
)

_NOT_JSON: Final = (PydanticSerializationError, ValueError, TypeError, RecursionError)
SMALL_BATCH: Final = 4
"""Below this many events, a caller's batch is prepared event by event (no gain in batching)."""


# ------------------------------------------------------------------------- trusted events


def prepare_trusted(
    drafts: Sequence[EventDraft],
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    source: str = DEFAULT_SOURCE,
) -> list[PreparedEvent]:
    """Prepare events the runtime built itself (see the module docstring): encode each
    payload once, gate the batch's text for redaction and NaN in one pass, check sizes.
    Raises what :func:`~events.prepare_values` raises (:class:`PayloadTooLarge`…)."""
    if _CHECKED[0]:
        for draft in drafts:
            _check_trusted_payload(draft)
    try:
        texts = [to_json(d.payload).decode() for d in drafts]
    except _NOT_JSON:
        texts = []  # the full path names the problem
    joined = "\n".join(texts)
    if len(texts) != len(drafts):
        return [_one(d, max_payload_bytes, source) for d in drafts]
    if not clean_json(joined) or "NaN" in joined or "Infinity" in joined:
        return [
            _prepare_one_trusted(d, text, max_payload_bytes, source)
            for d, text in zip(drafts, texts, strict=True)
        ]
    return [_trusted(d, text, max_payload_bytes, source) for d, text in zip(drafts, texts, strict=True)]


def _prepare_one_trusted(draft: EventDraft, text: str, max_payload_bytes: int, source: str) -> PreparedEvent:
    """One event of a batch the gate stopped (``text``: its payload, already encoded): its
    own gate, then the full path if need be."""
    if clean_json(text) and "NaN" not in text and "Infinity" not in text:
        return _trusted(draft, text, max_payload_bytes, source)
    return _one(draft, max_payload_bytes, source)


def _trusted(draft: EventDraft, text: str, max_payload_bytes: int, source: str) -> PreparedEvent:
    # No nesting check: what the runtime wraps into its payloads was checked not to nest
    # deeper than MAX_VALUE_DEPTH where it entered (a step's substituted arguments, just
    # before the step: ``Run``), and its deepest wrapping stays under MAX_PAYLOAD_DEPTH
    # (``_limits``). ``check_trusted`` checks that, and the ids, per event.
    _check_size(draft.type, text, max_payload_bytes)
    return PreparedEvent(
        new_event_id(), time.time_ns(), draft.type, draft[2:9], None, text, draft.source or source
    )


_CHECKED: Final = [os.environ.get("SOMA_CHECK_TRUSTED") == "1"]


def check_trusted(on: bool = True) -> None:
    """Validate every event the runtime builds itself against its payload model, and its ids
    and nesting against the limits, as well (for test suites: a builder that drifted from
    its model raises :class:`InvalidEvent` at once). ``SOMA_CHECK_TRUSTED=1`` in the
    environment turns it on at import (Soma's own suite sets it, for its child processes
    too)."""
    _CHECKED[0] = on


def _check_trusted_payload(draft: EventDraft) -> None:
    type, payload = draft.type, draft.payload
    try:
        text = to_json(payload).decode()
    except _NOT_JSON:
        return  # not JSON at all: the append path refuses it, naming the problem
    if "NaN" in text or "Infinity" in text:
        return  # ... the same
    check_ids(type, draft[2:9])
    model = payload_model(type)
    try:
        validated = model.__pydantic_validator__.validate_python(payload)
    except ValidationError as exc:
        problem = f"a runtime-built payload does not match {model.__name__}: {summary(exc)}"
        raise InvalidEvent(type, problem) from None
    deep = payload_too_deep(text)
    if deep is not None:
        raise InvalidEvent(type, f"a runtime-built payload is nested {deep} levels deep")
    dumped = model.__pydantic_serializer__.to_python(validated, mode="json")
    data = from_json(text)
    if {key: value for key, value in dumped.items() if key in data} != data:
        # Stored as built, it must be what the validated path stores (a default left out
        # reads back the same: ``Event.data()`` fills it in).
        problem = f"a runtime-built payload differs from its {model.__name__}: {payload!r:.200}"
        raise InvalidEvent(type, problem)


# ------------------------------------------------------------------------- a caller's batch


def prepare_batch(
    drafts: Sequence[EventDraft],
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    source: str = DEFAULT_SOURCE,
) -> list[PreparedEvent]:
    """Prepare a caller's events exactly as :func:`~events.prepare_values` would, one by one —
    the same stored payloads, the same errors — with the work done a batch at a time: one
    encoding and one redaction gate for the whole batch, one validation per event type.

    Anything the batch route is not sure of (a suspicious text, a payload that fails to
    validate or to encode, a model that serializes apart from its dump) sends the events
    concerned through the one-event path, which then decides and words the error.
    """
    if len(drafts) < SMALL_BATCH:
        return [_one(d, max_payload_bytes, source) for d in drafts]
    try:
        raw = to_json([d.payload for d in drafts]).decode()
    except _NOT_JSON:
        raw = ""
    if not raw or not clean_json(raw) or "NaN" in raw or "Infinity" in raw:
        return [_one(d, max_payload_bytes, source) for d in drafts]
    texts: list[str] = [""] * len(drafts)
    by_type: dict[str, list[int]] = {}
    for index, draft in enumerate(drafts):
        by_type.setdefault(draft.type, []).append(index)
    for event_type, indexes in by_type.items():
        validated = _validated_texts(event_type, [drafts[i].payload for i in indexes])
        if validated is None:
            # Not vouched for: every event goes the one-event way, so that the error raised
            # is the one the first bad event would raise there.
            return [_one(d, max_payload_bytes, source) for d in drafts]
        for i, text in zip(indexes, validated, strict=True):
            texts[i] = text
    return _checked(drafts, texts, max_payload_bytes, source)


def _one(draft: EventDraft, max_payload_bytes: int, source: str) -> PreparedEvent:
    """One event the one-event way (``events.prepare_values``): it decides, and words the
    error."""
    return prepare_values(
        draft.type,
        draft.payload,
        draft[2:9],
        max_payload_bytes=max_payload_bytes,
        source=draft.source or source,
    )


def _validated_texts(event_type: str, payloads: list[Any]) -> list[str] | None:
    """Each payload validated against ``event_type``'s model and serialized, or None if the
    batch route cannot vouch for them (the one-event path then decides, event by event)."""
    if not isinstance(event_type, str):
        return None
    try:
        model = payload_model(event_type)
    except InvalidEvent:
        return None
    # Plain dicts only: a model instance is dumped first on the one-event path, which its
    # serialization need not match (a field serializer, a secret type).
    if not direct_json(model) or any(p is not None and type(p) is not dict for p in payloads):
        return None
    data = [{} if p is None else p for p in payloads]
    try:
        validated = _list_of(model).validate_python(data)
        serializer = model.__pydantic_serializer__
        return [serializer.to_json(v).decode() for v in validated]
    except (ValidationError, *_NOT_JSON):
        return None


@lru_cache(maxsize=256)
def _list_of(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _checked(
    drafts: Sequence[EventDraft], texts: list[str], max_payload_bytes: int, default_source: str
) -> list[PreparedEvent]:
    """What the one-event path checks besides the payload itself — ids, source, nesting,
    size — for a whole batch in one loop. A batch's events mostly share their ids (one run's,
    one session's), so ids equal to the last event's, which passed, are not checked again."""
    prepared: list[PreparedEvent] = []
    passed: tuple[Any, ...] | None = None
    for draft, text in zip(drafts, texts, strict=True):
        type = draft.type
        ids = draft[2:9]
        try:
            known = ids == passed
        except Exception:  # an id whose == will not say (an array): not known, so checked
            known = False
        if not known:
            if len(ids) != 7:
                raise InvalidEvent(type, f"expected 7 id values, got {len(ids)}")
            check_ids(type, ids)
            passed = ids
        source = draft.source or default_source
        if source not in SOURCES:
            raise InvalidEvent(type, f"source must be one of {', '.join(SOURCES)}, got {source!r:.60}")
        deep = payload_too_deep(text)
        if deep is not None:
            raise InvalidEvent(
                type, f"payload is nested {deep} levels deep, over the limit of {MAX_PAYLOAD_DEPTH}"
            )
        _check_size(type, text, max_payload_bytes)
        prepared.append(PreparedEvent(new_event_id(), time.time_ns(), type, ids, None, text, source))
    return prepared


def _check_size(type: str, text: str, max_payload_bytes: int) -> None:
    # len(str) <= UTF-8 size <= 4 * len(str): encode only when the cheap bounds do not decide.
    size = len(text)
    if size > max_payload_bytes or (
        size * 4 > max_payload_bytes and (size := len(text.encode())) > max_payload_bytes
    ):
        raise PayloadTooLarge(type, size, max_payload_bytes)
