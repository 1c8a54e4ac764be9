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
