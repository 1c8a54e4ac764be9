"""Redaction of credentials before an event payload is validated or stored.

Provider secrets must never land in the log (docs/design.md §4): the log is exported, shown on the
dashboard and replayed. Two nets, applied to every payload on the append path:

* keys that name a credential (``api_key``, ``Authorization``, ``access_token``,
  ``client_secret``, ``password``, ``Cookie``…, at any depth) get their value replaced;
* string values that *look* like a well-known credential (``sk-…`` provider keys,
  ``Bearer …``, AWS key ids, GitHub/Slack/Google tokens, JWTs, PEM private keys) have the
  matching part replaced, wherever they appear.

Three more nets (docs/design.md §5c), for values no shape gives away:

* exact values registered as secrets (``Runtime.open(secrets=[...])``, provider keys,
  credential-looking environment variables: :func:`register_secrets`) are replaced wherever
  they appear, inside any string;
* a value once seen under a credential key is remembered (a bounded number of them) and
  replaced wherever it appears later — a tool's *output* repeating the ``token`` it was given;
* ``password=…`` / ``api_key: …`` written inside a string keep the name and lose the value.

Key matching works on the *words* of a key (split on ``_ - .`` and camelCase) rather than on
substrings, so ``max_tokens``/``input_tokens``/``token_usage`` (usage accounting the vitals
need) are kept while ``token``/``access_token``/``x-auth-token`` are redacted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from functools import lru_cache
from itertools import pairwise
from typing import Any, Final

REDACTED = "[REDACTED]"

# Words that make a key sensitive wherever they appear in it.
_ANYWHERE = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "secrets",
        "authorization",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "apikey",
        "privatekey",
        "bearer",
    }
)
# Words that make a key sensitive when they are its last word (``github_token``, but not
# ``token_count``).
_TERMINAL = frozenset({"token", "auth", "pat"})
# ``<word> key`` pairs (``api_key``, ``x-api-key``, ``private_key``, ``signing_key``…).
_KEY_QUALIFIERS = frozenset({"api", "private", "access", "secret", "signing", "encryption"})

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Credential shapes as (start, rest). Every shape begins with a literal ``start``, so a value
# that contains none of the starts cannot match, and ``_STARTS`` (the starts alone, without
# the ``\b`` assertions) finds that out ~20x faster than the full alternation, which costs
# ~0.1 us per character: measured here, 53 us against 2.3 us for 540 characters, 1.1 ms
# against 42 us for 10 KB — a cost paid on every string of every appended payload (model and
# tool output). The full pattern runs only when a start is present.
_SHAPES: Final = (
    (r"\bsk-", r"[A-Za-z0-9_\-]{8,}"),  # OpenAI / Anthropic style provider keys (test keys are short)
    (r"\bBearer", r"\s+[A-Za-z0-9._~+/\-]{8,}=*"),  # HTTP bearer credentials
    (r"\b(?:AKIA|ASIA)", r"[0-9A-Z]{16}\b"),  # AWS access key ids
    (r"\bgh[pousr]_", r"[A-Za-z0-9]{30,}"),  # GitHub
    (r"\bgithub_pat_", r"[A-Za-z0-9_]{22,}"),  # GitHub fine-grained tokens
    (r"\bxox[abprs]-", r"[A-Za-z0-9\-]{10,}"),  # Slack
    (r"\bAIza", r"[0-9A-Za-z_\-]{35}"),  # Google API keys
    (r"\beyJ", r"[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWTs
    (r"-----BEGIN ", r"[A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),  # PEM keys
)
_SECRET_VALUE: Final = re.compile("|".join(start + rest for start, rest in _SHAPES))
_STARTS: Final = re.compile("|".join(start.removeprefix(r"\b") for start, _rest in _SHAPES))


def _has_secret(text: str) -> bool:
    return _STARTS.search(text) is not None and _SECRET_VALUE.search(text) is not None


# ``password=hunter2``, ``API_KEY: abc`` inside free text (a command line, an error, a log
# line): the name stays, the value goes (gated in ``_redact_str``).
_ASSIGNMENT: Final = re.compile(
    r"(?i)(\b(?:password|passwd|pwd|passphrase|secret|client_secret|token|access_token|auth_token"
    r"|api[_-]?key|apikey|private[_-]?key)\b[\"']?\s*[=:]\s*[\"']?)(?!\[REDACTED\])[^\s\"'&,;]+"
)


def _keep_name(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


# ---------------------------------------------------------------------------- exact values

MIN_SECRET_LENGTH: Final = 4
"""Shorter values cannot be registered: ``"abc"`` would be cut out of every word."""
_MIN_LEARNED: Final = 8  # a value under a credential key is remembered from this length on
_MAX_LEARNED: Final = 256  # ... and this many of them, the oldest forgotten first

_registered: dict[str, int] = {}  # value -> how many registrations hold it
_learned: OrderedDict[str, None] = OrderedDict()
_LEARNT: Final = [0]  # how many values were ever learned (``redact`` walks again when it grew)
_exact: re.Pattern[str] | None = None  # every registered and learned value, longest first


_exact_in_json: re.Pattern[str] | None = None  # the same values as they appear in JSON text


def _rebuild() -> None:
    global _exact, _exact_in_json
    values = sorted({*_registered, *_learned}, key=len, reverse=True)
    _exact = re.compile("|".join(map(re.escape, values))) if values else None
    # JSON escapes a quote, a backslash and control characters: a value holding one of those
    # is spelled differently in encoded text (non-ASCII is not escaped by the encoders Soma
    # uses, so it is spelled the same).
    spelled = sorted({*values, *(_json_body(v) for v in values)}, key=len, reverse=True)
    _exact_in_json = re.compile("|".join(map(re.escape, spelled))) if spelled else None


def _json_body(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def register_secrets(values: object) -> Callable[[], None]:
    """Never store these exact values in any event: each is replaced by ``[REDACTED]``
    wherever it appears (in every string of every payload appended in this process).

    Returns the function that takes them back (``Runtime.open`` calls it on exit; a
    value registered twice stays until both are taken back). ``ValueError`` for a value
    that is not a string of at least :data:`MIN_SECRET_LENGTH` characters.
    """
    if isinstance(values, str) or not isinstance(values, list | tuple | set | frozenset):
        raise TypeError(f"secrets must be a list of str, got {type(values).__name__}")
    taken: list[str] = []
    for value in values:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            shown = "a str" if isinstance(value, str) else type(value).__name__
            raise ValueError(
                f"a secret must be a str of at least {MIN_SECRET_LENGTH} characters, got {shown} "
                f"of length {len(value) if isinstance(value, str) else '-'}"
            )
        taken.append(value)
    for value in taken:
        _registered[value] = _registered.get(value, 0) + 1
    _rebuild()
    released = False

    def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        for value in taken:
            left = _registered.get(value, 0) - 1
            if left > 0:
                _registered[value] = left
            else:
                _registered.pop(value, None)
        _rebuild()

    return release


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose *name* says credential (``ANTHROPIC_API_KEY``,
    ``GITHUB_TOKEN``, ``DB_PASSWORD``…): provider keys, registered at ``Runtime.open``."""
    env = os.environ if environ is None else environ
    return [v for k, v in env.items() if is_sensitive_key(k) and len(v) >= _MIN_LEARNED]


