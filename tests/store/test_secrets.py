"""Secrets stay out of the log (issue 14, breakage 6; docs/design.md §5c).

Before: ``{"token": …}`` args were redacted, but the same value in a tool's *output* was stored
in 3 events, a short ``sk-…`` value in 17 rows, and ``password=hunter2`` inside a string as
it was. Now: ``Runtime.open(secrets=[...])`` values, credential-named environment variables
(provider keys) and values once seen under a credential key are replaced wherever they
appear — args, outputs, errors, exports and the library's log records — and ``key=value``
assignments of credential names lose their value.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from soma_runtime import RunState, Runtime, Step, tool
from soma_runtime.store import redact, register_secrets

pytestmark = pytest.mark.anyio

SECRET = "correct-horse-battery"  # registered with Runtime.open(secrets=...)
PROVIDER_KEY = "prov-key-0123456789abcdef"  # found in the environment
TOKEN = "tok-a1b2c3d4e5f6"  # only ever passed under a credential key


@tool
async def leak(value: str) -> str:
    """A tool that repeats what it was given, as tools do in their output."""
    return f"result mentions {value} and {SECRET} and {PROVIDER_KEY}"


@tool
async def leak_error(value: str) -> str:
    raise RuntimeError(f"connection failed for {value}")


@tool
async def login(token: str) -> str:
    return f"logged in with {token}"


async def test_secrets_never_reach_events_exports_or_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ACME_API_KEY", PROVIDER_KEY)
    db = tmp_path / "soma.db"
    async with Runtime.open(db, tools=[leak, leak_error, login], secrets=[SECRET], vitals=False) as rt:
        session = await rt.start_session("a", metadata={"note": f"started with {SECRET}"})
        ok = await session.start_run(
            [
                Step("s1", "leak", {"value": SECRET}),
                Step("s2", "login", {"token": TOKEN}),
                Step("s3", "echo", {"value": "run with password=hunter2 and key sk-test-1234"}),
            ]
        )
        result = await ok.result()
        assert result.state is RunState.COMPLETED
        assert SECRET in result.outputs["s1"], "the run itself gets the real values"
        failed = await session.start_run([Step("s1", "leak_error", {"value": SECRET})])
        assert (await failed.result()).state is RunState.FAILED
        with caplog.at_level(logging.WARNING, logger="soma.run"):
            logging.getLogger("soma.run").warning("a library record naming %s", SECRET)
        await rt.events.export_jsonl(tmp_path / "all.jsonl")
    stored = (tmp_path / "all.jsonl").read_text()
    for value in (SECRET, PROVIDER_KEY, TOKEN, "hunter2", "sk-test-1234"):
        assert value not in stored, value
        assert value.encode() not in db.read_bytes(), value
    assert "password=[REDACTED]" in stored
    assert "logged in with [REDACTED]" in stored  # learned under "token", gone from the output
    assert SECRET not in caplog.text and "naming [REDACTED]" in caplog.text


def test_registered_secrets_are_taken_back_and_too_short_ones_refused() -> None:
    value = "only-while-registered-9"
    release = register_secrets([value])
    assert redact({"x": f"a {value} b"}) == {"x": "a [REDACTED] b"}
    release()
    assert redact({"x": f"a {value} b"}) == {"x": f"a {value} b"}
    with pytest.raises(ValueError, match="at least 4"):
        register_secrets(["abc"])
    with pytest.raises(TypeError):
        register_secrets("a-single-string")
