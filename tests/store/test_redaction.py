"""Secrets never land: credential keys and credential-looking values are redacted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soma_runtime.store._redaction import _SECRET_VALUE, REDACTED, is_sensitive_key, redact, redact_text
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
    """The literal prefilter only skips texts the full pattern cannot match (same result)."""
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
