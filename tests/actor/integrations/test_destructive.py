"""Which actions of an outside agent BLOCK refuses: shell command lines parsed with shlex
(pipelines, wrappers, ``bash -c``, subshells, redirections over existing files) and writes
to secrets files — and what is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma_actor.integrations import Rules, destructive_action
from soma_actor.integrations.destructive import destructive_command

DESTRUCTIVE = [
    "rm -rf build/",
    "rm -r build",
    "rm -f notes.txt",
    "rm --recursive --force dist",
    "sudo rm -fr /var/tmp/x",
    "FOO=1 env BAR=2 nice -n 5 rm -r y",
    "make && rm -rf dist",
    "cd build; rm -rf *",
    "ls\nrm -rf x",
    'bash -c "rm -rf /tmp/work"',
    "echo $(rm -rf cache)",
    "echo `rm -rf cache`",
    "xargs rm -f < files.txt",
    "find . -name '*.pyc' -delete",
    "find . -type f -exec rm {} ;",
    "git reset --hard HEAD~1",
    "git -C repo reset --hard",
    "git push --force origin main",
    "git push -f",
    "git push --force-with-lease",
    "git push origin +main",
    "git clean -fdx",
    "git checkout -- .",
    "git restore src/app.py",
    "git branch -D feature",
    "git stash drop",
    "chmod -R 777 .",
    "chmod 777 deploy.sh",
    "chown -R nobody /srv",
    "dd if=/dev/zero of=/dev/sda bs=1M",
    "mkfs.ext4 /dev/sdb1",
    "wipefs -a /dev/sdb",
    "kill -9 1234",
    "kill -s KILL 1234",
    "pkill -9 python",
    "shred secret.txt",
    "truncate -s 0 app.log",
    "echo hi > existing.txt",
    "npm test 2> existing.txt",
    "cat a | tee existing.txt",
    'rm -rf "unbalanced',
]
HARMLESS = [
    "rm notes.txt",
    "ls -la",
    "git status",
    "git push origin main",
    "git clean -n",
    "git checkout main",
    "git restore --staged src/app.py",
    "chmod 644 a.txt",
    "kill 1234",
    "echo hi >> existing.txt",
    "echo hi > new.txt",
    "ls > /dev/null 2>&1",
    "cat a | tee -a existing.txt",
    'echo "rm -rf /"',
    "python -m pytest -q",
    "find . -name '*.py'",
    "grep -rn 'rm -rf' .",
]


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    (tmp_path / "existing.txt").write_text("data")
    return tmp_path


@pytest.mark.parametrize("command", DESTRUCTIVE)
def test_destructive_commands(command: str, cwd: Path) -> None:
    why = destructive_command(command, cwd=str(cwd))
    assert why is not None, command
    assert destructive_action("Bash", {"command": command, "description": "x"}, cwd=str(cwd)) == why


@pytest.mark.parametrize("command", HARMLESS)
def test_harmless_commands(command: str, cwd: Path) -> None:
    assert destructive_command(command, cwd=str(cwd)) is None, command


def test_the_reasons_say_what_the_command_does(cwd: Path) -> None:
    assert "deletes files" in (destructive_command("rm -rf build/") or "")
    assert "existing.txt" in (destructive_command("echo x > existing.txt", cwd=str(cwd)) or "")
    assert "git reset --hard" in (destructive_command("git reset --hard") or "")


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("Write", {"file_path": "/srv/app/.env", "content": "KEY=1"}),
        ("Write", {"file_path": ".env.production", "content": "x"}),
        ("Edit", {"file_path": "certs/server.pem", "old_string": "a", "new_string": "b"}),
        ("MultiEdit", {"file_path": "deploy/id_rsa", "edits": []}),
        ("Write", {"file_path": "/home/me/.aws/credentials", "content": "x"}),
        ("NotebookEdit", {"notebook_path": "secrets.ipynb", "new_source": "x"}),
        ("save_file", {"path": "prod.key", "content": "x"}),  # any tool with a writing name
    ],
)
def test_writes_to_secrets_files(tool: str, args: dict[str, object]) -> None:
    assert "secrets file" in (destructive_action(tool, args) or "")


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("Read", {"file_path": ".env"}),
        ("Write", {"file_path": "src/env.py", "content": "x"}),
        ("Edit", {"file_path": "README.md", "old_string": "a", "new_string": "b"}),
        ("Grep", {"pattern": "KEY", "path": ".env"}),
        ("WebFetch", {"url": "https://example.invalid/.env"}),
    ],
)
def test_what_is_not_a_destructive_action(tool: str, args: dict[str, object]) -> None:
    assert destructive_action(tool, args) is None


def test_rules_extend_the_lists() -> None:
    rules = Rules(commands=["terraform destroy", "kubectl delete ns"], secret_files=["*.tfstate"])
    assert destructive_command("terraform destroy -auto-approve", rules=rules) is not None
    assert destructive_command("sudo kubectl delete ns prod", rules=rules) is not None
    assert destructive_command("terraform plan", rules=rules) is None
    assert destructive_command("kubectl delete pod x", rules=rules) is None
    assert destructive_action("Write", {"file_path": "prod.tfstate"}, rules=rules) is not None
    assert destructive_action("Write", {"file_path": "prod.tfstate"}) is None
