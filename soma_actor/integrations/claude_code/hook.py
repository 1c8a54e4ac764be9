"""``soma hook``: one Claude Code hook event, recorded, vitals run, answered.

    soma hook [--db PATH] [--control PATH] [--config FILE.toml] [--serve] [--serve-idle SECONDS]
              [--lock-wait SECONDS]

Claude Code starts this process for every hook, with the event on stdin, and waits for it.
So it starts like a shell builtin: the ``soma`` entry point sends ``hook`` here before
importing the command-line app, and the path imports only the standard library, the
integration's own small modules and — when the event is an action to score — the vitals
engine. Where it records (``_ledger``):

1. through a running runtime, when one answers on ``--control`` (or ``SOMA_CONTROL``): two
   requests over a plain socket;
2. otherwise straight into ``--db`` (or ``SOMA_DB``, default ``./soma.db``), under the
   database's writer lock (``_direct``);
3. when neither can be had within ``--lock-wait`` seconds (default 3; a runtime without a
   control socket holds the database), the event waits in a spool beside the database
   (``<db>-spool.jsonl``) and is recorded by the next hook that gets the lock — in order, once.

``--serve`` (what ``soma init --serve`` writes): at a session's start, if no runtime answers on
the control socket, start ``soma serve`` for the database in the background; it ends itself
after ``--serve-idle`` seconds (default 1800) without a hook.

Nothing here ever stands in Claude Code's way: a malformed stdin, an event Soma does not
record, a bad config or any internal error exits 0 with nothing on stdout, and is recorded
(``hook.error``) — or, if even that fails, written to stderr, which Claude Code keeps in its
debug log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from typing import TYPE_CHECKING

from .._ledger import Draft
from .answer import main_agent, plan, render, sessions
from .hook_input import BadHookInput, HookInput, parse
from .policy import HookPolicy, PolicyError

if TYPE_CHECKING:
    from typing import Any

    from .._ledger import Ledger

LOCK_WAIT = 3.0  # seconds a hook waits for the writer lock (Claude Code's limit is init's --timeout)
CONTROL_TIMEOUT = 5.0
SERVE_IDLE = 1800.0
_EXCERPT = 500


class Options:
    __slots__ = ("config", "control", "db", "lock_wait", "serve", "serve_idle")

    def __init__(self) -> None:
        self.db = os.environ.get("SOMA_DB") or "soma.db"
        self.control: str | None = os.environ.get("SOMA_CONTROL") or None
        self.config: str | None = None
        self.serve = False
        self.serve_idle = SERVE_IDLE
        self.lock_wait = LOCK_WAIT


class UsageError(Exception):
    pass


def parse_options(argv: list[str]) -> Options:
    options = Options()
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if name == "--serve" and not eq:
            options.serve = True
            continue
        if name not in ("--db", "--control", "--config", "--serve-idle", "--lock-wait"):
            raise UsageError(f"no such option: {arg}")
        if eq:
            value = inline
        elif args:
            value = args.pop(0)
        else:
            raise UsageError(f"option {name} requires a value")
        if name in ("--serve-idle", "--lock-wait"):
            try:
                seconds = float(value)
            except ValueError:
                raise UsageError(f"{name} must be a number of seconds, got {value!r}") from None
            if not seconds > 0:
                raise UsageError(f"{name} must be positive, got {value!r}")
            setattr(options, name[2:].replace("-", "_"), seconds)
        else:
            setattr(options, name[2:], value)
    options.db = os.path.abspath(options.db)
    return options


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
    """The answer to one hook's stdin (None: print nothing); never raises."""
    hook: HookInput | None = None
    try:
        hook = parse(raw)
        policy = _policy(options, hook)
        if options.serve and hook.event == "SessionStart" and options.control:
            _ensure_server(options)
        return _record(hook, policy, options)
    except BadHookInput as exc:
        record_error(options, exc.kind, exc.problem, exc.event, raw, None)
    except Exception as exc:
        event = hook.event if hook is not None else None
        session = hook.session_id if hook is not None else None
        record_error(options, "internal", f"{type(exc).__name__}: {exc}", event, raw, session)
    return None