def _learn(value: str) -> None:
    if len(value) < _MIN_LEARNED or value in _learned or value in _registered or value == REDACTED:
        return
    _learned[value] = None
    _LEARNT[0] += 1
    if len(_learned) > _MAX_LEARNED:
        _learned.popitem(last=False)
    _rebuild()


def _redact_str(text: str) -> str:
    exact = _exact
    if exact is not None:
        text = exact.sub(REDACTED, text)
    if _STARTS.search(text) is not None and _SECRET_VALUE.search(text) is not None:
        text = _SECRET_VALUE.sub(REDACTED, text)
    if "=" in text or ":" in text:
        # The assignment pattern costs ~80 ns a character (measured, 10 KB): these C-speed
        # scans rule out almost every string first (every name it knows has one of them).
        lower = text.lower()
        if "pass" in lower or "pwd" in lower or "secret" in lower or "token" in lower or "key" in lower:
            text = _ASSIGNMENT.sub(_keep_name, text)
    return text


# -------------------------------------------------------------------------- encoded payloads

# What a payload must hold for redaction to change anything in it, as lowercase substrings
# of its JSON text. Every word of ``_ANYWHERE`` and ``_TERMINAL`` but ``pat``, and every name
# the assignment pattern knows, contains one of the first ones; every credential shape
# (``_SHAPES``) begins with one of the rest, minus the ``\b`` (in JSON text an escape's
# letter may precede it: ``\nsk-…``).
_SUSPECT: Final = (
    "pass", "pwd", "secret", "auth", "cookie", "credential", "bearer", "apikey",
    "sk-", "akia", "asia", "gh", "xox", "aiza", "eyj", "-----begin",
)  # fmt: skip
# Three words are spelled out, so that ``path``, ``keys``, ``monkey``, ``token_usage`` or
# ``input_tokens`` stay clean: ``pat`` as a key's last word (only separators between it and
# the key's closing quote); ``token`` the same, or before the ``=``/``:`` of an assignment
# (``token: abc``); ``key`` after a qualifier (``api_key``, ``privateKey``, ``x-api-key``).
# Letters are ASCII here as in ``_WORDS``: anything else counts as a separator, JSON escapes
# included.
_SEPARATORS: Final = r'(?:[^a-z0-9"\\]|\\u[0-9a-f]{4}|\\.)*'
_PAT_KEY: Final = re.compile(rf'pat{_SEPARATORS}"')
_TOKEN_KEY: Final = re.compile(rf'token{_SEPARATORS}?["=:]')
_QUALIFIED_KEYS: Final = tuple(
    (qualifier, re.compile(rf"{qualifier}{_SEPARATORS}key"))
    for qualifier in ("api", "private", "access", "signing", "encryption")  # "secret": _SUSPECT
)
# Each rule is tried only where the word it starts with is (``str.find``), never at every
# character as one alternation over the text was (~25 ns a character: 9 µs of a vitals
# update's 350).


