"""Secrets never land: credential keys and credential-looking values are redacted."""

from __future__ import annotations

import re
import sqlite3
import sys
from collections import OrderedDict, deque
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_core import to_json

from soma_runtime import CommandTool, RunState, Runtime, Step, tool
from soma_runtime.store import _redaction
from soma_runtime.store._redaction import (
    _SECRET_VALUE,
    _SHAPES,
    REDACTED,
    clean_json,
    is_sensitive_key,
    redact,
    redact_text,
    register_secrets,
)
from soma_runtime.store.errors import InvalidEvent
from soma_runtime.store.events import prepare_event
from soma_runtime.store.log import open_event_log

OPENAI_KEY = "sk-proj-" + "A1b2C3d4" * 5
ANTHROPIC_KEY = "sk-ant-api03-" + "x9Y8z7W6" * 6


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apiKey",
        "API_KEY",
        "OPENAI_API_KEY",
        "x-api-key",
        "apikey",
        "Authorization",
        "proxy-authorization",
        "token",
        "access_token",
        "refreshToken",
        "x-auth-token",
        "HF_TOKEN",
        "client_secret",
        "secret",
        "password",
        "db_passwd",
        "Cookie",
        "set-cookie",
        "private_key",
        "aws_secret_access_key",
        "credentials",
        "auth",
    ],
)
def test_credential_keys_are_sensitive(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "max_tokens",
        "input_tokens",
        "output_tokens",
        "token_usage",
        "tokens",
        "key",
        "keys",
        "author",
        "monkey",
        "tool",
        "cost_usd",
        "keyboard",
        "name",
    ],
)
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not is_sensitive_key(key)


def test_nested_keys_are_redacted_and_input_untouched() -> None:
    payload = {
        "tool": "http",
        "args": {
            "url": "https://api.example.com",
            "headers": {"Authorization": "Bearer abcdefghijklmnop", "Accept": "json"},
            "auth": [{"password": "hunter2"}],
        },
        "usage": {"input_tokens": 3, "max_tokens": 9},
        "nothing": None,
    }
    out = redact(payload)
    assert out["args"]["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert out["args"]["auth"] == REDACTED
    assert out["usage"] == {"input_tokens": 3, "max_tokens": 9}
    assert payload["args"]["headers"]["Authorization"] == "Bearer abcdefghijklmnop"  # type: ignore[index]
    assert redact({"password": None}) == {"password": None}


def test_credential_values_are_redacted_anywhere() -> None:
    text = (
        f"using {OPENAI_KEY} and {ANTHROPIC_KEY}; header Bearer eyJhbGciOi.x-y_z; "
        "aws AKIAIOSFODNN7EXAMPLE; gh ghp_" + "a" * 36 + "; slack xoxb-1234567890-abc"
    )
    clean = redact_text(text)
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "AKIAIOSFODNN7EXAMPLE", "ghp_" + "a" * 36):
        assert secret not in clean
    assert "eyJhbGciOi" not in clean and "xoxb-1234567890" not in clean
    assert clean.startswith("using [REDACTED] and [REDACTED]")
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
    assert redact({"out": ["x", f"key: {pem}"]}) == {"out": ["x", "key: [REDACTED]"]}
    assert redact_text("a task-1234567890abcdefghijklmnop id") == ("a task-1234567890abcdefghijklmnop id")


