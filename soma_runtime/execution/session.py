"""AgentSession: a long-lived GenServer per agent conversation.

A session accepts runs, starts each one under the run supervisor, monitors it and keeps
its outcome. It never executes a tool and never crashes because a run failed: a run's end
reaches it as a ``RunFinished`` message (or, if the run process died without one, as a
``Down``: the session then records the run's end, ``run.failed`` kind ``crashed``), and the
session goes on accepting runs.

At open, ``resume`` restarts a session that had unfinished runs under its own id (it records
``session.resumed`` for it) and hands it those runs to continue (:class:`ResumeRuns`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..kernel import (
    NORMAL,
    Call,
    Down,
    DynamicSupervisor,
    GenServer,
    NoProc,
    Pid,
    ProcessDied,
    Ref,
    StartError,
    Stop,
    current_node,
)
from ..kernel.errors import NameTaken
from ..kernel.reasons import ExitReason, describe
from ..store._limits import LimitExceeded, check_id
from ..store.errors import InvalidEvent, StoreError, StoreWriteError
from ..store.events import EventDraft
from ..store.ids import new_id
from ..store.log import EventLog
from ..tools.registry import lookup
from ..tools.spec import ToolSpec
from .errors import Overloaded, SessionExists
from .run_types import (
    CANCEL,
    TERMINAL_TYPES,
    OnShutdown,
    ResumePoint,
    RunFinished,
    RunOptions,
    RunResult,
    RunState,
    RunSuspended,
)
from .steering import RESUBSCRIBE, STEERING_NAME, DestructiveBlock, Guidance, SteerMe
from .steps import InvalidRun, Step, validate_plan

MAX_FINISHED_KEPT = 1000  # finished runs remembered for status(); every outcome is in the store
MAX_GUIDANCE_KEPT = 20  # unread guidance beyond this is dropped oldest first (it is in the store)
DEFAULT_MAX_LIVE_RUNS = 1000
"""Live runs a session holds at most (``start_session(max_live_runs=…)``): one more is
``Overloaded``. What keeps memory bounded under any submit rate: each live run is a process,
its plan and its outputs."""
ENDS_RETRY_FIRST = 0.05  # seconds before the session tries again to record crashed runs' ends
ENDS_RETRY_MAX = 2.0
_RETRY_ENDS = "session.retry_ends"

log = logging.getLogger("soma.session")


def session_name(session_id: str) -> str:
    """The registered name of a live session: what makes its id unique while it lives."""
    return f"soma.session.{session_id}"


@dataclass(frozen=True, slots=True)
class Services:
    """Where a session finds the runtime's other processes (by registered name)."""

    run_supervisor: str
    tool_registry: str
    events: EventLog
    root: Path
    cancel_grace: float = 2.0
    on_shutdown: OnShutdown = "cancel"  # what a run records when the runtime stops in order


@dataclass(frozen=True, slots=True)
class StartRun:
    steps: Sequence[Step]
    timeout: float | None = None
    task_id: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunPlan:
    """A run to start again: its journalled plan and options, today's tools for its steps,
    and where it continues (None: it was accepted and never started)."""

    run_id: str
    steps: Sequence[Step]
    tools: Mapping[str, ToolSpec]
    options: RunOptions
    point: ResumePoint | None
    plan: list[dict[str, Any]] | None = None
    """The steps as the journal holds them (``Step.to_json``), when already made."""


@dataclass(frozen=True, slots=True)
class ResumeRuns:
    """Call: start these runs in this session (resume at open); the reply is their pids.
    They wait for recovery's ``GO`` before their next step."""

    plans: Sequence[RunPlan]


@dataclass(frozen=True, slots=True)
class RunAccepted:
    run_id: str
    pid: Pid


@dataclass(slots=True)
class RunRecord:
    run_id: str
    pid: Pid
    ref: Ref
    state: RunState = RunState.EXECUTING
    error: str | None = None
    result: RunResult | None = None
    suspended: bool = False  # it stopped with run.suspended: not an end, and not a crash


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    state: RunState
    error: str | None


