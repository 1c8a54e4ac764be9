"""Event payloads as the store writes them, with the standard library alone.

The store validates a payload through its registered pydantic model and serializes the
result: the model's declared fields first, in declaration order, defaults filled in, then the
extra fields in the order given; compact JSON, UTF-8 text unescaped. ``soma hook`` must not
import pydantic (it costs more than the whole hook may take), yet the events it writes
directly must be the events the store would have written. So this module keeps, per event
type the integrations write, the declared fields and their defaults (:data:`DECLARED`), and
encodes JSON as pydantic-core does — including its float format, which differs from
Python's ``repr`` in one place: exponents are not zero-padded (``1.5e-7``, not ``1.5e-07``),
and numbers of the order 1e-5 are written out (``0.000025``).

``tests/actor/integrations/test_wire.py`` holds both halves to the store: every table entry
against the payload model's fields, and the encoding of generated payloads against
``prepare_event``'s, byte for byte.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

REQUIRED: Final = object()
"""A declared field without a default: the caller must give it."""

Fields = tuple[tuple[str, Any], ...]

_USAGE: Final = (
    ("input_tokens", 0),
    ("output_tokens", 0),
    ("cache_read_tokens", 0),
    ("cache_write_tokens", 0),
)
_LLM: Final = (
    ("model", None),
    ("provider", None),
    ("usage", _USAGE),
    ("cost_usd", 0.0),
    ("duration_ms", None),
)
_TASK_ENDED: Final[Fields] = (("reply", None), ("error", None), ("usage", {}), ("runs", []))

DECLARED: Final[dict[str, Fields]] = {
    "session.started": (("intent", None), ("metadata", {})),
    "session.stopped": (("reason", "normal"),),
    "tool.started": (("tool", REQUIRED), ("args", {}), ("isolation", None)),
    "tool.succeeded": (("tool", REQUIRED), ("output", None), ("duration_ms", None)),
    "tool.failed": (("tool", REQUIRED), ("error", REQUIRED), ("duration_ms", None)),
    "tool.blocked": (("tool", REQUIRED), ("reason", REQUIRED), ("pressure", None)),
    "llm.started": _LLM,
    "llm.succeeded": (*_LLM, ("text", None), ("stop_reason", None)),
    "llm.failed": (*_LLM, ("error", REQUIRED)),
    "llm.cancelled": (*_LLM, ("reason", None)),
    "vitals.updated": (("pressure", REQUIRED), ("mode", REQUIRED), ("signals", {})),
    "guidance.fired": (("message", REQUIRED), ("pattern", None), ("mode", None), ("pressure", None)),
    "guidance.delivered": (("firing_ids", REQUIRED), ("channel", REQUIRED), ("upto_seq", REQUIRED)),
    "guidance.outcome": (
        ("firing_id", REQUIRED),
        ("pattern", REQUIRED),
        ("arm", None),
        ("horizon", REQUIRED),
        ("censored", REQUIRED),
        ("pressure_at_firing", REQUIRED),
        ("pressure", None),
        ("pressure_change", None),
        ("error", None),
        ("recovered", None),
    ),
    "lesson.recorded": (("lesson_id", REQUIRED), ("tool", REQUIRED), ("error", REQUIRED), ("fix", REQUIRED)),
    "lesson.recalled": (("lesson_id", REQUIRED), ("firing_id", REQUIRED), ("similarity", REQUIRED)),
    "vitals.trust": (("src", REQUIRED), ("dst", REQUIRED), ("trust", REQUIRED)),
    "actor.task.received": (
        ("message", REQUIRED),
        ("timeout", None),
        ("from_actor", None),
        ("parent_task_id", None),
    ),
    "actor.task.completed": _TASK_ENDED,
    "actor.task.cancelled": _TASK_ENDED,
    "hook.error": (),
    "hook.tool_interrupted": (),
    "hook.spooled": (),
}
"""Declared payload fields (name, default) of each event type written without the store.
A default that is itself a tuple of fields is a nested model (``usage``)."""

FLOAT_FIELDS: Final = frozenset(
    {
        "cost_usd",
        "trust",
        "pressure",
        "duration_ms",
        "timeout",
        "pressure_at_firing",
        "pressure_change",
        "similarity",
    }
)
"""Declared fields typed ``float``: an int given for one is written as a float, as the
model's validation makes it."""
FLOAT_MAPS: Final = frozenset({"signals"})
"""Declared fields typed ``dict[str, float]``, likewise."""


