"""What the log can journal *and read back*: the limits every value is checked against
before anything is written (docs/design.md §5c, "nothing the runtime accepts can poison the log").

Why limits at all: a value the append path serializes is not necessarily one every read path
can parse. pydantic-core's JSON parser gives up ~254 levels deep ("recursion limit
exceeded"), and a row is read back wrapped in two more levels (the page's array, the
envelope's object): a payload nested 252 deep was committed, and from then on every query
that touched it — the vitals monitor's subscription, resume at the next open, ``soma
export`` — died on it. So the append path refuses what the read path cannot take, with a
margin, and the API refuses what would grow past it once wrapped in an event:

- :data:`MAX_PAYLOAD_DEPTH` bounds a whole payload (``prepare_values`` checks it);
- :data:`MAX_VALUE_DEPTH` bounds a value the runtime wraps into payloads (a step's ``args``,
  a tool's output): the deepest wrapping (``run.accepted``'s ``steps[i].args``) adds 4.

Kept apart from the append path on purpose: the checks here are pure functions the hot path
calls once, cheaply (a bracket count decides before any walk), so a rewrite of the write path
keeps them as they are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

MAX_PAYLOAD_DEPTH: Final = 128
"""Deepest nesting of containers in one stored payload (a scalar is depth 0)."""

MAX_VALUE_DEPTH: Final = 100
"""Deepest nesting of a value (step args, a tool's output) the runtime accepts to journal."""

MAX_ID_LENGTH: Final = 1024
"""Longest id (session, run, step, agent, task, correlation) accepted, in characters."""

_NUL: Final = "\x00"


class LimitExceeded(ValueError):
    """A value cannot be journalled and read back: ``path`` says where (``args.a.b[3]``),
    ``problem`` what, ``limit`` the bound it crossed (None when it is not a bound)."""

    def __init__(self, path: str, problem: str, limit: int | None = None) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.limit = limit


# ---------------------------------------------------------------------------- ids


def check_id(value: object, what: str) -> None:
    """An id is stored as SQLite text and read back as itself: a non-empty ``str`` without
    NUL (SQLite cuts text there), encodable as UTF-8, and not absurdly long."""
    if not isinstance(value, str) or not value:
        raise LimitExceeded(what, f"must be a non-empty str, got {value!r:.60}")
    if _NUL in value:
        raise LimitExceeded(what, f"must not contain NUL characters, got {value!r:.60}")
    if len(value) > MAX_ID_LENGTH:
        raise LimitExceeded(
            what, f"is {len(value)} characters, over the limit of {MAX_ID_LENGTH}", MAX_ID_LENGTH
        )
    if not value.isascii() and not _encodable(value):
        raise LimitExceeded(what, f"must be UTF-8 text (no lone surrogates), got {value!r:.60}")


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# ---------------------------------------------------------------------------- values


def check_value(value: Any, path: str, *, max_depth: int = MAX_VALUE_DEPTH) -> None:
    """Check that ``value`` (JSON-ish data) can be journalled and read back as it is.

    Refused, naming the path of the first offender: nesting deeper than ``max_depth``, a
    cycle, a string that is not UTF-8 text (a lone surrogate), a float JSON cannot hold
    (NaN, ±Infinity), a mapping key that is not a ``str``. Other leaves are left to the
    payload's own validation. Iterative: a value nested 10,000 deep is refused, not a
    ``RecursionError``.
    """
    # (value, path, depth of value); containers on the current branch, for cycles
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        kind = type(item)
        if kind is str:
            if not item.isascii() and not _encodable(item):
                raise LimitExceeded(where, "a string that is not UTF-8 text (a lone surrogate)")
            continue
        if kind is float:
            if item != item or item in (_INF, -_INF):
                raise LimitExceeded(where, f"{item!r} cannot be stored as JSON")
            continue
        if isinstance(item, Mapping):
            children: Any = item.items()
            keyed = True
        elif isinstance(item, list | tuple):
            children = enumerate(item)
            keyed = False
        else:
            continue
        if depth + 1 > max_depth:
            raise LimitExceeded(
                where, f"nested deeper than the limit of {max_depth} levels (or a cycle)", max_depth
            )
        for key, child in children:
            if keyed:
                if not isinstance(key, str):
                    raise LimitExceeded(where, f"mapping key {key!r:.40} is not a str")
                if not key.isascii() and not _encodable(key):
                    raise LimitExceeded(where, f"mapping key {key!r:.40} is not UTF-8 text")
                child_path = f"{where}.{key}" if _PLAIN_KEY.match(key) else f"{where}[{key!r:.40}]"
            else:
                child_path = f"{where}[{key}]"
            stack.append((child, child_path, depth + 1))


_INF: Final = float("inf")
_PLAIN_KEY: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


# ---------------------------------------------------------------------------- serialized JSON

_TOKENS: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(text: str) -> int:
    """The nesting depth of the containers of a JSON text (strings skipped; scalar: 0)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def payload_too_deep(encoded: str, limit: int = MAX_PAYLOAD_DEPTH) -> int | None:
    """The depth of a serialized payload if it is over ``limit``, else None.

    The hot path's check: fewer opening brackets in the text (strings included) than the
    limit cannot nest past it, and two C-speed counts say so for almost every payload;
    only a text with that many brackets is scanned.
    """
    if encoded.count("{") + encoded.count("[") <= limit:
        return None
    # Many brackets (a run's plan of thousands of steps): peel the innermost pairs off, a
    # C-speed pass per level, until none is left — the payload is shallow — or ``limit``
    # passes did not empty it. Only then is the exact depth worth a scan token by token.
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", encoded))
    for _level in range(limit):
        brackets, peeled = _INNERMOST.subn("", brackets)
        if not brackets:
            return None
        if not peeled:
            break  # not balanced: not an encoder's text, so scan it
    depth = json_depth(encoded)
    return depth if depth > limit else None


_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_INNERMOST: Final = re.compile(r"\[\]|\{\}")


# ---------------------------------------------------------------------------- echoes

_LEAVES: Final = frozenset({int, float, bool, type(None)})

ECHO_CHARS: Final = 256
"""Strings longer than this are abbreviated where an event *repeats* a value another event
holds whole (a tool outcome repeating its call's arguments): the payload cap then applies
to what is stored once, not twice."""


def abbreviate(value: Any, max_chars: int = ECHO_CHARS) -> Any:
    """``value`` with every string longer than ``max_chars`` cut to its start, its length and
    a digest of the whole (two different long strings stay different: a retried command is
    still told from another). ``value`` itself when nothing is that long."""
    kind = type(value)
    if kind is str:
        if len(value) <= max_chars:
            return value
        digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
        return f"{value[: max_chars - 64]}… [{len(value)} chars, blake2b {digest}]"
    if kind in _LEAVES:
        return value  # before the ABC checks below, which cost more than all the rest
    if kind is dict and not value:
        return value
    if isinstance(value, Mapping):
        items = {k: abbreviate(v, max_chars) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, list | tuple):
        cut = [abbreviate(v, max_chars) for v in value]
        return value if all(a is b for a, b in zip(cut, value, strict=True)) else cut
    return value