# One real-looking example of every credential shape the redactor knows, written out here
# (not derived from its patterns): the redactor is judged against these, not against itself.
# Each alternative of a shape has its own example (ghp_/gho_/…, xoxa-/xoxb-/…, AKIA/ASIA).
CREDENTIALS = {
    "openai project key": "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "openai legacy key": "sk-" + "T3BlbkFJ" + "q8Wm2Lp5Zr7Xv1Nc4Bd6Hf9Jk",
    "anthropic key": "sk-ant-api03-" + "x9Y8z7W6v5U4t3S2r1Q0p9O8n7M6l5K4-j3I2h1G0f_AA",
    "bearer header": "Bearer " + "mF_9.B5f-4.1JqM",
    "bearer padded": "Bearer " + "dGhpcyBpcyBhIHRva2Vu==",
    "aws access key id": "AKIA" + "IOSFODNN7EXAMPLE",
    "aws temporary key id": "ASIA" + "Y34FZKBOKMUTVV7A",
    "github personal token": "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a",
    "github oauth token": "gho_" + "16C7e42F292c6912E7710c838347Ae178B4a",
    "github user-to-server token": "ghu_" + "16C7e42F292c6912E7710c838347Ae178B4a",
    "github server-to-server token": "ghs_" + "16C7e42F292c6912E7710c838347Ae178B4a",
    "github refresh token": "ghr_" + "16C7e42F292c6912E7710c838347Ae178B4a",
    "github fine-grained token": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "slack app token": "xoxa-" + "2-1234567890-abcdef",
    "slack bot token": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOp",
    "slack user token": "xoxp-" + "123456789012-123456789012-abcdef0123",
    "slack refresh token": "xoxr-" + "1234567890-abcdefghij",
    "slack session token": "xoxs-" + "1234567890-abcdefghij",
    "google api key": "AIza" + "SyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
    "jwt": "eyJhbGciOiJIUzI1NiJ9"
    + "."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    + "."
    + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "pem private key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98hW\n"
    "-----END RSA PRIVATE KEY-----",
    "pem pkcs8 key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END PRIVATE KEY-----",
    "pem openssh key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----",
}


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
def test_every_credential_shape_has_a_concrete_example_that_is_removed(name: str) -> None:
    secret = CREDENTIALS[name]
    for text in (secret, f"failed with {secret}.", f'{{"key": "{secret}"}}', f"a\n{secret}\nb"):
        clean = redact_text(text)
        assert secret not in clean and REDACTED in clean, text
        # The part of the secret after its well-known prefix is gone too.
        assert secret[-12:] not in clean
    assert redact({"nested": [{"note": f"use {secret}"}]}) == {"nested": [{"note": f"use {REDACTED}"}]}


def test_every_shape_the_redactor_knows_is_covered_by_an_example() -> None:
    """A new shape added to the redactor without an example here fails this test."""
    for start, rest in _SHAPES:
        shape = re.compile(start + rest)
        matched = [name for name, secret in CREDENTIALS.items() if shape.fullmatch(secret)]
        assert matched, f"no example of the credential shape {start + rest!r}"


_SEPARATORS = st.sampled_from([" ", "\n", "\t", ":", "=", '"', "'", "(", ",", ";", "<", ">"])
_NOISE = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


@given(
    st.sampled_from(sorted(CREDENTIALS)),
    st.tuples(_NOISE, _SEPARATORS).map("".join) | st.just(""),
    st.tuples(_SEPARATORS, _NOISE).map("".join) | st.just(""),
)
def test_a_credential_is_removed_whatever_surrounds_it(name: str, before: str, after: str) -> None:
    """An independent oracle: the literal example never survives, in any text around it
    (separated from it the way a log line, a header or JSON would be)."""
    secret = CREDENTIALS[name]
    clean = redact_text(before + secret + after)
    assert secret not in clean and REDACTED in clean


# Fragments that start, continue or nearly form every credential shape, mixed with noise.
_FRAGMENTS = st.sampled_from(
    [
        "sk-",
        "Bearer",
        " ",
        "\n",
        "AKIA",
        "ASIA",
        "ghp_",
        "gho_",
        "github_pat_",
        "xoxb-",
        "AIza",
        "eyJ",
        ".",
        "-----BEGIN ",
        "RSA PRIVATE KEY-----",
        "-----END ",
        "x",
        "A1b2C3d4" * 3,
        "_",
        "-",
        "Z9",
    ]
)