class WireError(ValueError):
    """A payload the store would refuse (a missing required field, an unknown type, a value
    that is not JSON)."""


def canonical(type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` as the store's model would hold it: declared fields first, defaults filled
    in, then the extra fields in their order."""
    declared = DECLARED.get(type)
    if declared is None:
        raise WireError(f"event type {type!r} is not written by the integrations")
    return _shape(type, declared, payload)


def _shape(type: str, declared: Fields, payload: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, default in declared:
        if name in payload:
            value = payload[name]
            if isinstance(default, tuple) and isinstance(value, Mapping):
                value = _shape(type, default, value)
            elif name in FLOAT_FIELDS and type_is_int(value):
                value = float(value)
            elif name in FLOAT_MAPS and isinstance(value, Mapping):
                value = {k: float(v) if type_is_int(v) else v for k, v in value.items()}
        elif default is REQUIRED:
            raise WireError(f"a {type} payload needs {name!r}")
        elif isinstance(default, tuple):
            value = {field: nested for field, nested in default}
        else:
            value = _copy(default)
        out[name] = value
    for name, value in payload.items():
        if name not in out:
            out[name] = value
    return out


def type_is_int(value: Any) -> bool:
    return type(value) is int


def _copy(default: Any) -> Any:
    return (
        dict(default)
        if isinstance(default, dict)
        else list(default)
        if isinstance(default, list)
        else default
    )


def encode(value: Any) -> str:
    """``value`` as compact JSON text, exactly as pydantic-core writes it."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


_dumps: Final = json.JSONEncoder(ensure_ascii=False).encode  # strings: the same escapes as the store


def _encode(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_dumps(value))
    elif kind is dict:
        out.append("{")
        first = True
        for key, item in value.items():
            if type(key) is not str:
                raise WireError(f"a JSON object key must be a string, got {key!r:.60}")
            if not first:
                out.append(",")
            first = False
            out.append(_dumps(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(str(value))
    elif kind is float:
        out.append(float_text(value))
    else:
        raise WireError(f"{kind.__name__} is not JSON: {value!r:.60}")


def float_text(value: float) -> str:
    """A finite float as pydantic-core writes it (see the module docstring)."""
    if not math.isfinite(value):
        raise WireError(f"{value!r} is not JSON (the store refuses NaN and infinities)")
    text = repr(value)
    mantissa, marker, exponent = text.partition("e-")
    if not marker:
        return text
    power = int(exponent)
    if power == 5:  # written out, as 1e-5 ≤ |x| < 1e-4 always is there
        sign = "-" if mantissa.startswith("-") else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e-{power}"


def clean(value: Any, *, depth: int = 0) -> Any:
    """Untrusted JSON data (a hook's stdin, an SDK's answer) made storable: strings with lone
    surrogates repaired, non-finite floats and non-JSON leaves turned into text, nesting
    bounded — what the store would otherwise refuse, and a hook must never fail over."""
    if depth > 32:
        return "…"
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is dict:
        return {_text(str(k)): clean(v, depth=depth + 1) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [clean(v, depth=depth + 1) for v in value]
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    return _text(repr(value))


def _text(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text


def bounded(value: Any, budget: int = 4000) -> Any:
    """``value`` with long strings cut so the whole stays near ``budget`` characters: tool
    output is evidence for the log, not a copy of every file read."""
    state = [budget]

    def cut(item: Any, depth: int) -> Any:
        if isinstance(item, str):
            room = max(state[0], 200)
            state[0] -= min(len(item), room)
            if len(item) <= room:
                return item
            return f"{item[:room]}… [{len(item) - room} more characters]"
        if isinstance(item, dict):
            return {k: cut(v, depth + 1) for k, v in item.items()}
        if isinstance(item, list):
            kept = [cut(v, depth + 1) for v in item[:50]]
            if len(item) > 50:
                kept.append(f"… [{len(item) - 50} more items]")
            return kept
        return item

    return cut(value, 0)
