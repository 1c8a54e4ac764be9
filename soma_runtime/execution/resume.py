"""Resume at open (docs/design.md §5b): every run the previous runtime left without an end either
ends now or goes on, before the new runtime serves anything.

``Runtime.open`` calls :func:`recover` once its tree is up. What it does, in order:

1. Finds what was left unfinished — runs, sessions — through the store's index of them
   (``EventLog.unfinished``, ``unfinished_runs``), and reads those runs' events and nothing
   else: the cost is the interrupted work, not the size of the log.
2. Kills the tool processes their journals say may still run (``tool.spawned`` without an
   outcome), checked by pid *and* start time, so a process that reused a pid is never hit;
   before any step runs again.
3. Lets the layers above end their own interrupted work (:func:`register_recovery`: the
   actor layer ends the tasks the stop cut); a run that belonged to an ended task ends too.
4. Decides each run (``_journal.decide``: the rules are there), and records, in a few
   batches, every end and every closed tool call, ``session.stopped`` (reason
   ``interrupted``) for each session left with nothing to run (not one an outside agent
   records, whose start names a ``source``) and ``session.resumed`` for
   each session restarted.
   With them, each run that goes on gets ``run.resumed`` (or, accepted and never started,
   its first ``run.started``).
5. Restarts those sessions under their own ids and hands each its runs, rebuilt but held;
   once every one is there, lets them all carry on (``GO``).

Nothing here is SQLite's: the store is read through ``EventLog``. A store shared by several
runtimes would run the same steps over the runs one runtime owns.

A stop during recovery leaves a log the next recovery reads the same way: an end written is
final, a call already closed as interrupted is judged again by the same journal.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.to_thread

from ..kernel import DynamicSupervisor, Pid
from ..store.events import Event, EventDraft
from ..store.log import EventLog
from ..tools._proc import ProcessIdentity, kill_leftovers
from ..tools.registry import lookup
from ._journal import JOURNAL_TYPES, Continue, End, RunJournal, decide, read_journals
from .run_types import GO, ResumePoint, RunOptions
from .session import ResumeRuns, RunPlan, Services

RecoveryHook = Callable[[EventLog], Awaitable[Collection[str]]]

_HOOKS: dict[str, RecoveryHook] = {}
_WRITE_CHUNK: Final = 2000  # events per batch of recorded ends


def register_recovery(name: str, hook: RecoveryHook) -> None:
    """Run ``await hook(events)`` at every open of a store for writing, before any run is
    resumed (registering a name again replaces its hook).

    For the layers above the core, which own work the core does not know: a hook ends what
    the stop cut and returns the ids of the *tasks* it ended; the runs that carry one of
    those ``task_id`` s then end (``run.failed``, kind ``interrupted``) instead of resuming.
    The actor layer registers one when it is imported.
    """
    _HOOKS[name] = hook


@dataclass
class Recovery:
    """What recovery did at open (``Runtime.recovery``)."""

    resumed: list[str] = field(default_factory=list)
    """Runs continuing from where they stopped."""
    started: list[str] = field(default_factory=list)
    """Runs accepted but never started, started now."""
    ended: dict[str, str] = field(default_factory=dict)
    """Runs ended now, by run id: ``completed``, ``failed``, ``timeout``, ``cancelled``
    (an outcome the journal held), ``interrupted``, ``resume_unsafe``, ``resume_unavailable``."""
    sessions_resumed: list[str] = field(default_factory=list)
    sessions_stopped: list[str] = field(default_factory=list)
    tasks_ended: list[str] = field(default_factory=list)
    killed_os_pids: list[int] = field(default_factory=list)
    """Leftover tool processes (and what they started) killed."""


async def recover(events: EventLog, services: Services, session_supervisor: str, *, resume: bool) -> Recovery:
    """Resume or end every unfinished run (see the module docstring)."""
    with _collector_paused():
        return await _recover(events, services, session_supervisor, resume=resume)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Recovery builds a process per run it rebuilds, tens of thousands of long-lived objects a
    second, and CPython's cycle collector rescans the whole heap each time the old generation
    grows by a quarter: half of recovery's time at 10k runs, measured. So it waits until
    recovery is done (if it was on at all), and then runs as it would have."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _recover(
    events: EventLog, services: Services, session_supervisor: str, *, resume: bool
) -> Recovery:
    report = Recovery()
    open_sessions = {e.session_id: e for e in await events.unfinished("session") if e.session_id}
    journals = list(read_journals(await events.unfinished_runs(JOURNAL_TYPES)).values())
    leftovers = [_identity(s) for j in journals for s in j.leftover_processes()]
    if leftovers:
        report.killed_os_pids = await anyio.to_thread.run_sync(kill_leftovers, leftovers)
    for hook in list(_HOOKS.values()):
        report.tasks_ended.extend(await hook(events))
    ended_tasks = set(report.tasks_ended)
    names = sorted({s.tool for j in journals for s in j.steps})
    tools = await lookup(services.tool_registry, names) if names else {}
    now = time.time_ns()

    drafts: list[EventDraft] = []
    plans: dict[str | None, list[RunPlan]] = {}
    owners: dict[str, RunJournal] = {}  # a journal of each session that gets runs
    for j in journals:
        decision = decide(j, tools, resume=resume, task_ended=j.ids.get("task_id") in ended_tasks, now_ns=now)
        if isinstance(decision, End):
            drafts.extend(decision.drafts)
            report.ended[j.run_id] = decision.kind
            continue
        plan = _plan(j, decision, tools, services)
        drafts.extend(decision.drafts)
        drafts.append(_continues(j, plan, decision))
        session_id = j.ids.get("session_id")
        plans.setdefault(session_id, []).append(plan)
        (report.resumed if decision.point is not None else report.started).append(j.run_id)
        if session_id is not None:
            owners.setdefault(session_id, j)

    starts: list[tuple[str, str, dict[str, Any]]] = []  # sessions to restart: id, agent, started payload
    for session_id, j in owners.items():
        opener = open_sessions.get(session_id) or await _last_start(events, session_id)
        payload = dict(opener.payload) if opener is not None else {}
        agent_id = (opener.agent_id if opener is not None else None) or j.ids.get("agent_id") or "unknown"
        resumed = {
            "intent": payload.get("intent"),
            "metadata": payload.get("metadata") or {},
            "runs": [p.run_id for p in plans[session_id]],
        }
        drafts.append(EventDraft("session.resumed", resumed, session_id=session_id, agent_id=agent_id))
        starts.append((session_id, agent_id, resumed))
        report.sessions_resumed.append(session_id)
    for session_id, opener in open_sessions.items():
        # A session recorded for an agent that runs elsewhere (its start names a ``source``:
        # a Claude Code hook, a wrapped SDK client) was never this runtime's: that agent is
        # still alive, and records its own end.
        if session_id not in owners and not _outside(opener):
            stopped = {"reason": "interrupted"}
            drafts.append(
                EventDraft("session.stopped", stopped, session_id=session_id, agent_id=opener.agent_id)
            )
            report.sessions_stopped.append(session_id)
    # Each batch is prepared while the store commits the one before (one after the other in
    # the store's order); every one is durable before any run goes on.
    async with anyio.create_task_group() as tg:
        for batch in _batches(drafts):
            tg.start_soon(events.write_many, batch)

    runs: list[Pid] = []
    for session_id, agent_id, resumed in starts:
        pid = await DynamicSupervisor.start_child(
            session_supervisor, session_id, agent_id, services, resumed["intent"], resumed["metadata"], True
        )
        assert pid is not None
        runs.extend(await pid.call(ResumeRuns(plans[session_id]), timeout=None))
    for plan in plans.get(None, []):  # a run with no session (started outside of one)
        pid = await DynamicSupervisor.start_child(
            services.run_supervisor,
            plan.run_id,
            None,
            plan.steps,
            plan.tools,
            plan.options,
            events,
            plan.point,
        )
        assert pid is not None
        runs.append(pid)
    for pid in runs:  # every run is rebuilt: now they carry on
        pid.send_nowait(GO)
    return report


def _continues(j: RunJournal, plan: RunPlan, decision: Continue) -> EventDraft:
    """The journal entry of a run recovery rebuilds: ``run.resumed``, or ``run.started`` for
    one that never started (with the plan and options, as a run's own start records them)."""
    if decision.point is None:
        plan_json = j.accepted.payload.get("steps") if j.accepted is not None else None
        steps = plan_json if plan_json is not None else [s.to_json() for s in plan.steps]
        return j.draft("run.started", {"steps": steps, "options": plan.options.journal()})
    point = decision.point
    step = plan.steps[point.cursor]
    return j.draft(
        "run.resumed", {"next_step": step.id, "completed_steps": list(point.outputs), "rerun": point.rerun}
    )


def _plan(j: RunJournal, decision: Continue, tools: dict[str, Any], services: Services) -> RunPlan:
    """The run's options as journalled (a run that never started takes today's)."""
    journalled = j.options
    ids = j.ids
    options = RunOptions(
        session_id=ids.get("session_id"),
        agent_id=ids.get("agent_id"),
        task_id=ids.get("task_id"),
        correlation_id=ids.get("correlation_id"),
        timeout=j.timeout,
        root=Path(journalled["root"]) if "root" in journalled else services.root,
        cancel_grace=float(journalled.get("cancel_grace", services.cancel_grace)),
        on_shutdown=services.on_shutdown,
    )
    needed = {s.tool: tools[s.tool] for s in decision.steps if s.tool in tools}
    point = decision.point if decision.point is not None else ResumePoint({}, 0, False, options.timeout)
    return RunPlan(j.run_id, decision.steps, needed, options, point)


async def _last_start(events: EventLog, session_id: str) -> Event | None:
    """How a session that already ended (its runs were suspended) had started."""
    found = await events.query(
        session_id=session_id, type=["session.started", "session.resumed"], descending=True, limit=1
    )
    return found[0] if found else None


def _identity(spawned: Event) -> ProcessIdentity:
    p = spawned.payload
    start_time = p.get("start_time")
    boot_id = p.get("boot_id")
    return ProcessIdentity(
        int(p["os_pid"]),
        start_time if isinstance(start_time, int) else None,
        boot_id if isinstance(boot_id, str) else None,
    )


def _batches(drafts: list[EventDraft]) -> Iterator[list[EventDraft]]:
    # Each batch is atomic; a run's few events are never split between two (they are
    # consecutive and a batch ends only at a run's last event or a session event).
    batch: list[EventDraft] = []
    for i, draft in enumerate(drafts):
        batch.append(draft)
        following = drafts[i + 1] if i + 1 < len(drafts) else None
        if len(batch) >= _WRITE_CHUNK and (following is None or following.run_id != draft.run_id):
            yield batch
            batch = []
    if batch:
        yield batch


def _outside(opener: Event) -> bool:
    """Whether a session was recorded for an agent that runs elsewhere: its start says so on
    its envelope (``source`` hook or wrap) or, in a log from before the envelope had it, in
    its payload."""
    return opener.source in ("hook", "wrap") or opener.payload.get("source") is not None