@given(st.lists(_FRAGMENTS | st.text(max_size=8), max_size=40).map("".join))
def test_the_fast_scan_misses_no_credential(text: str) -> None:
    """The literal prefilter only skips texts the full pattern cannot match (same result).
    (This checks the prefilter against the full pattern; the examples above check the
    pattern against real credentials.)"""
    assert redact_text(text) == _SECRET_VALUE.sub(REDACTED, text)
    assert redact(text) == _SECRET_VALUE.sub(REDACTED, text)


def test_unchanged_payload_is_returned_as_is() -> None:
    payload = {"tool": "echo", "args": {"value": [1, "two", {"three": 3}]}}
    assert redact(payload) is payload


def test_prepared_event_holds_no_secret() -> None:
    prepared = prepare_event(
        "llm.started", {"model": "m", "api_key": ANTHROPIC_KEY, "note": f"key={OPENAI_KEY}"}
    )
    assert ANTHROPIC_KEY not in prepared.payload_json and OPENAI_KEY not in prepared.payload_json
    assert prepared.payload["api_key"] == REDACTED


def test_validation_error_does_not_echo_a_secret() -> None:
    with pytest.raises(InvalidEvent) as info:
        prepare_event("tool.started", {"tool": ["x"], "args": {"token": ANTHROPIC_KEY}})
    assert ANTHROPIC_KEY not in str(info.value)


@pytest.mark.anyio
async def test_secrets_never_reach_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    async with open_event_log(db) as log:
        await log.append(
            "tool.started",
            {"tool": "http", "args": {"headers": {"x-api-key": ANTHROPIC_KEY}}},
            run_id="r",
        )
        await log.append("llm.failed", {"error": f"401 for key {OPENAI_KEY}"}, run_id="r")
        events = await log.query(run_id="r")
    assert events[0].payload["args"]["headers"]["x-api-key"] == REDACTED
    assert OPENAI_KEY not in events[1].payload["error"]
    raw = sqlite3.connect(db)
    try:
        dump = "\n".join(raw.iterdump())
    finally:
        raw.close()
    assert ANTHROPIC_KEY not in dump and OPENAI_KEY not in dump and REDACTED in dump


class _Inner(BaseModel):
    note: str
    token: str | None = None


class _Login(BaseModel):
    user: str
    api_key: str
    inner: _Inner
    history: list[_Inner]


def _file_bytes(db: Path) -> bytes:
    """Every byte SQLite keeps for ``db``: the database, its WAL and its shared memory."""
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())


@pytest.mark.anyio
async def test_secrets_inside_nested_models_lists_and_errors_never_reach_the_file(tmp_path: Path) -> None:
    anthropic, github = CREDENTIALS["anthropic key"], CREDENTIALS["github personal token"]
    slack, bearer, aws = (
        CREDENTIALS["slack bot token"],
        CREDENTIALS["bearer header"],
        CREDENTIALS["aws access key id"],
    )
    login = _Login(
        user="ada",
        api_key=anthropic,
        inner=_Inner(note=f"cloned with {github}", token=slack),
        history=[_Inner(note=f"Authorization: {bearer}"), _Inner(note=f"aws {aws}")],
    )
    db = tmp_path / "events.db"
    async with open_event_log(db) as log:
        await log.append("tool.succeeded", {"tool": "login", "output": login}, run_id="r")
        await log.append("step.succeeded", {"output": [[login.inner], {"deeper": (login,)}]}, run_id="r")
        await log.append("tool.started", _ToolStartedLike(tool="http", args={"login": login}), run_id="r")
        await log.append("llm.failed", {"error": f"401: invalid x-api-key {anthropic}"}, run_id="r")
        await log.append(
            "tool.failed", {"tool": "git", "error": f"fatal: token {github} expired"}, run_id="r"
        )
        stored = await log.query(run_id="r")
    expected = {
        "user": "ada",
        "api_key": REDACTED,
        "inner": {"note": f"cloned with {REDACTED}", "token": REDACTED},
        "history": [
            {"note": f"Authorization: {REDACTED}", "token": None},
            {"note": f"aws {REDACTED}", "token": None},
        ],
    }
    assert stored[0].payload["output"] == expected
    assert stored[1].payload["output"] == [[expected["inner"]], {"deeper": [expected]}]
    assert stored[2].payload["args"] == {"login": expected}
    assert stored[3].payload["error"] == f"401: invalid x-api-key {REDACTED}"
    assert stored[4].payload["error"] == f"fatal: token {REDACTED} expired"
    raw = _file_bytes(db)
    for secret in (anthropic, github, slack, bearer, aws):
        assert secret.encode() not in raw and secret[-12:].encode() not in raw, secret
    assert login.api_key == anthropic, "the caller's model is not modified"