def clean_json(text: str) -> bool:
    """Whether redaction could change nothing in the payloads this JSON text encodes.

    The append path's gate for events the runtime builds itself: a batch is encoded first,
    and only a text this finds suspicious goes through :func:`redact` (which then decides
    precisely). So it must never say "clean" of a payload ``redact`` would change — it may
    say "suspicious" of many it would not (``ghost`` holds ``gh``). Each rule errs that way:

    * a sensitive key is made of words, each such key has one of ``_SUSPECT`` or matches a
      key rule (``_PAT_KEY``, ``_TOKEN_KEY``, ``_QUALIFIED_KEYS``), and JSON escapes never
      split a run of letters (they replace a non-letter): a case-folded search of the text
      finds them all — in values too;
    * every credential shape starts with one of ``_SUSPECT``;
    * an exact value (registered or learned) is searched as itself and as JSON spells it.

    Substring searches rather than one alternation: each is a C loop at memory speed, where
    the regex engine tries every alternative at every character (measured here: ~25 ns a
    character for the alternation, under 1 for the searches, a fixed ~2 us for the lot).
    """
    exact = _exact_in_json
    if exact is not None and exact.search(text) is not None:
        return False
    lower = text.lower()
    if any(map(lower.__contains__, _SUSPECT)):
        return False
    if "pat" in lower and _found_at(lower, "pat", _PAT_KEY):
        return False
    if "token" in lower and _found_at(lower, "token", _TOKEN_KEY):
        return False
    if "key" in lower:
        return not any(_found_at(lower, qualifier, rule) for qualifier, rule in _QUALIFIED_KEYS)
    return True


def _found_at(text: str, literal: str, rule: re.Pattern[str]) -> bool:
    """Whether ``rule`` (which starts with ``literal``) matches where ``literal`` occurs."""
    at = text.find(literal)
    while at != -1:
        if rule.match(text, at) is not None:
            return True
        at = text.find(literal, at + 1)
    return False


