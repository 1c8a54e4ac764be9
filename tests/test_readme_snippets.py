"""The README, as a new user reads it: every Python snippet runs as written (in a fresh
directory, as a separate program), every TOML snippet parses, the shell session that drives a
served runtime works from a fresh clone, and nothing it (or the package metadata) points to
lies outside the repository."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SOMA = [sys.executable, "-m", "soma_actor.cli"]


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.S | re.M)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SOMA_", "ANTHROPIC_", "OPENAI_"))}


PYTHON = blocks("python")


def test_the_readme_has_its_snippets() -> None:
    assert len(PYTHON) >= 5 and blocks("toml") and blocks("sh")


@pytest.mark.parametrize("index", range(len(PYTHON)), ids=lambda i: PYTHON[i].splitlines()[0][:40])
def test_each_python_snippet_runs_as_written(index: int, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PYTHON[index]],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # What a snippet says it prints (``print(…)  # -> said hi``) is what it prints.
    for promised in re.findall(r"print\(.*\)\s+# -> (.+)$", PYTHON[index], re.M):
        first = promised.split(",")[0].strip()
        assert first in done.stdout, (promised, done.stdout)


def test_each_toml_snippet_parses() -> None:
    for text in blocks("toml"):
        assert tomllib.loads(text)


def test_nothing_the_readme_or_the_metadata_points_to_is_outside_the_repository() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for text in (README, pyproject):
        assert "shared/" not in text and "DESIGN.md" not in text
    for target in re.findall(r"\]\(([^)#]+)", README):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target
    metadata = tomllib.loads(pyproject)["project"]
    assert metadata["name"] == "soma-runtime"
    assert all((ROOT / name).is_file() for name in metadata["license-files"])
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert all(not extra.startswith("soma[") for extra in metadata["optional-dependencies"]["dev"])


def test_the_shell_session_drives_a_served_runtime_from_a_fresh_clone(tmp_path: Path) -> None:
    [session] = [text for text in blocks("sh") if "soma serve --config examples/soma.toml" in text]
    commands = [line.split("#")[0].strip() for line in session.splitlines()]
    commands = [c for c in commands if c.startswith(("soma run", "soma ask", "soma cancel"))]
    (tmp_path / "examples").mkdir()
    for name in ("soma.toml", "notes_tools.py"):
        shutil.copy(ROOT / "examples" / name, tmp_path / "examples" / name)
    serve = subprocess.Popen(
        [*SOMA, "serve", "--config", "examples/soma.toml"],
        cwd=tmp_path,
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stderr is not None
        for line in serve.stderr:
            if "serving" in line:
                break
        outputs: list[str] = []
        for command in commands:
            if "RUN_ID" in command:
                command = command.replace("RUN_ID", outputs[-1].strip())
            done = subprocess.run(
                [*SOMA, *shlex.split(command)[1:]],
                cwd=tmp_path,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, (command, done.stderr)
            outputs.append(done.stdout)
        run, ask, started, cancelled = outputs
        assert run.strip() == "s1: 3"
        assert ask.strip() == "hi! (that was two words)"
        assert cancelled.strip() == f"{started.strip()} cancelled"
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
    assert (tmp_path / "examples" / "soma-served.db").is_file(), "the database beside the config"
