"""``soma dashboard`` as a command: bad input is one clear line and exit code 1, before the
terminal is taken over (the screen itself is tested with Textual's pilot in
tests/actor/cli/dashboard)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from _cli import SOMA, clean_env


def soma(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SOMA, *args], capture_output=True, text=True, env=clean_env(), timeout=60)


def test_a_missing_database_or_a_silent_socket_is_one_line_and_exit_1(tmp_path: Path) -> None:
    missing = soma("dashboard", "--db", str(tmp_path / "missing.db"))
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "missing.db" in missing.stderr
    silent = soma("dashboard", "--db", str(tmp_path / "missing.db"), "--control", str(tmp_path / "none.sock"))
    assert silent.returncode == 1 and silent.stderr.startswith("soma: error:")
