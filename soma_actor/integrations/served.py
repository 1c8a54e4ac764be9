"""The control ops that let agents running elsewhere record through a live runtime.

``soma serve`` registers them (:func:`register`), so a Claude Code hook or a wrapped SDK
client that finds a runtime on its control socket records through it instead of opening the
database: the runtime's own store appends the events (one writer), its vitals monitor
observes them like any others, and the answer is read once the monitor has caught up.

==================== ================================================ ===================
op                   parameters                                       result
==================== ================================================ ===================
``claude_hook``      ``raw`` (a hook's stdin, as text), ``config``    ``{"answer": …}``
                     (the hooks' TOML file, or null)
``vitals_facts``     ``agent_id``, ``sessions``, ``task_agent``       ``Facts``
``vitals_exchange``  ``events`` (``Draft.to_json``), ``agent_id``,    ``Outcome``
                     ``channel`` (null: hand out no guidance)
==================== ================================================ ===================

``claude_hook`` does for ``soma hook`` everything its process would do alone
(``claude_code.recording``): parse, record, run the vitals, compose Claude Code's answer —
so the hook's process sends one request and imports almost nothing. A stdin it cannot read is
recorded as ``hook.error`` and answered with nothing, as the hook itself would.

Recording steps take turns (one lock), each reading and writing as one step, so a session's
start is recorded once however many hooks race to it, and each guidance firing is handed
out once — what the database's writer lock gives hooks that record directly.

``idle_exit``: a runtime started for hooks (``soma init``'s ``--serve``) ends itself — by
SIGTERM to its own process, so ``soma serve`` shuts down in order — when no exchange came
for that many seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from typing import Any

import anyio

from soma_runtime import Runtime
from soma_runtime.kernel import NoProc, Process
from soma_runtime.store.events import EventDraft

from .. import events as _actor_events  # noqa: F401  (the actor.task.* payloads hooks record)
from ._ledger import ACTIONS, Draft, Facts, Firing, Outcome, Vitals, delivery, newest
from .claude_code import agent_of, spool
from .claude_code.answer import Plan, main_agent, plan, render, sessions
from .claude_code.hook_input import BadHookInput, HookInput, parse
from .claude_code.policy import HookPolicy, PolicyError


class _Recorder:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.lock = anyio.Lock()
        self.last_request = time.monotonic()
        self.policies: dict[str, tuple[float, HookPolicy]] = {}
        self.db: str | None = None  # the runtime's database (where its spool is)

    async def facts(self, params: dict[str, Any]) -> dict[str, Any]:
        agent_id = _agent(params)
        sessions = params.get("sessions") or []
        task_agent = params.get("task_agent")
        if not isinstance(sessions, list) or not all(isinstance(s, str) for s in sessions):
            raise ValueError(f"'sessions' must be a list of session ids, got {sessions!r:.80}")
        if task_agent is not None and not isinstance(task_agent, str):
            raise ValueError(f"'task_agent' must be an agent id, got {task_agent!r:.80}")
        self.last_request = time.monotonic()
        async with self.lock:
            return (await self._facts(agent_id, sessions, task_agent)).to_json()

    async def _facts(self, agent_id: str, sessions: Sequence[str], task_agent: str | None) -> Facts:
        started = {s for s in sessions if await self._started(s)}
        task = await self._open_task(task_agent) if task_agent else None
        return Facts(started, task, await self._vitals(agent_id))

    async def exchange(self, params: dict[str, Any]) -> dict[str, Any]:
        agent_id = _agent(params)
        events = params.get("events")
        channel = params.get("channel")
        if not isinstance(events, list):
            raise ValueError(f"'events' must be a list of events, got {events!r:.80}")
        if channel is not None and (not isinstance(channel, str) or not channel):
            raise ValueError(f"'channel' must be a non-empty string or null, got {channel!r:.80}")
        drafts = [Draft.from_json(e) for e in events]
        self.last_request = time.monotonic()
        async with self.lock:
            outcome = await self._exchange(drafts, agent_id, channel)
        return outcome.to_json()

    async def claude_hook(self, params: dict[str, Any]) -> dict[str, Any]:
        raw, config = params.get("raw"), params.get("config")
        if not isinstance(raw, str):
            raise ValueError(f"'raw' must be a hook's stdin as text, got {raw!r:.80}")
        if config is not None and (not isinstance(config, str) or not config):
            raise ValueError(f"'config' must be a path or null, got {config!r:.80}")
        self.last_request = time.monotonic()
        try:
            hook = parse(raw.encode())
        except BadHookInput as exc:
            await self._error(exc.kind, exc.problem, exc.event, raw, None)
            return {"answer": None}
        policy = await self._policy(config, hook)
        async with self.lock:
            await self._drain_spool(policy)
            the_plan, outcome = await self._record(hook, policy, answer=True)
        return {"answer": render(hook, the_plan, outcome)}

    async def _record(self, hook: HookInput, policy: HookPolicy, *, answer: bool) -> tuple[Plan, Outcome]:
        """One hook's steps (``claude_code.recording.run``), with this runtime's store."""
        agent = agent_of(hook.session_id, hook.subagent)
        facts = await self._facts(agent, sessions(hook), main_agent(hook))
        the_plan = plan(hook, facts, policy)
        channel = the_plan.channel if answer else None
        return the_plan, await self._exchange(the_plan.drafts, the_plan.agent_id, channel)

    async def _drain_spool(self, policy: HookPolicy) -> None:
        """Record the hook events that waited in the spool while nothing could record them
        (``claude_code.spool``), in order and once, before the hook at hand."""
        if self.db is None:
            self.db = (await self.rt.events.stats()).path
        if not await anyio.Path(spool.spool_path(self.db)).exists():
            return
        fd = await anyio.to_thread.run_sync(spool.lock, self.db)
        if fd is None:
            return
        try:
            entries = await anyio.to_thread.run_sync(spool.read, fd)
            await self._record_spooled(entries, policy)
            await anyio.to_thread.run_sync(os.ftruncate, fd, 0)
        finally:
            os.close(fd)

    async def _record_spooled(self, entries: list[dict[str, Any]], policy: HookPolicy) -> None:
        if entries:
            recorded = {e.payload.get("entry") for e in await self.rt.events.query(type="hook.spooled")}
            for entry in entries:
                if entry["id"] in recorded:
                    continue
                await self.rt.events.append_many(
                    [EventDraft("hook.spooled", spool.note(entry), source="hook")]
                )
                if isinstance(entry.get("input"), dict):
                    with contextlib.suppress(BadHookInput):  # it was parsed once: it parses again
                        await self._record(HookInput(entry["input"]), policy, answer=False)
                elif isinstance(entry.get("error"), dict):
                    await self.rt.events.append_many(
                        [EventDraft("hook.error", dict(entry["error"]), source="hook")]
                    )

    async def _policy(self, path: str | None, hook: HookInput) -> HookPolicy:
        """The hooks' config (re-read when the file changed); its defaults, and the mistake
        recorded, when it cannot be used."""
        if path is None:
            return HookPolicy()
        try:
            changed = os.stat(path).st_mtime
            cached = self.policies.get(path)
            if cached is None or cached[0] != changed:
                cached = self.policies[path] = (changed, HookPolicy.load(path))
            return cached[1]
        except (OSError, PolicyError) as exc:
            await self._error("config", str(exc), hook.event, "", hook.session_id)
            return HookPolicy()

    async def _error(self, kind: str, problem: str, event: str | None, raw: str, session: str | None) -> None:
        payload = {
            "kind": kind,
            "problem": problem[:2000],
            "event": event,
            "excerpt": raw[:500],
        }
        agent = agent_of(session) if session else None
        await self.rt.events.append_many(
            [EventDraft("hook.error", payload, session_id=session, agent_id=agent, source="hook")]
        )

    async def _exchange(self, drafts: Sequence[Draft], agent_id: str, channel: str | None) -> Outcome:
        onces = {d.once for d in drafts if d.once is not None}
        skip = {s for s in onces if await self._started(s)}
        kept = [d for d in drafts if d.once is None or d.once not in skip]
        recorded = await self.rt.events.append_many([_event(d) for d in kept])
        if any(d.type in ACTIONS for d in kept):
            with contextlib.suppress(NoProc):  # a runtime without vitals (--no-vitals): no wait
                await self.rt.vitals.caught_up()
        guidance: list[Firing] = []
        if channel is not None:
            guidance = newest(await self._pending(agent_id))
            if guidance:
                session = next((d.session_id for d in drafts if d.agent_id == agent_id), None)
                await self.rt.events.append_many([_event(delivery(guidance, agent_id, session, channel))])
        return Outcome(await self._vitals(agent_id), guidance, [e.seq for e in recorded])

    async def _started(self, session_id: str) -> bool:
        return bool(await self.rt.events.query(session_id=session_id, type="session.started", limit=1))

    async def _open_task(self, agent_id: str) -> str | None:
        found = await self.rt.events.query(agent_id=agent_id, type="actor.task.*", descending=True, limit=1)
        return found[0].task_id if found and found[0].type == "actor.task.received" else None

    async def _vitals(self, agent_id: str) -> Vitals | None:
        found = await self.rt.events.query(agent_id=agent_id, type="vitals.updated", descending=True, limit=1)
        return Vitals.from_payload(agent_id, found[0].payload) if found else None

    async def _pending(self, agent_id: str) -> list[Firing]:
        delivered = await self.rt.events.query(
            agent_id=agent_id, type="guidance.delivered", descending=True, limit=1
        )
        after = int(delivered[0].payload.get("upto_seq", 0)) if delivered else 0
        fired = await self.rt.events.query(agent_id=agent_id, type="guidance.fired", after_seq=after)
        # A firing in the control arm of an A/B test (``vitals.arms``) is never handed out.
        return [Firing.from_event(e.seq, e.payload) for e in fired if e.payload.get("delivered") is not False]


def _agent(params: dict[str, Any]) -> str:
    agent_id = params.get("agent_id")
    if not isinstance(agent_id, str) or not agent_id:
        raise ValueError(f"'agent_id' must be a non-empty string, got {agent_id!r:.80}")
    return agent_id


def _event(draft: Draft) -> EventDraft:
    return EventDraft(
        draft.type,
        draft.payload,
        session_id=draft.session_id,
        tool_call_id=draft.tool_call_id,
        agent_id=draft.agent_id,
        task_id=draft.task_id,
        correlation_id=draft.correlation_id,
        source=draft.source,
    )


def register(rt: Runtime, *, idle_exit: float | None = None) -> None:
    """Serve ``claude_hook``, ``vitals_facts`` and ``vitals_exchange`` on ``rt``'s control socket; with
    ``idle_exit``, end the process (SIGTERM to itself) after that many idle seconds."""
    recorder = _Recorder(rt)
    rt.add_control_op("claude_hook", recorder.claude_hook)
    rt.add_control_op("vitals_facts", recorder.facts)
    rt.add_control_op("vitals_exchange", recorder.exchange)
    if idle_exit is not None:
        if not idle_exit > 0:
            raise ValueError(f"idle_exit must be a positive number of seconds, got {idle_exit!r}")
        rt.node.spawn(_idle_watch, recorder, float(idle_exit), name="soma.integrations.idle")


async def _idle_watch(proc: Process, recorder: _Recorder, idle_exit: float) -> None:
    while True:
        idle = time.monotonic() - recorder.last_request
        if idle >= idle_exit:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        await anyio.sleep(min(idle_exit - idle, 60.0))