def _policy(options: Options, hook: HookInput) -> HookPolicy:
    if options.config is None:
        return HookPolicy()
    try:
        return HookPolicy.load(options.config)
    except PolicyError as exc:
        # A bad config must not stop the recording: it is recorded, and the defaults apply.
        record_error(options, "config", str(exc), hook.event, b"", hook.session_id)
        return HookPolicy()


def run(hook: HookInput, policy: HookPolicy, ledger: Ledger, *, answer: bool = True) -> dict[str, Any] | None:
    """Record ``hook`` through ``ledger`` and compose the answer (``answer=False``: a spooled
    event recorded late, whose guidance must not be marked delivered)."""
    facts = ledger.facts(agent_id(hook), sessions(hook), main_agent(hook))
    the_plan = plan(hook, facts, policy)
    channel = the_plan.channel if answer else None
    outcome = ledger.exchange(the_plan.drafts, the_plan.agent_id, channel)
    return render(hook, the_plan, outcome) if answer else None


def agent_id(hook: HookInput) -> str:
    from . import agent_of

    return agent_of(hook.session_id, hook.subagent)


def _record(hook: HookInput, policy: HookPolicy, options: Options) -> dict[str, Any] | None:
    if options.control:
        from .._control import ControlLedger, Refused, Unreachable

        try:
            return run(hook, policy, ControlLedger(options.control, timeout=CONTROL_TIMEOUT))
        except (Unreachable, Refused):
            pass  # no runtime (or one that does not record for hooks): the database itself
    from .._direct import DirectLedger
    from .._lock import LockBusy

    ledger = DirectLedger(options.db, wait=options.lock_wait, config=policy.vitals_config())
    try:
        with ledger.transaction() as step:
            drain_spool(options, policy, step)
            return run(hook, policy, step)
    except LockBusy as exc:
        spool(options, {"input": hook.data}, str(exc))
        return None


# --------------------------------------------------------------------------- the spool


def spool_path(db: str) -> str:
    return db + "-spool.jsonl"


def spool(options: Options, entry: dict[str, Any], why: str) -> None:
    """Keep a hook event (or an error) for the next hook that can write the database."""
    entry = {"id": os.urandom(8).hex(), "at": time.time(), "why": why, **entry}
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    fd = os.open(spool_path(options.db), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def drain_spool(options: Options, policy: HookPolicy, step: Any) -> int:
    """Record what waits in the spool, in order, inside ``step`` (the caller's transaction);
    returns how many entries. Each entry's first event id is derived from the entry's id, so
    an entry recorded by a hook that died before emptying the spool is not recorded twice."""
    path = spool_path(options.db)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = b""
        while chunk := os.read(fd, 1 << 20):
            data += chunk
        count = 0
        for line in data.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn line from a hook killed mid-write
            marker = f"ev-spool-{entry.get('id')}"
            if step.has_event(marker):
                continue
            note = {"spooled_at": entry.get("at"), "why": entry.get("why"), "source": "hook"}
            step.append([Draft("hook.spooled", note, event_id=marker)])
            if "input" in entry:
                with contextlib.suppress(BadHookInput):  # it was parsed once: it parses again
                    run(HookInput(entry["input"]), policy, step, answer=False)
            elif "error" in entry:
                step.append([Draft("hook.error", dict(entry["error"]))])
            count += 1
        os.ftruncate(fd, 0)
        return count
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- errors


def record_error(
    options: Options, kind: str, problem: str, event: str | None, raw: bytes, session_id: str | None
) -> None:
    """Record what went wrong as ``hook.error``: in the database if it can be had at once,
    else in the spool, else on stderr. Never raises."""
    from .._direct import DirectLedger
    from .._lock import LockBusy
    from . import agent_of

    payload = {
        "kind": kind,
        "problem": problem[:2000],
        "event": event,
        "excerpt": raw[:_EXCERPT].decode("utf-8", errors="replace"),
        "source": "hook",
    }
    agent = agent_of(session_id) if session_id else None
    try:
        try:
            ledger = DirectLedger(options.db, wait=min(1.0, options.lock_wait))
            ledger.exchange(
                [Draft("hook.error", payload, agent_id=agent, session_id=session_id)], agent or "", None
            )
        except LockBusy as exc:
            spool(options, {"error": payload}, str(exc))
    except Exception as exc:
        sys.stderr.write(f"soma hook: {kind}: {problem} (and it could not be recorded: {exc})\n")


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
