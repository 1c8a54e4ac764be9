"""What a new user tripped on, one small test each: the providers importable from
``soma_actor`` and their arguments documented, costs with significant digits, "1 agent", an
empty file as a database, an export to a missing directory, a run named by a prefix, and what
``soma --version`` and ``soma statusline`` import (they are meant for a prompt)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from _cli import Recorded, clean_env

from soma_actor.cli import main
from soma_runtime import Runtime


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_providers_are_importable_from_soma_actor_and_document_their_arguments() -> None:
    import soma_actor
    from soma_actor import AnthropicModel, OpenAIModel, ScriptedModel
    from soma_actor.providers import AnthropicModel as FromProviders

    assert AnthropicModel is FromProviders
    assert {"AnthropicModel", "OpenAIModel", "ScriptedModel", "MissingApiKey"} <= set(soma_actor.__all__)
    for provider in (AnthropicModel, OpenAIModel, ScriptedModel):
        doc = inspect.getdoc(provider) or ""
        for name in inspect.signature(provider).parameters:
            assert f"``{name}``" in doc, f"{provider.__name__} does not document {name!r}"
    for provider in (AnthropicModel, OpenAIModel):
        assert 'system="…"' in (inspect.getdoc(provider) or ""), "where the system prompt goes"


def test_status_shows_costs_with_significant_digits_and_one_agent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "one.db"

    async def record() -> None:
        async with Runtime.open(db=db, vitals=False) as rt:
            session = await rt.start_session("solo")
            usage = {"input_tokens": 40, "output_tokens": 5}
            for _ in range(3):
                payload = {"model": "m", "usage": usage, "cost_usd": 1.5e-05}
                sid = session.session_id
                await rt.events.append("llm.succeeded", payload, agent_id="solo", session_id=sid)

    anyio.run(record, backend="asyncio")
    code, out, _ = run_main(capsys, "status", "--db", str(db))
    header, row = out.splitlines()
    assert code == 0 and " 1 agent (1 no vitals) " in header and header.endswith("tokens 135 $0.000045")
    assert row.endswith("tokens 135 $0.000045 calls 3")
    code, out, _ = run_main(capsys, "statusline", "--db", str(db))
    assert out == "soma solo no vitals | 1 agent: 1 no vitals\n"


def test_an_empty_file_is_no_database_and_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for verb in (["status"], ["statusline"], ["trace", "run-x"], ["export"], ["replay"]):
        code, out, err = run_main(capsys, *verb, "--db", str(empty))
        assert (code, out) == (1, ""), verb
        assert err.strip().endswith("it is empty: no Soma runtime has written to it"), (verb, err)
    assert empty.stat().st_size == 0 and not list(tmp_path.glob("empty.db-*")), "left as it was"


def test_an_export_to_a_missing_directory_names_the_file_asked_for(
    capsys: pytest.CaptureFixture[str], rec: Recorded, tmp_path: Path
) -> None:
    target = tmp_path / "nowhere" / "x.jsonl"
    code, out, err = run_main(capsys, "export", "--db", str(rec.db), "-o", str(target))
    assert (code, out) == (1, "")
    assert err.strip() == f"soma: error: No such file or directory: {target}"
    assert ".partial" not in err


def test_trace_takes_a_unique_prefix_of_a_run_id(capsys: pytest.CaptureFixture[str], rec: Recorded) -> None:
    db = str(rec.db)
    code, out, _ = run_main(capsys, "trace", rec.failed_run[:-1], "--db", db)
    runs = {rec.completed_run, rec.failed_run, rec.cancelled_run}
    if sum(r.startswith(rec.failed_run[:-1]) for r in runs) == 1:
        assert code == 0 and out.startswith(f"run {rec.failed_run} ")
    code, out, _ = run_main(capsys, "trace", rec.failed_run + "…", "--db", db)
    assert code == 0 and out.startswith(f"run {rec.failed_run} "), "pasted with the help text's ellipsis"
    shared = "run-"
    code, _, err = run_main(capsys, "trace", shared, "--db", db)
    assert code == 1 and f"'{shared}' names several runs in {db}: " in err
    assert all(r in err for r in runs)
    # Ids of one runtime differ at their end: a unique part of one names it too.
    tail = next(
        rec.failed_run[-n:] for n in range(2, 10) if sum(rec.failed_run[-n:] in r for r in runs) == 1
    )
    code, out, _ = run_main(capsys, "trace", tail, "--db", db)
    assert code == 0 and out.startswith(f"run {rec.failed_run} ")


DB_VERBS = {"statusline", "status", "trace", "export"}


@pytest.mark.parametrize(
    ("argv", "forbidden"),
    [
        (["--version"], ("pydantic", "asyncio", "textual", "structlog", "soma_runtime.store.events")),
        (["--help"], ("pydantic", "asyncio", "textual", "soma_actor.cli.demo", "soma_actor.cli.serve")),
        (["statusline"], ("pydantic", "asyncio", "textual", "structlog", "aiosqlite")),
        (["status"], ("pydantic", "asyncio", "textual", "structlog", "aiosqlite")),
        (["trace", "run-x"], ("pydantic", "asyncio", "textual", "structlog", "aiosqlite")),
        (["export"], ("pydantic", "asyncio", "textual", "structlog", "aiosqlite")),
        (["cancel", "run-x"], ("pydantic", "textual", "soma_runtime.kernel", "aiosqlite")),
        (["run", "--help"], ("textual", "soma_runtime.runtime", "soma_actor.actor")),
        (["dashboard", "--help"], ("textual", "soma_runtime.runtime")),
    ],
)
def test_what_a_quick_verb_imports(rec: Recorded, argv: list[str], forbidden: tuple[str, ...]) -> None:
    # Which modules a verb loads is deterministic, unlike how long they take (make bench
    # measures that): the verbs meant for a prompt must not load the heavy ones.
    probe = (
        "import sys, json\n"
        "from soma_actor.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv, *(["--db", str(rec.db)] if argv[0] in DB_VERBS else [])],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert not [m for m in forbidden if m in loaded], argv