@dataclass(frozen=True, slots=True)
class SessionStatus:
    session_id: str
    agent_id: str
    runs: list[RunInfo] = field(default_factory=list)
    destructive_blocked: bool = False  # vitals put the agent in BLOCK
    pending_guidance: int = 0  # guidance messages waiting for the agent's next model call

    @property
    def live_runs(self) -> list[RunInfo]:
        return [r for r in self.runs if not r.state.terminal]


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class AgentSession(GenServer):
    async def init(
        self,
        session_id: str,
        agent_id: str,
        services: Services,
        intent: str | None,
        metadata: dict[str, Any],
        resumed: bool = False,
        max_live_runs: int = DEFAULT_MAX_LIVE_RUNS,
    ) -> None:
        try:
            current_node().register(session_name(session_id), self.pid)
        except NameTaken:
            raise SessionExists(session_id) from None
        self.session_id = session_id
        self.max_live_runs = max_live_runs
        self.live: set[str] = set()  # runs without an outcome yet (the admission count)
        self.unwritten: dict[str, RunRecord] = {}  # crashed runs whose end the store refused
        self._ends_retry = ENDS_RETRY_FIRST
        self._retry_armed = False
        self.agent_id = agent_id
        self.services = services
        self.runs: OrderedDict[str, RunRecord] = OrderedDict()
        self.by_ref: dict[Ref, RunRecord] = {}
        # Steering from the monitor (vitals), kept for the agent's next model call / runs.
        self.guidance: deque[Guidance] = deque(maxlen=MAX_GUIDANCE_KEPT)
        self.block: DestructiveBlock | None = None
        if not resumed:  # a resumed session's session.resumed is already written (resume)
            await services.events.append(
                "session.started",
                {"intent": intent, "metadata": metadata},
                session_id=session_id,
                agent_id=agent_id,
            )

        self._ask_for_steering()

    def _ask_for_steering(self) -> None:
        monitor = current_node().whereis(STEERING_NAME)
        if monitor is not None:
            monitor.send_nowait(SteerMe(self.agent_id, self.pid))

    async def handle_call(self, request: Any, caller: Call) -> Any:
        match request:
            case "take_guidance":
                taken = list(self.guidance)
                self.guidance.clear()
                return taken
            case StartRun():
                try:
                    return await self._start_run(request)
                except (InvalidRun, InvalidEvent, StartError) as e:
                    # Bad input is the caller's error, never a reason for the session to die.
                    return _Failed(e if isinstance(e, InvalidRun) else InvalidRun(str(e)))
                except (Overloaded, StoreError) as e:
                    # Nor is a store that refused the write (a full disk): the caller hears
                    # it (StoreWriteError), the session serves the next request.
                    return _Failed(e)
            case "status":
                infos = [RunInfo(r.run_id, r.state, r.error) for r in self.runs.values()]
                blocked = self.block is not None and self.block.blocked
                return SessionStatus(self.session_id, self.agent_id, infos, blocked, len(self.guidance))
            case ("result", str() as run_id):
                record = self.runs.get(run_id)
                return None if record is None else record.result
            case ResumeRuns(plans=plans):
                started = []
                for plan in plans:
                    pid = await self._start(plan)
                    self._track(plan.run_id, pid)
                    started.append(pid)
                return started
            case "stop":
                await self._cancel_live_runs()
                raise Stop(NORMAL, reply=None)
        raise ValueError(f"unknown session request {request!r}")

    async def _start_run(self, request: StartRun) -> RunAccepted:
        if len(self.live) >= self.max_live_runs:
            raise Overloaded(self.session_id, self.max_live_runs)
        services = self.services
        steps = request.steps
        # Malformed step lists are reported by validate_plan; look up what can be looked up.
        names = (
            sorted({s.tool for s in steps if isinstance(s, Step) and isinstance(s.tool, str)})
            if isinstance(steps, (list, tuple))
            else []
        )
        tools = await lookup(services.tool_registry, names)
        validate_plan(steps, tools, request.timeout)
        for what, value in (("task_id", request.task_id), ("correlation_id", request.correlation_id)):
            if value is not None:
                try:
                    check_id(value, what)
                except LimitExceeded as e:  # checked once here: the run's events trust them
                    raise InvalidRun(e.problem, field=what, limit=e.limit) from None
        run_id = new_id("run")
        options = RunOptions(
            session_id=self.session_id,
            agent_id=self.agent_id,
            task_id=request.task_id,
            correlation_id=request.correlation_id,
            timeout=request.timeout,
            root=services.root,
            cancel_grace=services.cancel_grace,
            destructive_block=self.block if self.block is not None and self.block.blocked else None,
            on_shutdown=services.on_shutdown,
        )
        plan = [s.to_json() for s in steps]  # made once: the run journals it again
        accepted = EventDraft(
            "run.accepted",
            {"steps": plan, "timeout": request.timeout},
            self.session_id,
            run_id,
            None,
            None,
            self.agent_id,
            request.task_id,
            request.correlation_id,
        )
        # Trusted: validate_plan checked the steps, and the ids were checked above and at
        # the session's start (``store._batch.prepare_trusted``).
        await services.events.record_trusted([accepted], durable=True)
        pid = await self._start(RunPlan(run_id, steps, tools, options, None, plan))
        self._track(run_id, pid)
        return RunAccepted(run_id, pid)

    async def _start(self, plan: RunPlan) -> Pid:
        services = self.services
        pid = await DynamicSupervisor.start_child(
            services.run_supervisor,
            plan.run_id,
            self.pid,
            plan.steps,
            plan.tools,
            plan.options,
            services.events,
            plan.point,
            plan.plan,
        )
        assert pid is not None
        return pid

    def _track(self, run_id: str, pid: Pid) -> None:
        ref = self._proc.monitor(pid)
        record = RunRecord(run_id, pid, ref)
        self.runs[run_id] = record
        self.by_ref[ref] = record
        self.live.add(run_id)

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, Guidance):
            self.guidance.append(message)
        elif isinstance(message, DestructiveBlock):
            self.block = message
            for live in self.runs.values():  # live runs switch at their next step
                if live.result is None:
                    live.pid.send_nowait(message)
        elif message == RESUBSCRIBE:
            self._ask_for_steering()  # a restarted monitor asks its sessions again
        elif isinstance(message, RunFinished):
            self.live.discard(message.result.run_id)
            record = self.runs.get(message.result.run_id)
            if record is not None:
                record.state, record.error, record.result = (
                    message.result.state,
                    message.result.error,
                    message.result,
                )
                self._forget_old()
        elif isinstance(message, RunSuspended):
            self.live.discard(message.run_id)
            record = self.runs.get(message.run_id)
            if record is not None:
                record.suspended = True
        elif isinstance(message, Down):
            record = self.by_ref.pop(message.ref, None)
            if record is not None:
                self.live.discard(record.run_id)
            if record is not None and record.result is None and not record.suspended:
                # The run process died without reaching a terminal state (a kill, or a bug
                # in its end): the session records its end and keeps serving.
                record.error = f"run process exited: {describe(message.reason)}"
                await self._crashed(record)
        elif message == _RETRY_ENDS:
            self._retry_armed = False
            for record in list(self.unwritten.values()):
                await self._crashed(record)

    async def _crashed(self, record: RunRecord) -> None:
        """Record the end of a run whose process died without one — once the store takes it:
        until then nobody hears an outcome (``result`` answers None), and the session tries
        again at growing intervals (a full disk), or the next open ends the run."""
        events = self.services.events
        try:
            # It may have been writing its end when it died: once the store has committed
            # what was sent to it, write an end only if there is none (a run has exactly one).
            await events.sync()
            if not await events.query(run_id=record.run_id, type=list(TERMINAL_TYPES.values()), limit=1):
                await events.append(
                    "run.failed",
                    {"error": record.error, "kind": "crashed"},
                    session_id=self.session_id,
                    run_id=record.run_id,
                    agent_id=self.agent_id,
                )
        except StoreWriteError as exc:
            if record.run_id not in self.unwritten:
                log.warning("run %s: its end could not be written (%s); trying again", record.run_id, exc)
                self._ends_retry = ENDS_RETRY_FIRST
            self.unwritten[record.run_id] = record
            if not self._retry_armed:
                self._retry_ends_later()
            return
        self.unwritten.pop(record.run_id, None)
        record.state = RunState.FAILED
        record.result = RunResult(record.run_id, RunState.FAILED, {}, record.error, self.session_id)

    def _retry_ends_later(self) -> None:
        clock = current_node().clock
        delay, self._ends_retry = self._ends_retry, min(self._ends_retry * 2, ENDS_RETRY_MAX)
        self._retry_armed = True

        def wake() -> None:
            with suppress(Exception):  # gone or full: the next open ends the runs
                self.pid.send_nowait(_RETRY_ENDS)

        clock.call_at(clock.now() + delay, wake)

    def _forget_old(self) -> None:
        finished = [r for r in self.runs.values() if r.result is not None]
        for record in finished[: max(0, len(finished) - MAX_FINISHED_KEPT)]:
            del self.runs[record.run_id]

    async def _cancel_live_runs(self) -> None:
        live = [r for r in self.runs.values() if r.result is None and r.pid.is_alive()]

        async def cancel(record: RunRecord) -> None:
            with suppress(NoProc, ProcessDied):  # it may finish (or die) on its own meanwhile
                await record.pid.call(CANCEL, timeout=None)

        await asyncio.gather(*(cancel(r) for r in live))

    async def terminate(self, reason: ExitReason) -> None:
        try:
            await self.services.events.append(
                "session.stopped",
                {"reason": describe(reason)},
                session_id=self.session_id,
                agent_id=self.agent_id,
            )
        except StoreWriteError as exc:
            # Unrecorded, the session is one the next open finds unfinished, and stops.
            log.error("session %s: session.stopped could not be written (%s)", self.session_id, exc)
