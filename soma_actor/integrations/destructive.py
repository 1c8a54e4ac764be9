"""Which actions of an outside agent are destructive: what BLOCK refuses.

A Soma tool says whether it is destructive (``@tool(destructive=True)``). An agent that runs
elsewhere calls tools Soma did not write — Claude Code's ``Bash`` with any command line, its
``Write`` on any path — so its actions are judged by what they would do:

* a shell command (``Bash``, or any tool with a ``command`` argument) is split with
  :mod:`shlex` into simple commands (``;``, ``&&``, ``||``, ``|``, ``&``, newlines, and the
  bodies of ``bash -c``/``sh -c``, ``$(…)`` and backticks), each looked at past its wrappers
  (``sudo``, ``env X=1``, ``nice``, ``time``, ``xargs``, ``nohup``…). Destructive:
  ``rm`` with ``-r``/``-R``/``-f`` (or ``--recursive``/``--force``), ``rmdir``, ``shred``,
  ``truncate``; ``git reset --hard``, ``git push --force`` (``-f``, ``--force-with-lease``,
  ``+ref``), ``git clean -f``, ``git checkout -- PATH``/``git checkout .``, ``git restore``
  without ``--staged``, ``git branch -D``, ``git stash drop|clear``; ``chmod -R`` (777 or
  any mode), ``chown -R``; ``dd of=…``; ``mkfs*``, ``fdisk``, ``parted``, ``wipefs``;
  ``kill -9``/``-KILL``/``-s KILL``, ``pkill``/``killall`` with those; ``find … -delete`` or
  ``-exec rm``; and a ``>`` redirection over a file that exists (``>>`` appends, ``/dev/null``
  is fine);
* a write (``Write``, ``Edit``, ``MultiEdit``, ``NotebookEdit``, or any tool with a path and
  a writing name) to a secrets file: ``.env`` and ``.env.*``, ``*.pem``, ``*.key``, ``*.p12``,
  ``*.pfx``, ``id_rsa*``/``id_ed25519*``/``id_ecdsa*``, ``credentials`` (any extension),
  ``.netrc``, ``.npmrc``, ``.pypirc``, ``secrets.*``.

Both lists can be extended (:class:`Rules`): more command prefixes (``terraform destroy``),
more secrets globs. A command line that does not parse (unbalanced quotes) is judged on its
words as far as they go — refusing too much under BLOCK is the lesser harm. The classifier
answers *why* an action is destructive, in a few words a model can act on, or None.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

SECRET_FILES = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    "id_dsa*",
    "credentials",
    "credentials.*",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "secrets.*",
    ".git-credentials",
)
WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
PATH_ARGS = ("file_path", "notebook_path", "path")
_WRITING_NAME = re.compile(r"(write|edit|save|create|patch|append|replace|put|update|delete|remove)", re.I)

_OPERATORS = frozenset({";", "&&", "||", "|", "&", "|&", ";;", "(", ")", "{", "}"})
_WRAPPERS = frozenset(
    {
        "sudo",
        "doas",
        "env",
        "nice",
        "nohup",
        "time",
        "command",
        "builtin",
        "exec",
        "stdbuf",
        "ionice",
        "xargs",
    }
)
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})
_SUBSHELL = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")


class Rules:
    """What counts as destructive beyond the built-in list: ``commands`` are command
    prefixes (``"terraform destroy"``: those words in that order at a command's start),
    ``secret_files`` more glob patterns of file names."""

    __slots__ = ("commands", "secret_files")

    def __init__(self, commands: Sequence[str] = (), secret_files: Sequence[str] = ()) -> None:
        self.commands = tuple(tuple(shlex.split(c)) for c in commands if c.strip())
        self.secret_files = (*SECRET_FILES, *secret_files)


DEFAULT_RULES = Rules()


def destructive_action(
    tool: str, args: Any, *, cwd: str | None = None, rules: Rules = DEFAULT_RULES
) -> str | None:
    """Why calling ``tool`` with ``args`` is destructive, or None."""
    if not isinstance(args, dict):
        return None
    command = args.get("command")
    if isinstance(command, str) and (tool == "Bash" or "command" in args):
        found = destructive_command(command, cwd=cwd, rules=rules)
        if found is not None:
            return found
    if tool in WRITE_TOOLS or _WRITING_NAME.search(tool):
        for name in PATH_ARGS:
            path = args.get(name)
            if isinstance(path, str) and path and secrets_file(path, rules):
                return f"it writes {path}, a secrets file"
    return None


def secrets_file(path: str, rules: Rules = DEFAULT_RULES) -> bool:
    name = posixpath.basename(path.rstrip("/"))
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in rules.secret_files)


def destructive_command(command: str, *, cwd: str | None = None, rules: Rules = DEFAULT_RULES) -> str | None:
    """Why the shell command line ``command`` is destructive, or None."""
    for words, redirects in _simple_commands(command):
        found = _judge(words, rules)
        if found is not None:
            return found
        for target in (*redirects, *_written(words)):
            if _overwrites(target, cwd):
                return f"it overwrites {target}, an existing file (`>` or `tee`)"
    return None


# --------------------------------------------------------------------------- parsing


def _simple_commands(line: str, depth: int = 0) -> Iterable[tuple[list[str], list[str]]]:
    """Each simple command of ``line``: its words, and the targets of its ``>`` redirections."""
    if depth > 4:
        return
    for inner in _SUBSHELL.finditer(line):
        yield from _simple_commands(inner.group(1) or inner.group(2) or "", depth + 1)
    words: list[str] = []
    redirects: list[str] = []
    for token, redirect in _tokens(line):
        if redirect is not None:
            redirects.append(redirect)
        elif token in _OPERATORS:
            if words:
                yield from _expand(words, redirects, depth)
            words, redirects = [], []
        else:
            words.append(token)
    if words or redirects:
        yield from _expand(words, redirects, depth)


def _expand(words: list[str], redirects: list[str], depth: int) -> Iterable[tuple[list[str], list[str]]]:
    words = _unwrap(words)
    if len(words) >= 3 and posixpath.basename(words[0]) in _SHELLS and "-c" in words[1:-1]:
        body = words[words.index("-c", 1) + 1]
        yield from _simple_commands(body, depth + 1)
    yield words, redirects


def _tokens(line: str) -> Iterable[tuple[str, str | None]]:
    """(token, None) or ("", target) for a ``>``/``>|``/``&>`` redirection to ``target``."""
    # A newline ends a command like ``;`` (a backslash before it continues the line).
    line = line.replace("\\\n", " ").replace("\n", " ; ")
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    tokens: list[str] = []
    try:
        for token in lexer:
            tokens.append(token)
    except ValueError:
        pass  # unbalanced quotes: judge the words read so far
    index = 0
    while index < len(tokens):
        token = tokens[index]
        overwrite = token in (">", ">|", "&>", "1>", "2>") or (
            token.endswith(">") and token.rstrip(">").isdigit()
        )
        if overwrite and index + 1 < len(tokens) and tokens[index + 1] not in _OPERATORS:
            yield "", tokens[index + 1]
            index += 2
            continue
        if token in (">>", "&>>", "<", "<<", "<<<", "<&", ">&"):
            index += 2  # appends and inputs change nothing
            continue
        yield token, None
        index += 1


def _unwrap(words: list[str]) -> list[str]:
    """The command past ``sudo``, ``env VAR=x``, ``nice -n 5``… and leading assignments."""
    index = 0
    while index < len(words):
        word = words[index]
        base = posixpath.basename(word)
        if "=" in word and not word.startswith("-") and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word):
            index += 1
        elif base in _WRAPPERS:
            index += 1
            while index < len(words) and words[index].startswith("-"):
                # an option's value (``nice -n 5``, ``sudo -u root``)
                takes_value = words[index] in ("-n", "-u", "-g", "-c", "-p", "-I", "-L", "-P")
                index += 2 if takes_value else 1
        else:
            break
    return words[index:]


# --------------------------------------------------------------------------- judging


def _judge(words: list[str], rules: Rules) -> str | None:
    if not words:
        return None
    for prefix in rules.commands:
        if tuple(words[: len(prefix)]) == prefix:
            return f"`{' '.join(prefix)}` is configured as destructive"
    name = posixpath.basename(words[0])
    args = words[1:]
    flags, long_flags = _flags(args)
    if name == "rm":
        if flags & {"r", "R", "f"} or long_flags & {"recursive", "force"}:
            return "`rm -r`/`rm -f` deletes files recursively or without asking"
        return None
    if name in ("rmdir", "shred", "truncate", "srm", "unlink") and args:
        return f"`{name}` destroys files"
    if name == "git":
        return _git(args)
    if name in ("chmod", "chown", "chgrp") and (flags & {"R"} or "recursive" in long_flags):
        return f"`{name} -R` changes permissions of a whole tree"
    if name == "chmod" and any(a in ("777", "a+rwx", "0777") for a in args):
        return "`chmod 777` makes files writable by anyone"
    if name == "dd" and any(a.startswith("of=") for a in args):
        return "`dd of=` overwrites its target"
    if name.startswith("mkfs") or name in ("fdisk", "sfdisk", "parted", "wipefs", "mkswap"):
        return f"`{name}` formats or repartitions a disk"
    if name in ("kill", "pkill", "killall") and _kill_9(args):
        return f"`{name} -9` kills processes without letting them clean up"
    if name == "find" and ("-delete" in args or _find_exec_rm(args)):
        return "`find -delete` / `find -exec rm` deletes what it finds"
    return None


def _written(words: list[str]) -> list[str]:
    """Files a command writes over like ``>`` does (``tee`` without ``-a``)."""
    if not words or posixpath.basename(words[0]) != "tee":
        return []
    flags, long_flags = _flags(words[1:])
    if "a" in flags or "append" in long_flags:
        return []
    return [a for a in words[1:] if not a.startswith("-")]


def _flags(args: Sequence[str]) -> tuple[set[str], set[str]]:
    short: set[str] = set()
    long: set[str] = set()
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("--"):
            long.add(arg[2:].split("=", 1)[0])
        elif arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit():
            short.update(arg[1:])
    return short, long


def _git(args: list[str]) -> str | None:
    # Past git's own options (``git -C dir …``), to its subcommand.
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in ("-C", "-c", "--git-dir", "--work-tree") else 1
    if index >= len(args):
        return None
    sub, rest = args[index], args[index + 1 :]
    flags, long_flags = _flags(rest)
    if sub == "reset" and "hard" in long_flags:
        return "`git reset --hard` discards uncommitted work"
    if sub == "push" and (
        "f" in flags
        or long_flags & {"force", "force-with-lease", "mirror", "delete"}
        or any(a.startswith("+") for a in rest)
    ):
        return "`git push --force` rewrites the remote's history"
    if sub == "clean" and ("f" in flags or "force" in long_flags):
        return "`git clean -f` deletes untracked files"
    if sub == "checkout" and ("--" in rest or "." in rest or "f" in flags or "force" in long_flags):
        return "`git checkout -- …` discards uncommitted changes"
    if sub == "restore" and "staged" not in long_flags and "S" not in flags:
        return "`git restore` discards uncommitted changes"
    if sub == "branch" and ("D" in flags or ("d" in flags and "force" in long_flags)):
        return "`git branch -D` deletes a branch that may be unmerged"
    if sub == "stash" and rest[:1] in (["drop"], ["clear"]):
        return "`git stash drop/clear` deletes stashed work"
    return None


def _kill_9(args: list[str]) -> bool:
    for index, arg in enumerate(args):
        if arg in ("-9", "-KILL", "-SIGKILL", "--signal=KILL", "--signal=9"):
            return True
        if (
            arg in ("-s", "--signal")
            and index + 1 < len(args)
            and args[index + 1] in ("9", "KILL", "SIGKILL")
        ):
            return True
    return False


def _find_exec_rm(args: list[str]) -> bool:
    for index, arg in enumerate(args):
        following = args[index + 1] if index + 1 < len(args) else ""
        if arg in ("-exec", "-execdir", "-ok") and posixpath.basename(following) in ("rm", "shred", "unlink"):
            return True
    return False


def _overwrites(target: str, cwd: str | None) -> bool:
    if target.startswith("/dev/") or target.startswith("&") or target == "-":
        return False
    path = os.path.expanduser(target)
    if not os.path.isabs(path):
        path = os.path.join(cwd or os.getcwd(), path)
    return os.path.isfile(path) and os.path.getsize(path) > 0
