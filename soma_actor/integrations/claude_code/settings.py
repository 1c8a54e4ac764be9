"""Claude Code's settings file, with Soma's hooks put in or taken out — and nothing else touched.

Hooks live under ``"hooks"``: per event, a list of matcher groups, each
``{"matcher": "…", "hooks": [{"type": "command", "command": "…", "timeout": N}]}`` (the
matcher is a tool-name pattern for the tool events, ``*`` for all; the other events take
none). The status line is ``"statusLine": {"type": "command", "command": "…"}``.

:func:`install` adds one group per event holding Soma's hook — or, where a Soma hook is
already there, updates its command in place, so installing twice changes nothing. Soma's
hooks are recognised by their command (``… soma hook …`` or ``… -m soma_actor.cli hook …``),
so a user's own hooks, matchers and settings are never moved, reordered or rewritten.
:func:`remove` takes Soma's hooks out again, and with them only the groups, event lists and
``"hooks"`` key that it emptied. A status line that is not Soma's is left as it is.

:func:`read` refuses a file that is not a JSON object (naming the line and column), so a file
Soma cannot understand is never overwritten; :func:`write` replaces the file atomically
(a temporary file in the same directory, fsynced, renamed over it, its permissions kept),
after saving what was there as ``<file>.bak``.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import tempfile
from typing import TYPE_CHECKING

from .hook_input import EVENTS as HOOK_EVENTS
from .hook_input import TOOL_EVENTS as MATCHED  # groups of tool events take a matcher (``*``: all)

if TYPE_CHECKING:
    from typing import Any


class SettingsError(Exception):
    """A settings file Soma will not edit (it says why, and where)."""


def read(path: str) -> tuple[dict[str, Any], str | None]:
    """The settings at ``path`` (empty when there is no file) and the file's text."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        return {}, None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text ({exc.reason}); left untouched") from None
    except OSError as exc:
        raise SettingsError(f"{path}: {exc.strerror or exc}") from None
    if not text.strip():
        return {}, text
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); "
            "fix it first, Soma leaves it untouched"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the settings must be a JSON object, not a {type(data).__name__}")
    hooks = data.get("hooks")
    if hooks is not None and not isinstance(hooks, dict):
        raise SettingsError(f'{path}: "hooks" must be an object, not a {type(hooks).__name__}')
    for event, groups in (hooks or {}).items():
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise SettingsError(f'{path}: "hooks".{event} must be a list of objects')
        for group in groups:
            if not isinstance(group.get("hooks", []), list):
                raise SettingsError(f'{path}: a group of "hooks".{event} has "hooks" that is not a list')
    return data, text


def is_soma_command(command: Any, verb: str) -> bool:
    """Whether ``command`` runs ``soma VERB`` (the console script, or ``python -m soma_actor.cli``)."""
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    for index, word in enumerate(words[:-1]):
        if (posixpath.basename(word) == "soma" or word == "soma_actor.cli") and words[index + 1] == verb:
            return True
    return False


def install(
    settings: dict[str, Any], command: str, *, timeout: int, statusline: str | None
) -> tuple[dict[str, Any], list[str]]:
    """``settings`` with Soma's hooks (and status line, unless None) in; what changed."""
    data = json.loads(json.dumps(settings))  # a deep copy: the caller's stays as it was
    hooks = data.setdefault("hooks", {})
    changes: list[str] = []
    entry = {"type": "command", "command": command, "timeout": timeout}
    for event in HOOK_EVENTS:
        groups = hooks.setdefault(event, [])
        found = [
            hook
            for group in groups
            for hook in group.get("hooks", [])
            if isinstance(hook, dict) and is_soma_command(hook.get("command"), "hook")
        ]
        if found:
            for hook in found:
                if hook.get("command") != command or hook.get("timeout") != timeout:
                    hook.update(entry)
                    changes.append(f"updated the Soma hook on {event}")
            continue
        group: dict[str, Any] = {"matcher": "*"} if event in MATCHED else {}
        group["hooks"] = [dict(entry)]
        groups.append(group)
        changes.append(f"added a Soma hook on {event}")
    if statusline is not None:
        current = data.get("statusLine")
        line = {"type": "command", "command": statusline, "padding": 0}
        if current is None:
            data["statusLine"] = line
            changes.append("added the Soma status line")
        elif isinstance(current, dict) and is_soma_command(current.get("command"), "statusline"):
            if current.get("command") != statusline:
                current.update(line)
                changes.append("updated the Soma status line")
        else:
            changes.append(f"kept your own status line (Soma's would be: {statusline})")
    return data, changes


def remove(settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``settings`` without Soma's hooks and status line; what changed."""
    data = json.loads(json.dumps(settings))
    changes: list[str] = []
    hooks = data.get("hooks")
    if isinstance(hooks, dict):
        for event in list(hooks):
            groups = hooks[event]
            emptied = False
            for group in list(groups):
                mine = [
                    h
                    for h in group.get("hooks", [])
                    if isinstance(h, dict) and is_soma_command(h.get("command"), "hook")
                ]
                if not mine:
                    continue
                group["hooks"] = [h for h in group["hooks"] if h not in mine]
                changes.append(f"removed the Soma hook on {event}")
                if not group["hooks"]:
                    groups.remove(group)
                    emptied = True
            if emptied and not groups:
                del hooks[event]
        if not hooks and changes:
            del data["hooks"]
    line = data.get("statusLine")
    if isinstance(line, dict) and is_soma_command(line.get("command"), "statusline"):
        del data["statusLine"]
        changes.append("removed the Soma status line")
    return data, changes


def render(settings: dict[str, Any]) -> str:
    return json.dumps(settings, indent=2, ensure_ascii=False) + "\n"


def write(path: str, settings: dict[str, Any], previous: str | None) -> str | None:
    """Replace ``path`` with ``settings`` atomically; the backup's path (None: no old file)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    mode = 0o644
    backup = None
    if previous is not None:
        mode = os.stat(path).st_mode & 0o777
        backup = path + ".bak"
        _replace(backup, previous, mode, directory)
    _replace(path, render(settings), mode, directory)
    return backup


def _replace(path: str, text: str, mode: int, directory: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=".soma-settings-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