class _ToolStartedLike(BaseModel):
    """A payload given as a model (not a mapping), with a model inside it."""

    tool: str
    args: dict[str, Any]


@tool
async def _leaky(key: str) -> str:
    raise PermissionError(f"the server refused key {key}")


_LEAKY_COMMAND = CommandTool(
    "leaky_command",
    [
        sys.executable,
        "-c",
        "import sys; print('auth failed for', sys.argv[1], file=sys.stderr); sys.exit(3)",
        "{key}",
    ],
)


@pytest.mark.anyio
async def test_a_secret_in_a_failing_tools_error_never_reaches_the_file(tmp_path: Path) -> None:
    """The realistic path: a tool fails with the key in its exception, a command prints it on
    stderr; the errors travel through tool.failed, step.failed and run.failed."""
    key, token = CREDENTIALS["openai project key"], CREDENTIALS["github fine-grained token"]
    db = tmp_path / "soma.db"
    async with Runtime.open(db=db, tools=[_leaky, _LEAKY_COMMAND], vitals=False) as rt:
        session = await rt.start_session("a")
        failed = await session.start_run([Step("s1", "_leaky", {"key": key})])
        assert (await failed.result()).state is RunState.FAILED
        crashed = await session.start_run([Step("s1", "leaky_command", {"key": token})])
        assert (await crashed.result()).state is RunState.FAILED
        errors = [e for e in await rt.events.query(type=["tool.failed", "step.failed", "run.failed"])]
    assert len(errors) == 6 and all(REDACTED in e.payload["error"] for e in errors)
    raw = _file_bytes(db)
    for secret in (key, token):
        assert secret.encode() not in raw and secret[-12:].encode() not in raw


class _Label(str):
    """A str subclass (a StrEnum member is one too)."""


class _Pair(NamedTuple):
    name: str
    value: str


def test_secrets_inside_subclasses_sets_and_deques_are_redacted() -> None:
    """Everything pydantic serializes as a string, an object or an array is looked into."""
    key = CREDENTIALS["anthropic key"]
    out = redact(
        {
            "label": _Label(f"key {key}"),
            "ordered": OrderedDict(note=f"key {key}", api_key=key),
            "proxy": MappingProxyType({"note": f"key {key}"}),
            "queued": deque([f"key {key}"]),
            "set": {f"key {key}"},
            "frozen": frozenset([f"key {key}"]),
            "pair": _Pair("k", f"key {key}"),
        }
    )
    assert out["label"] == f"key {REDACTED}"
    assert dict(out["ordered"]) == {"note": f"key {REDACTED}", "api_key": REDACTED}
    assert dict(out["proxy"]) == {"note": f"key {REDACTED}"}
    assert out["queued"] == out["set"] == out["frozen"] == [f"key {REDACTED}"]
    assert redact(frozenset(["plain"])) == frozenset(["plain"])
    assert tuple(out["pair"]) == ("k", f"key {REDACTED}")
    assert key not in repr(out)


# -- the gate of the runtime's own events (``clean_json``) ------------------------------------