@lru_cache(maxsize=8192)
def is_sensitive_key(key: str) -> bool:
    """True if a mapping key names a credential (its value must not be stored)."""
    words = [w.lower() for w in _WORDS.findall(key)]
    if not words:
        return False
    if any(w in _ANYWHERE for w in words):
        return True
    if words[-1] in _TERMINAL:
        return True
    return any(a in _KEY_QUALIFIERS and b == "key" for a, b in pairwise(words))


def redact_text(text: str) -> str:
    """``text`` with every credential-looking part replaced by ``[REDACTED]``."""
    return _redact_str(text)


_SCALARS = frozenset({int, float, bool, type(None)})


def redact(value: Any) -> Any:
    """A copy of ``value`` with credentials removed; ``value`` itself if there were none.

    Copy-on-write keeps the common case (nothing to redact) free of allocations, and exact
    type checks come before the generic (ABC) ones: this runs on every value of every append.
    A credential learned in ``value`` itself (``{"output": X, "token": X}``) is taken out of
    every part of it, not only the parts after its key: the walk runs again when it learned.
    """
    learnt = _LEARNT[0]
    clean = _redact_value(value)
    if _LEARNT[0] != learnt:
        clean = _redact_value(value)
    return clean


def _redact_value(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return _redact_str(value)
    if kind is dict:
        return _redact_mapping(value)
    if kind in _SCALARS:
        return value
    if kind is list or kind is tuple:
        return _redact_sequence(value)
    if isinstance(value, str):
        return _redact_str(value)
    if isinstance(value, Mapping):
        return _redact_mapping(value)
    if isinstance(value, list | tuple):
        return _redact_sequence(value)
    # A model nested in a payload is serialized later; look inside it now. (Without pydantic
    # imported there can be no model: ``soma hook`` redacts what it writes without it.)
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return _redact_mapping(value.model_dump())
    if isinstance(value, AbstractSet | deque):
        # Serialized as JSON arrays too: a secret inside one would reach the log.
        items = list(value)
        new = _redact_sequence(items)
        return value if new is items else new
    return value


def _redact_sequence(items: list[Any] | tuple[Any, ...]) -> Any:
    out: list[Any] | None = None
    for index, item in enumerate(items):
        new = _redact_value(item)
        if new is not item and out is None:
            out = list(items)
        if out is not None:
            out[index] = new
    if out is None:
        return items
    return out if isinstance(items, list) else tuple(out)


def _redact_mapping(mapping: Mapping[Any, Any]) -> Any:
    out: dict[Any, Any] | None = None
    for key, item in mapping.items():
        if key.__class__ is str and is_sensitive_key(key):
            if item.__class__ is str:
                _learn(item)  # the same value elsewhere (an output, an error) goes too
            new: Any = REDACTED if item is not None else None
        else:
            new = _redact_value(item)
        if new is not item and out is None:
            out = dict(mapping)
        if out is not None:
            out[key] = new
    return mapping if out is None else out


# ---------------------------------------------------------------------------- logs


class RedactingFilter(logging.Filter):
    """Takes secrets out of a log record's message and arguments before any handler sees
    it (the record is shared, so one filter on the logger that made it covers them all)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _redact_str(record.msg)
        elif isinstance(record.msg, Mapping):  # a structlog event dict
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redact_arg(a) for a in args)
        elif isinstance(args, Mapping):
            record.args = {k: _redact_arg(v) for k, v in args.items()}
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = _redact_str(logging.Formatter().formatException(record.exc_info))
        return True


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return _redact_str(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    # Anything else is formatted with str() by the handler: format it now, redacted.
    return _redact_str(str(value))


LIBRARY_LOGGERS: Final = (
    "soma",
    "soma.run",
    "soma.session",
    "soma.event_store",
    "soma.kernel.supervisor",
    "soma.control",
    "soma.tools",
    "soma.telemetry",
    "soma.watchdog",
)
_FILTER: Final = RedactingFilter()


def redact_library_logs() -> None:
    """Put the redacting filter on every logger of the library (idempotent). Not logging
    configuration: the application's handlers, levels and formats are left alone."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
