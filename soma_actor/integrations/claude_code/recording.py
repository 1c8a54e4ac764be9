"""A hook recorded by its own process: parsed, recorded straight into the database (or the
spool), the vitals run here, the answer composed — what ``soma hook`` does when no runtime
answers on its control socket, and how any hook's errors are recorded.

``run`` is the whole of it over any :class:`~soma_actor.integrations._ledger.Ledger`; a
runtime serving hooks does the same steps with its own store (``served``).
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from .._ledger import Draft
from . import agent_of, spool
from .answer import main_agent, plan, render, sessions
from .hook_input import BadHookInput, HookInput, parse
from .policy import HookPolicy, PolicyError

if TYPE_CHECKING:
    from typing import Any

    from .._ledger import Ledger
    from ._options import Options

_EXCERPT = 500


def record_here(raw: bytes, options: Options) -> dict[str, Any] | None:
    """Record one hook's stdin in this process; the answer (None: print nothing). Never raises."""
    hook: HookInput | None = None
    try:
        hook = parse(raw)
        policy = _policy(options, hook)
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
    return agent_of(hook.session_id, hook.subagent)


def _record(hook: HookInput, policy: HookPolicy, options: Options) -> dict[str, Any] | None:
    from .._direct import DirectLedger
    from .._lock import LockBusy

    ledger = DirectLedger(options.db, wait=options.lock_wait, config=policy.vitals_config())
    try:
        with ledger.transaction() as step:
            drain_spool(options, policy, step)
            return run(hook, policy, step)
    except LockBusy as exc:
        spool.keep(options.db, {"input": hook.data}, str(exc))
        return None


# --------------------------------------------------------------------------- the spool


def drain_spool(options: Options, policy: HookPolicy, step: Any) -> int:
    """Record what waits in the spool (``spool``), in order, inside ``step`` (the caller's
    transaction); returns how many entries. An entry's ``hook.spooled`` event id is derived
    from the entry's id: one already recorded is not recorded twice."""
    count = 0
    with spool.taken(options.db) as entries:
        for entry in entries:
            marker = f"ev-spool-{entry['id']}"
            if step.has_event(marker):
                continue
            step.append([Draft("hook.spooled", spool.note(entry), event_id=marker, source="hook")])
            if isinstance(entry.get("input"), dict):
                with contextlib.suppress(BadHookInput):  # it was parsed once: it parses again
                    run(HookInput(entry["input"]), policy, step, answer=False)
            elif isinstance(entry.get("error"), dict):
                step.append([Draft("hook.error", dict(entry["error"]), source="hook")])
            count += 1
    return count


# --------------------------------------------------------------------------- errors


def record_error(
    options: Options, kind: str, problem: str, event: str | None, raw: bytes, session_id: str | None
) -> None:
    """Record what went wrong as ``hook.error``: in the database if it can be had at once,
    else in the spool, else on stderr. Never raises."""
    from .._direct import DirectLedger
    from .._lock import LockBusy

    payload = {
        "kind": kind,
        "problem": problem[:2000],
        "event": event,
        "excerpt": raw[:_EXCERPT].decode("utf-8", errors="replace"),
    }
    agent = agent_of(session_id) if session_id else None
    try:
        try:
            ledger = DirectLedger(options.db, wait=min(1.0, options.lock_wait))
            ledger.exchange(
                [Draft("hook.error", payload, agent_id=agent, session_id=session_id, source="hook")],
                agent or "",
                None,
            )
        except LockBusy as exc:
            spool.keep(options.db, {"error": payload}, str(exc))
    except Exception as exc:
        sys.stderr.write(f"soma hook: {kind}: {problem} (and it could not be recorded: {exc})\n")
