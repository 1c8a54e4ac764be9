"""``examples/claude_code_hooks.sh`` runs as its header says: the recorded session's hook
events through ``soma hook``, guidance along the way, the ``rm -rf`` refused, and the status
and replay of the database agreeing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _hooks import clean_env

ROOT = Path(__file__).resolve().parents[3]


def test_the_example_replays_a_recorded_session(tmp_path: Path) -> None:
    env = {**clean_env(), "SOMA": f"{sys.executable} -m soma_actor.cli"}
    done = subprocess.run(
        ["bash", str(ROOT / "examples" / "claude_code_hooks.sh"), str(tmp_path / "soma.db")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    answers = [line for line in lines if line.startswith(("Session", "User", "Pre", "Post", "Stop"))]
    assert len(answers) == len((ROOT / "examples" / "claude_code_session.jsonl").read_text().splitlines())
    assert done.stdout.count("Soma vitals") >= 3, done.stdout
    assert any('"additionalContext": "Soma vitals for this session: GUIDE' in line for line in answers)
    assert '"permissionDecision": "deny"' in answers[-2] and "rm -r" in answers[-2]
    assert answers[-1].endswith("(no answer)")
    assert any(" BLOCK " in line and line.startswith("claude-2b6f0c1e") for line in lines)
    assert lines[-1] == "match: 8 points, bit-identical to the recorded trajectory"
