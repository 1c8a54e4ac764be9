"""Runtime: the root of the tree, and the public embedding API.

    Runtime (soma_sup, one_for_one)
    ├── EventStore          append-only event log (SQLite), subscriptions
    ├── ToolRegistry        tool specs by name
    ├── VitalsMonitor       follows the log, computes pressure, steers sessions
    ├── SessionSupervisor   dynamic → AgentSession
    ├── RunSupervisor       dynamic → Run → ToolCall
    └── ControlServer       the control socket (only with ``control=PATH``)

With ``telemetry=``, a TelemetrySupervisor (the log's OpenTelemetry export) starts right
after the event store, so that it stops right before it, having seen every last event.

Children start in that order and stop in reverse: runs stop (and stop their tools) before
sessions record that they stopped, and the event store, which every other child writes to,
stops last. The control server, started last, stops first: clients are disconnected before
the tree they look at goes away.

Every run ends (docs/design.md §5b). Before ``open`` returns — and before the control server
accepts anyone — ``execution.resume`` ends or continues every run a previous runtime left
unfinished. An orderly stop records an end for every live run (``run.cancelled``, reason
``shutdown``; or ``run.suspended``, for the next open to resume) and ``session.stopped`` for
every session, before the store closes. One runtime writes a database at a time: a second
one gets ``StoreLocked``.

This module is the composition root: the one place outside ``vitals`` that names it. The
execution core (event store, tools, sessions, runs) never imports vitals; it is steered
only through the message types of ``steering``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

import anyio

from .control.errors import ControlSocketError
from .control.ops import ControlOps, RuntimeView
from .control.server import CONTROL_NAME, ControlServer
from .execution._stall import StallWatchdog
from .execution.errors import SessionExists
from .execution.failover import Failover
from .execution.resume import Recovery, recover
from .execution.run import CANCEL, RESULT, SESSION, STATUS, OnShutdown, Run, RunResult, RunSnapshot, run_name
from .execution.run_records import UnknownRun, result_from_store
from .execution.session import (
    DEFAULT_MAX_LIVE_RUNS,
    AgentSession,
    RunAccepted,
    Services,
    SessionStatus,
    StartRun,
    _Failed,
    session_name,
)
from .execution.steering import STEERING_NAME, Guidance
from .execution.steps import Step
from .kernel import (
    SUPERVISOR,
    TEMPORARY,
    ChildSpec,
    Clock,
    DynamicSupervisor,
    Node,
    NoProc,
    Pid,
    ProcessDied,
    StartError,
    Supervisor,
    current_node,
)
from .kernel.introspection import ProcessInfo, tree
from .store._backend import NodeName, SharedLog, is_postgres, new_node_id
from .store._limits import LimitExceeded, check_id
from .store._redaction import environment_secrets, redact_library_logs, register_secrets
from .store.errors import StoreError
from .store.events import Source
from .store.ids import new_id
from .store.log import EventLog
from .store.server import EventStore, EventStoreConfig
from .telemetry.config import TelemetryConfig
from .telemetry.follower import Telemetry
from .tools.builtin import BUILTIN_TOOLS
from .tools.ray_cluster import RayConfig, as_config, ray_connection
from .tools.registry import NAME as TOOL_REGISTRY
from .tools.registry import ToolRegistry
from .tools.spec import ToolSpec
from .vitals.config import VitalsConfig
from .vitals.monitor import Vitals, VitalsMonitor

EVENT_STORE = "soma.event_store"
SESSION_SUPERVISOR = "soma.session_sup"
RUN_SUPERVISOR = "soma.run_sup"
ROOT = "soma_sup"


class RunHandle:
    """A run, from the outside: wait for its result, cancel it, ask where it is.

    ``pid`` is its process while it runs (None for a handle to a run that had finished);
    ``session`` the session it runs in, when known. Once the process is gone, answers come
    from the session, then from the store (the source of truth).
    """

    def __init__(
        self, run_id: str, pid: Pid | None, events: EventLog, session: Session | None = None
    ) -> None:
        self.run_id = run_id
        self.pid = pid
        self.events = events
        self.session = session

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id})"

    async def result(self) -> RunResult:
        """Wait for the terminal state; returns once its event is durable in the store."""
        result: RunResult = await self._ask(RESULT, None)
        return result

    async def cancel(self) -> RunResult:
        """Cancel (stopping the active tool); returns once the run is terminal. Idempotent."""
        result: RunResult = await self._ask(CANCEL, None)
        return result

    async def status(self) -> RunSnapshot | RunResult:
        answer: RunSnapshot | RunResult = await self._ask(STATUS, 5.0)
        return answer

    async def _ask(self, request: str, timeout: float | None) -> Any:
        if self.pid is not None:
            try:
                return await self.pid.call(request, timeout=timeout)
            except (NoProc, ProcessDied):
                pass
        return await self._finished_result()

    async def _finished_result(self) -> RunResult:
        # The run process is gone: its session remembers the outcome; failing that, the
        # store, which is the source of truth, has the terminal event.
        if self.session is not None:
            try:
                result: RunResult | None = await self.session.pid.call(("result", self.run_id))
                if result is not None:
                    return result
            except (NoProc, ProcessDied):
                pass
        return await result_from_store(self.events, self.run_id)


class Session:
    """A session, from the outside. Returned by :meth:`Runtime.start_session`."""

    def __init__(self, session_id: str, agent_id: str, pid: Pid, events: EventLog) -> None:
        self.session_id = session_id
        self.agent_id = agent_id
        self.pid = pid
        self.events = events

    def __repr__(self) -> str:
        return f"Session({self.session_id}, agent={self.agent_id})"

    async def start_run(
        self,
        steps: Sequence[Step],
        timeout: float | None = None,
        *,
        task_id: str | None = None,
        correlation_id: str | None = None,
    ) -> RunHandle:
        """Validate and start a run. Raises ``InvalidRun`` (bad input: nothing is written),
        ``Overloaded`` (the session holds ``max_live_runs`` live runs) or
        ``StoreWriteError`` (the store could not record it); the session keeps serving."""
        accepted = await self.pid.call(StartRun(steps, timeout, task_id, correlation_id), timeout=30.0)
        if isinstance(accepted, _Failed):
            raise accepted.error
        assert isinstance(accepted, RunAccepted)
        return RunHandle(accepted.run_id, accepted.pid, self.events, self)

    async def status(self) -> SessionStatus:
        status: SessionStatus = await self.pid.call("status")
        return status

    async def take_guidance(self) -> list[Guidance]:
        """Guidance the monitor sent for this agent since the last call (oldest first); the
        agent layer injects it into the next model call."""
        guidance: list[Guidance] = await self.pid.call("take_guidance")
        return guidance

    async def stop(self) -> None:
        """Cancel live runs, record ``session.stopped``, and stop. Idempotent."""
        with suppress(NoProc, ProcessDied):
            await self.pid.call("stop", timeout=None)
        await self.pid.wait()  # the reply comes before terminate; return once it is gone


class Runtime:
    """A running Soma tree. Open it with ``async with Runtime.open(...) as rt:``."""

    telemetry: Telemetry | None = None
    """The OpenTelemetry export (``Runtime.open(telemetry=...)``); None when off."""

    def __init__(
        self,
        node: Node,
        root: Pid,
        events: EventLog,
        services: Services,
        control_ops: ControlOps | None = None,
        recovery: Recovery | None = None,
    ) -> None:
        self.node = node
        self.root = root
        self.events = events
        self.vitals = Vitals(STEERING_NAME, events)
        self.recovery = recovery if recovery is not None else Recovery()
        """What resume did at open: the runs resumed, started and ended, the sessions."""
        self._services = services
        self._control_ops = control_ops if control_ops is not None else ControlOps()

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        db: str | os.PathLike[str] = ":memory:",
        tools: Sequence[ToolSpec] = (),
        *,
        root: str | os.PathLike[str] = ".",
        builtin_tools: bool = True,
        cancel_grace: float = 2.0,
        vitals: VitalsConfig | Literal[False] | None = None,
        clock: Clock | None = None,
        control: str | os.PathLike[str] | None = None,
        telemetry: TelemetryConfig | bool | None = None,
        resume: bool = True,
        on_shutdown: OnShutdown = "cancel",
        ray: RayConfig | str | bool | None = None,
        secrets: Sequence[str] = (),
        source: Source = "runtime",
    ) -> AsyncIterator[Runtime]:
        """Start the tree on ``db`` (a SQLite file, ``":memory:"``, or a ``postgresql://`` URL
        with the ``postgres`` extra) with ``tools``.

        ``root`` confines the file tools. ``vitals`` configures the behavioural monitor
        (``False``: run without one). ``control`` serves the control API on a Unix socket at
        that path (owner-only; see ``soma_runtime.control``); a live runtime already there
        is refused with ``ControlSocketError``. ``telemetry`` (``True`` or a
        ``TelemetryConfig``) exports the log to OpenTelemetry as it is written (see
        ``soma_runtime.telemetry``; needs the ``telemetry`` extra). Inside an existing kernel
        node the runtime starts there; otherwise it opens its own.

        A database has one writer: if another runtime has it open, this raises
        ``StoreLocked`` (naming its pid) within a quarter second — the time a Claude Code hook
        writing straight into the file may hold the same lock. Runs a previous runtime left
        without an end are resumed before this returns (``resume=False``: ended ``run.failed``, kind
        ``interrupted``); ``rt.recovery`` says what happened to each.

        On exit the tree stops in reverse start order; every live run records its end
        (``run.cancelled``, reason ``shutdown``) — or, with ``on_shutdown="suspend"``,
        ``run.suspended``, and the next open resumes it — and every session
        ``session.stopped``, before the store closes.

        ``ray`` connects the process to Ray for ``isolation="ray"`` tools (the ``ray`` extra):
        ``True`` (or ``RayConfig()``) starts a local Ray instance, an address (or
        ``RayConfig(address=...)``) connects to a running cluster. The connection is made
        before the tree starts and released after it has stopped; a Ray instance this runtime
        started is shut down then, one that was already there is left as it was (see
        ``soma_runtime.tools.ray_cluster``).

        ``secrets``: exact values that never enter any event — args, outputs, errors,
        guidance, and so exports — nor the library's log records; each is replaced by
        ``[REDACTED]`` wherever it appears (at least 4 characters each). Values of
        credential-named environment variables (``ANTHROPIC_API_KEY``, ``*_TOKEN``…) are
        registered too, and the provider models register their keys.

        ``source`` is what the runtime's events say recorded them (``Event.source``): a test's
        runtime says ``"test"`` (the pytest plugin's does), so reports leave it out.
        """
        if on_shutdown not in ("cancel", "suspend"):
            raise ValueError(f"on_shutdown must be 'cancel' or 'suspend', got {on_shutdown!r}")
        if not isinstance(resume, bool):
            raise TypeError(f"resume must be a bool, got {resume!r}")
        as_config(ray)  # a bad `ray=` is refused before anything starts
        release = register_secrets([*_secret_list(secrets), *environment_secrets()])
        redact_library_logs()
        args = (
            db,
            tools,
            root,
            builtin_tools,
            cancel_grace,
            vitals,
            control,
            telemetry,
            resume,
            on_shutdown,
            source,
        )
        try:
            try:
                node: Node | None = current_node()
            except RuntimeError:
                node = None
            # Ray is connected around the tree: resumed runs may call Ray tools as soon as it
            # starts, and every Ray task has been cancelled by the time it has stopped.
            async with ray_connection(ray):
                if node is None:
                    async with Node.open(clock) as own, cls._start(own, *args) as rt:
                        yield rt
                else:
                    async with cls._start(node, *args) as rt:
                        yield rt
        finally:
            release()

    @classmethod
    @asynccontextmanager
    async def _start(
        cls,
        node: Node,
        db: str | os.PathLike[str],
        tools: Sequence[ToolSpec],
        root: str | os.PathLike[str],
        builtin_tools: bool,
        cancel_grace: float,
        vitals: VitalsConfig | Literal[False] | None,
        control: str | os.PathLike[str] | None,
        telemetry: TelemetryConfig | bool | None,
        resume: bool,
        on_shutdown: OnShutdown,
        source: Source,
    ) -> AsyncIterator[Runtime]:
        events = EventLog(EVENT_STORE)
        exporter = _telemetry(telemetry)
        control_ops = ControlOps()
        services = Services(RUN_SUPERVISOR, TOOL_REGISTRY, events, _absolute(root), cancel_grace, on_shutdown)
        specs = [*(BUILTIN_TOOLS if builtin_tools else ()), *tools]
        # Registered names let clients find a child again after its supervisor restarted it.
        session_template = ChildSpec("session", AgentSession.start_link, restart=TEMPORARY)
        run_template = ChildSpec("run", Run.start_link, restart=TEMPORARY, shutdown=cancel_grace + 1.0)
        children = [
            ChildSpec("event_store", EventStore.start_link, (_store_config(db, source),)),
            ChildSpec("tool_registry", partial(ToolRegistry.start_link, name=TOOL_REGISTRY), (specs,)),
            *(
                []
                if vitals is False
                else [
                    ChildSpec(
                        "vitals",
                        partial(VitalsMonitor.start_link, name=STEERING_NAME),
                        (EVENT_STORE, vitals, SESSION_SUPERVISOR),
                    )
                ]
            ),
            ChildSpec(
                "session_sup",
                partial(DynamicSupervisor.start_link, name=SESSION_SUPERVISOR),
                (session_template,),
                kind=SUPERVISOR,
            ),
            ChildSpec(
                "run_sup",
                partial(DynamicSupervisor.start_link, name=RUN_SUPERVISOR),
                (run_template,),
                kind=SUPERVISOR,
            ),
        ]
        if exporter is not None:
            children.insert(1, exporter.child_spec())
        try:
            sup = await Supervisor.start_link(children, intensity=3, period=5.0, name=ROOT)
        except StartError as exc:
            raise _start_problem(exc) from None
        try:
            shared = await _join_shared_log(events)
            recovery = await recover(events, services, SESSION_SUPERVISOR, resume=resume)
            if shared:
                # Keeps this runtime's lease, and resumes the work of runtimes that die.
                failover = ChildSpec(
                    "failover", Failover.start_link, (events, services, SESSION_SUPERVISOR, resume)
                )
                await Supervisor.start_child(sup, failover)
            if control is not None:
                # Last, once recovery is done: nobody outside sees the runtime half resumed.
                path = str(_absolute(control))
                view = RuntimeView(events, SESSION_SUPERVISOR, RUN_SUPERVISOR, path, services)
                server = partial(ControlServer.start_link, name=CONTROL_NAME)
                try:
                    await Supervisor.start_child(sup, ChildSpec("control", server, (path, view, control_ops)))
                except StartError as exc:
                    raise _start_problem(exc) from None
            rt = cls(node, sup, events, services, control_ops, recovery)
            if exporter is not None:
                rt.telemetry = exporter
                rt.add_control_op("telemetry", exporter.control_op)
        except BaseException:
            await node.stop(sup, timeout=None)
            if exporter is not None:
                await exporter.aclose()
            raise
        watchdog = StallWatchdog(events)
        watchdog.start()
        try:
            yield rt
        finally:
            await watchdog.stop()
            await node.stop(sup, timeout=None)
            if exporter is not None:
                await exporter.aclose()  # a no-op unless the follower could not close it

    async def start_session(
        self,
        agent_id: str,
        *,
        intent: str | None = None,
        session_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        max_live_runs: int = DEFAULT_MAX_LIVE_RUNS,
    ) -> Session:
        """Start a long-lived session for ``agent_id`` under the session supervisor.

        ``SessionExists`` if a session ``session_id`` is live. The session holds at most
        ``max_live_runs`` live runs: one more ``start_run`` raises ``Overloaded`` at once.
        """
        if not isinstance(agent_id, str) or not agent_id:
            raise ValueError(f"agent_id must be a non-empty string, got {agent_id!r}")
        if isinstance(max_live_runs, bool) or not isinstance(max_live_runs, int) or max_live_runs < 1:
            raise ValueError(f"max_live_runs must be a positive int, got {max_live_runs!r}")
        for what, value in (("agent_id", agent_id), ("session_id", session_id)):
            if value is not None:
                try:
                    check_id(value, what)
                except LimitExceeded as e:
                    raise ValueError(str(e)) from None
        sid = session_id or new_id("sess")
        if self.node.whereis(session_name(sid)) is not None:
            raise SessionExists(sid)
        try:
            pid = await DynamicSupervisor.start_child(
                SESSION_SUPERVISOR,
                sid,
                agent_id,
                self._services,
                intent,
                dict(metadata or {}),
                False,
                max_live_runs,
            )
        except StartError as exc:
            # Its own refusal (a racing duplicate, a store that could not record its
            # start) rather than "child failed to start".
            problem = _start_problem(exc)
            raise (problem if problem is not exc else exc) from None
        assert pid is not None
        return Session(sid, agent_id, pid, self.events)

    async def run(self, run_id: str) -> RunHandle:
        """A handle to any run of this store — live, resumed at open, or finished — to wait
        for its result, cancel it or ask its status. ``UnknownRun`` (a ``LookupError``) if
        the store never heard of it."""
        pid = self.node.whereis(run_name(run_id))
        if pid is not None:
            with suppress(NoProc, ProcessDied):
                owner: Pid | None = await pid.call(SESSION)
                session = None
                if owner is not None:
                    status: SessionStatus = await owner.call("status")
                    session = Session(status.session_id, status.agent_id, owner, self.events)
                return RunHandle(run_id, pid, self.events, session)
        if not await self.events.query(run_id=run_id, limit=1):
            raise UnknownRun(run_id)
        return RunHandle(run_id, None, self.events)

    async def serve_forever(self) -> int:
        """Serve until SIGINT (Ctrl-C) or SIGTERM, then return the signal's number, so the
        ``async with Runtime.open(...)`` block ends and the runtime stops in order — every
        live run recording its end — with no ``KeyboardInterrupt`` traceback. Returns 0 if
        the runtime's tree stopped by itself first. Call it from the main thread (signals
        are delivered there).
        """
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            received = 0
            async with anyio.create_task_group() as tg:

                async def first_signal() -> None:
                    nonlocal received
                    async for signum in signals:
                        received = int(signum)
                        break
                    tg.cancel_scope.cancel()

                async def tree_stopped() -> None:
                    await self.root.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(first_signal)
                tg.start_soon(tree_stopped)
            return received

    def tree(self) -> list[ProcessInfo]:
        """The live supervision tree (introspection)."""
        return tree(self.node)

    def add_control_op(self, name: str, handler: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
        """Serve op ``name`` on the control API: ``await handler(params)`` gives the result.

        For layers above the core (the actor layer registers ``actors`` and ``cancel_task``).
        A handler raising ``LookupError`` answers ``not_found``, ``ValueError``/``TypeError``
        ``bad_request``, anything else ``internal``. Registering a name again replaces its
        handler; built-in ops cannot be replaced. Works with or without ``control=``.
        """
        self._control_ops.add(name, handler)


def _store_config(db: str | os.PathLike[str], source: Source) -> EventStoreConfig:
    # A shared log's node is named here, once: a store the supervisor restarts is the same
    # node (or, its lease lost, does not start: see NodeName).
    node = NodeName(new_node_id()) if is_postgres(db) else None
    return EventStoreConfig(path=db, name=EVENT_STORE, node=node, source=source)


async def _join_shared_log(events: EventLog) -> bool:
    """On a log other runtimes share (PostgreSQL), take the work of the dead ones before
    recovery reads what is this runtime's to resume. False: the log is this runtime's alone."""
    backend = await events.backend()
    if not backend.shared:
        return False
    shared = cast(SharedLog, backend)
    assert shared.node_id is not None
    await shared.claim(shared.node_id)
    return True


def _secret_list(secrets: Sequence[str]) -> list[str]:
    if isinstance(secrets, str) or not isinstance(secrets, Sequence | set | frozenset):
        raise TypeError(f"secrets must be a list of str, got {type(secrets).__name__}")
    return list(secrets)


def _start_problem(exc: StartError) -> BaseException:
    """The error the caller can act on inside a start failure — a taken control socket, a
    database another runtime writes, one that is not a Soma store, a live session's id —
    rather than "child failed"; the start failure itself otherwise."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ControlSocketError | StoreError | SessionExists):
            return seen
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else seen.__cause__
    return exc


def _telemetry(setting: TelemetryConfig | bool | None) -> Telemetry | None:
    if setting is None or setting is False:
        return None
    config = TelemetryConfig() if setting is True else setting
    if not isinstance(config, TelemetryConfig):
        raise TypeError(f"telemetry must be True, False, None or a TelemetryConfig, got {setting!r}")
    return Telemetry(config, EVENT_STORE)


def _absolute(root: str | os.PathLike[str]) -> Path:
    # Made absolute once, at start: tools run with other working directories in mind.
    return Path(os.path.abspath(root))
