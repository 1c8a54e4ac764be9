"""``soma hook`` starts like a shell builtin: the ``soma`` entry point sends it to the hook
before the command-line app, and the hook imports neither click, pydantic, asyncio,
aiosqlite nor the kernel — and the vitals engine only for an action to score."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _hooks import bash, clean_env, post, pre, session_start

HEAVY = ("click", "pydantic", "asyncio", "aiosqlite", "anyio", "soma_runtime.kernel", "soma_actor.cli._app")

PROBE = (
    "import sys, io\n"
    "from soma_actor.cli import main\n"
    "sys.stdin = io.TextIOWrapper(io.BytesIO(sys.argv[1].encode()))\n"
    "code = main(['hook', '--db', sys.argv[2], '--control', sys.argv[3]])\n"
    "print(code, sorted(m for m in " + repr(HEAVY) + " if m in sys.modules), "
    "'soma_runtime.vitals.engine' in sys.modules, file=sys.stderr)\n"
)


def probe(db: Path, event: dict[str, object]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(event), str(db), str(db.parent / "nobody.sock")],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "soma.db"
    probe(path, session_start("s", tmp_path))  # the database exists (its creation is the store's)
    return path


def test_a_tool_start_imports_nothing_heavy(db: Path) -> None:
    assert probe(db, pre("s", db.parent, "Bash", bash("ls"), "toolu_1")) == "0 [] False"


def test_an_action_imports_the_engine_and_nothing_heavy(db: Path) -> None:
    assert probe(db, post("s", db.parent, "Bash", bash("ls"), "toolu_1", "ok")) == "0 [] True"


@pytest.mark.anyio
async def test_through_a_runtime_the_hook_imports_json_and_its_own_few_modules(tmp_path: Path) -> None:
    import anyio

    from soma_actor.integrations.served import register
    from soma_runtime import Runtime

    code = (
        "import sys, io\n"
        "before = set(sys.modules)\n"
        "from soma_actor.cli import main\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(sys.argv[1].encode()))\n"
        "code = main(['hook', '--db', sys.argv[2], '--control', sys.argv[3]])\n"
        "new = sorted(m for m in set(sys.modules) - before if not m.startswith('soma_actor'))\n"
        "print(code, new, file=sys.stderr)\n"
    )
    socket = tmp_path / "soma.sock"
    async with Runtime.open(db=tmp_path / "soma.db", control=str(socket)) as rt:
        register(rt)
        event = json.dumps(pre("s", tmp_path, "Bash", bash("ls"), "toolu_1"))
        done = await anyio.run_process(
            [sys.executable, "-c", code, event, str(tmp_path / "soma.db"), str(socket)],
            env=clean_env(),
            check=False,
        )
        assert [e.type for e in await rt.events.query(session_id="s")] == ["session.started", "tool.started"]
    code_and_modules = done.stderr.decode().strip().splitlines()[-1]
    assert code_and_modules.startswith("0 ")
    imported = set(eval(code_and_modules[2:]))  # a printed list of module names
    assert imported <= {
        "_socket",
        "json",
        "json.decoder",
        "json.scanner",
        "json.encoder",
        "_json",
        "fcntl",
    }, imported