_KEY_WORDS = st.sampled_from(
    [
        "api", "Api", "KEY", "key", "Key", "pat", "Pat", "PAT", "path", "token", "tokens", "max",
        "private", "secret", "auth", "author", "pass", "cookie", "access", "monkey", "bearer",
        "_", "-", ".", " ", "\n", "\t", '"', "\\", "\x01", "é", "2", "x",
    ]
)  # fmt: skip
_KEYS = st.lists(_KEY_WORDS, min_size=1, max_size=5).map("".join)
_VALUES = st.lists(_FRAGMENTS | _KEY_WORDS | st.text(max_size=6), max_size=8).map("".join)
_PAYLOADS = st.recursive(
    st.none() | st.integers() | _VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS | _VALUES, inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(_KEYS, _PAYLOADS, max_size=4))
def test_the_gate_never_lets_through_a_payload_redaction_would_change(payload: dict[str, Any]) -> None:
    """``clean_json`` may call a clean payload suspicious, never the other way round: what it
    lets through is stored without ``redact`` ever seeing it."""
    if clean_json(to_json(payload).decode()):
        assert redact(payload) == payload


_ONE_PATTERN = re.compile(
    "|".join([_redaction._PAT_KEY.pattern, _redaction._TOKEN_KEY.pattern])
    + "".join(f"|{rule.pattern}" for _, rule in _redaction._QUALIFIED_KEYS)
)


@given(st.dictionaries(_KEYS | _VALUES, _PAYLOADS, max_size=4))
def test_the_key_rules_tried_where_their_words_are_find_what_one_pattern_over_the_text_finds(
    payload: dict[str, Any],
) -> None:
    """The gate tries each key rule only at the places its first word occurs (a C search),
    not at every character: the same verdict as one alternation searched over the text."""
    text = to_json(payload).decode().lower()
    anywhere = _ONE_PATTERN.search(text) is not None
    where_words_are = (
        _redaction._found_at(text, "pat", _redaction._PAT_KEY)
        or _redaction._found_at(text, "token", _redaction._TOKEN_KEY)
        or any(_redaction._found_at(text, q, rule) for q, rule in _redaction._QUALIFIED_KEYS)
    )
    assert where_words_are == anywhere


def test_the_gate_sees_registered_secrets_however_json_spells_them() -> None:
    release = register_secrets(['pa"ss\\wo\nrd-1', "plain-hidden-value"])
    try:
        for payload in ({"output": 'x pa"ss\\wo\nrd-1 y'}, {"output": ["aplain-hidden-valueb"]}):
            assert not clean_json(to_json(payload).decode())
            assert redact(payload) != payload
    finally:
        release()
    assert clean_json(to_json({"output": "plain-hidden-value"}).decode())


@pytest.mark.parametrize(
    "payload",
    [
        {"tool": "read_file", "args": {"path": "/etc/hosts"}, "output": "127.0.0.1 localhost"},
        {"keys": [1, 2], "monkey": "business", "author": None},
        {"output": None, "duration_ms": 0.05},
    ],
)
def test_ordinary_payloads_pass_the_gate(payload: dict[str, Any]) -> None:
    """The common case costs a few substring searches: ``path``, ``keys``, ``monkey`` are
    not credentials. (``author`` is let through by the key rules, not the gate: it holds
    ``auth``, so it is checked precisely.)"""
    clean = clean_json(to_json(payload).decode())
    assert clean is ("author" not in payload)


def test_a_credential_is_taken_out_of_the_parts_before_its_key_too() -> None:
    """``{"output": X, "api_key": X}``: the walk meets X before it learns it is a credential;
    it is redacted there all the same (the first time, not only from the next payload on)."""
    value = "fresh-credential-" + "q7" * 8
    payload = {"output": ["echo", value], "api_key": value}
    assert redact(payload) == {"output": ["echo", REDACTED], "api_key": REDACTED}
