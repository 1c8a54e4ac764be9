"""``soma hook``: one Claude Code hook event, recorded, vitals run, answered.

    soma hook [--db PATH] [--control PATH] [--config FILE.toml] [--serve] [--serve-idle SECONDS]
              [--lock-wait SECONDS]

Claude Code starts this process for every hook, with the event on stdin, and waits for it.
So it starts like a shell builtin: the ``soma`` entry point sends ``hook`` here before
importing the command-line app, and the path imports only the standard library, the
integration's own small modules and — when the event is an action to score — the vitals
engine. Where it records (``_ledger``; the recording itself is ``recording``):

1. through a running runtime, when one answers on ``--control`` (or ``SOMA_CONTROL``): one
   request over a plain socket carrying stdin as it came — the runtime parses it, records,
   runs the vitals and composes the answer (``served``), so this process imports little more
   than ``json``;
2. otherwise straight into ``--db`` (or ``SOMA_DB``, default ``./soma.db``), under the
   database's writer lock (``_direct``);
3. when neither can be had within ``--lock-wait`` seconds (default 3; a runtime without a
   control socket holds the database), the event waits in a spool beside the database
   (``<db>-spool.jsonl``, ``spool``) and is recorded by the next hook that gets the lock, or by
   a runtime serving hooks — in order, once.

``--serve`` (what ``soma init --serve`` writes): at a session's start, if no runtime answers on
the control socket, start ``soma serve`` for the database in the background; it ends itself
after ``--serve-idle`` seconds (default 1800) without a hook.

Nothing here ever stands in Claude Code's way: a malformed stdin, an event Soma does not
record, a bad config or any internal error exits 0 with nothing on stdout, and is recorded
(``hook.error``) — or, if even that fails, written to stderr, which Claude Code keeps in its
debug log.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys

from ._options import CONTROL_TIMEOUT, Options, UsageError, parse_options

# Not ``from typing import TYPE_CHECKING``: this module is the hook's hot path, and typing
# costs a few milliseconds of its ~20 (type checkers read the name as typing's own).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Options", "handle", "main", "parse_options"]


def main(argv: list[str]) -> int:
    """Run the hook with ``argv`` (after ``hook``); always 0 unless the command line is wrong."""
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(__doc__ or "")
        return 0
    try:
        options = parse_options(argv)
    except UsageError as exc:
        sys.stderr.write(f"soma hook: {exc}\n")
        return 2
    raw = sys.stdin.buffer.read()
    answer = handle(raw, options)
    if answer is not None:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False))
        sys.stdout.write("\n")
    return 0


def handle(raw: bytes, options: Options) -> dict[str, Any] | None:
    """The answer to one hook's stdin (None: print nothing); never raises.

    Through a runtime, the hook sends stdin as it came and prints what the runtime answers
    (it parses, records, runs the vitals and composes the answer: ``served``); only when none
    answers does this process do it all itself (``recording``).
    """
    try:
        if options.control:
            if options.serve and b"SessionStart" in raw:
                _ensure_server(options)
            from .._control import Refused, Unreachable, request

            params = {"raw": raw.decode("utf-8", errors="replace"), "config": options.config}
            try:
                result = request(options.control, "claude_hook", params, timeout=CONTROL_TIMEOUT)
            except (Unreachable, Refused):
                pass  # no runtime (or one that does not record for hooks): the database itself
            else:
                answer = result.get("answer") if isinstance(result, dict) else None
                return answer if isinstance(answer, dict) else None
    except Exception:  # the runtime's side failed oddly: record here instead
        pass
    from .recording import record_here

    return record_here(raw, options)


# --------------------------------------------------------------------------- --serve


def _ensure_server(options: Options) -> None:
    """Start ``soma serve`` for the database when nothing answers on the control socket.
    One hook starts it (a lock beside the socket, holding the pid it started)."""
    from .._control import Refused, Unreachable, request

    assert options.control is not None
    try:
        request(options.control, "hello", {}, timeout=1.0)
        return
    except Refused:
        return
    except Unreachable:
        pass
    marker = options.control + ".serve"
    fd = os.open(marker, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another hook is starting it right now
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
        if text.isdigit() and _alive(int(text)):
            return  # started, still starting up
        import subprocess

        log = os.open(options.db + "-serve.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            serve = ["serve", "--db", options.db, "--control", options.control]
            child = subprocess.Popen(
                [sys.executable, "-m", "soma_actor.cli", *serve, "--idle-exit", str(options.serve_idle)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # not in Claude Code's process group: it outlives the hook
                cwd=os.path.dirname(options.db),
            )
        finally:
            os.close(log)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{child.pid}\n".encode(), 0)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
