"""``soma init``: Soma's hooks into real Claude Code settings files that hold other hooks and
settings — merged, atomic with a ``.bak``, idempotent, a file that is not JSON refused
untouched, ``--remove`` giving back the rest as it was — and the hook command it writes works."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _hooks import clean_env, session_start

from soma_actor.cli import main
from soma_actor.integrations.claude_code.settings import HOOK_EVENTS, is_soma_command
from soma_runtime.store.glance import glance

THEIRS: dict[str, Any] = {
    "permissions": {"allow": ["Bash(npm test:*)"], "deny": ["Read(./.env)"]},
    "env": {"NODE_ENV": "development"},
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "./scripts/check-bash.sh"}]}
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done", "timeout": 5}]}],
    },
    "model": "opus",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".claude").mkdir()
    settings = tmp_path / ".claude" / "settings.json"
    settings.write_text(json.dumps(THEIRS, indent=4) + "\n")
    settings.chmod(0o640)
    capsys.readouterr()
    return tmp_path


def init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["init", *args])
    out, err = capsys.readouterr()
    return code, out, err


def soma_hooks(settings: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        event: [h for group in groups for h in group["hooks"] if is_soma_command(h["command"], "hook")]
        for event, groups in settings.get("hooks", {}).items()
    }


def test_init_merges_with_what_is_there(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = project / ".claude" / "settings.json"
    before = settings.read_text()
    code, out, _ = init(capsys)
    assert code == 0, out
    data = json.loads(settings.read_text())
    # Everything of theirs is there, unchanged and in place.
    assert {k: data[k] for k in ("permissions", "env", "model")} == {
        k: THEIRS[k] for k in ("permissions", "env", "model")
    }
    assert data["hooks"]["PreToolUse"][0] == THEIRS["hooks"]["PreToolUse"][0]
    assert data["hooks"]["Stop"][0] == THEIRS["hooks"]["Stop"][0]
    # One Soma hook per event, a command with absolute paths, and Claude Code's timeout.
    mine = soma_hooks(data)
    assert sorted(e for e, hooks in mine.items() if hooks) == sorted(HOOK_EVENTS)
    for [entry] in mine.values():
        assert entry["type"] == "command" and entry["timeout"] == 10
        words = shlex.split(entry["command"])
        assert words[words.index("--db") + 1] == str(project / "soma.db")
        assert words[words.index("--control") + 1] == str(project / "soma.sock")
        assert os.path.isabs(words[0])
    groups = data["hooks"]["PostToolUse"]
    assert [g.get("matcher") for g in groups] == ["*"]
    assert "matcher" not in data["hooks"]["UserPromptSubmit"][0]
    assert is_soma_command(data["statusLine"]["command"], "statusline")
    # Atomic, with a backup of what was there, and its permissions kept.
    assert (project / ".claude" / "settings.json.bak").read_text() == before
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640
    assert not [p for p in settings.parent.iterdir() if p.name.startswith(".soma-settings-")]
    assert (project / "soma.db").is_file(), "the database is there before the first hook"


def test_init_twice_changes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = project / ".claude" / "settings.json"
    assert init(capsys)[0] == 0
    once, backup = settings.read_bytes(), (project / ".claude" / "settings.json.bak").read_bytes()
    code, out, _ = init(capsys)
    assert code == 0 and "already there" in out
    assert settings.read_bytes() == once
    assert (project / ".claude" / "settings.json.bak").read_bytes() == backup


def test_init_again_updates_its_hooks_in_place(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = project / ".claude" / "settings.json"
    init(capsys)
    first = json.loads(settings.read_text())
    assert init(capsys, "--db", str(project / "other.db"), "--timeout", "20")[0] == 0
    second = json.loads(settings.read_text())
    for event in HOOK_EVENTS:
        assert len(second["hooks"][event]) == len(first["hooks"][event]), "updated, not added"
        [entry] = soma_hooks(second)[event]
        assert entry["timeout"] == 20 and str(project / "other.db") in entry["command"]


def test_remove_gives_back_the_rest_untouched(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = project / ".claude" / "settings.json"
    init(capsys)
    code, out, _ = init(capsys, "--remove")
    assert code == 0 and "removed the Soma hook on PreToolUse" in out
    assert json.loads(settings.read_text()) == THEIRS
    code, out, _ = init(capsys, "--remove")
    assert code == 0 and "nothing to remove" in out


def test_their_own_status_line_is_kept(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = project / ".claude" / "settings.json"
    theirs = {**THEIRS, "statusLine": {"type": "command", "command": "~/.claude/statusline.sh"}}
    settings.write_text(json.dumps(theirs))
    code, out, _ = init(capsys)
    assert code == 0 and "kept your own status line" in out
    assert json.loads(settings.read_text())["statusLine"] == theirs["statusLine"]
    init(capsys, "--remove")
    assert json.loads(settings.read_text()) == theirs


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"hooks": {"PreToolUse": [}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"hooks": []}', '"hooks" must be an object'),
        ('{"hooks": {"Stop": {"command": "x"}}}', "must be a list"),
    ],
)
def test_a_file_soma_cannot_read_is_refused_untouched(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    settings = project / ".claude" / "settings.json"
    settings.write_text(text)
    code, _, err = init(capsys)
    assert code == 1 and problem in err and str(settings) in err
    assert settings.read_text() == text
    assert not (project / ".claude" / "settings.json.bak").exists()


def test_dry_run_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = project / ".claude" / "settings.json"
    before = settings.read_bytes()
    code, out, _ = init(capsys, "--dry-run", "--no-serve")
    assert code == 0 and "would have added a Soma hook on SessionStart" in out and "(not written)" in out
    assert settings.read_bytes() == before and not (project / "soma.db").exists()


def test_user_settings_a_fresh_file_and_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = init(capsys, "--user", "--timeout", "15")
    assert code == 0, err
    data = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    [entry] = soma_hooks(data)["PreToolUse"]
    assert str(tmp_path / ".soma" / "soma.db") in entry["command"] and entry["command"].endswith("--serve")
    assert not (tmp_path / ".claude" / "settings.json.bak").exists(), "no file before: no backup"
    assert stat.S_IMODE((tmp_path / ".soma").stat().st_mode) == 0o700


def test_a_bad_hooks_config_is_refused_before_writing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = project / ".claude" / "settings.json"
    before = settings.read_bytes()
    (project / "hooks.toml").write_text("deny = 3\n")
    code, _, err = init(capsys, "--config", "hooks.toml")
    assert code == 1 and "deny must be true or false" in err
    assert settings.read_bytes() == before


def test_the_written_hook_command_records(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(capsys, "--no-serve")
    data = json.loads((project / ".claude" / "settings.json").read_text())
    [entry] = soma_hooks(data)["SessionStart"]
    elsewhere = project / "sub"
    elsewhere.mkdir()
    event = json.dumps(session_start("5e5e5e5e-0000-4000-8000-000000000000", elsewhere))
    done = subprocess.run(
        entry["command"],
        shell=True,
        input=event,
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=clean_env(),
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    with glance(project / "soma.db") as log:
        assert [e.agent_id for e in log.query(type="session.started")] == [
            "claude-5e5e5e5e-0000-4000-8000-000000000000"
        ]
