"""The ops a control server answers: the built-in views of a runtime, and the registry that
lets a layer above add its own (``Runtime.add_control_op``).

Every op is ``handler(params) -> result`` with JSON in and out. Built-ins read the runtime
through the public kernel API — the supervisors' ``which_children`` and the processes' own
status calls, in parallel and each bounded by :data:`STATUS_TIMEOUT`, so a stuck session shows
as ``unresponsive`` instead of stalling the answer — and the event store for what has ended.

The ops that give the runtime work, ``start_run`` and ``run_result``, are in ``_work``.
The actor layer lives above ``soma_runtime`` (which never imports it), so ``actors``,
``cancel_task`` and ``send_task`` have defaults here that say no actor layer runs, until one
registers its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from .._version import __version__
from ..execution.run import CANCEL, STATUS, RunResult, RunSnapshot, run_name
from ..execution.run_records import TERMINAL_EVENTS, result_from_store
from ..execution.session import Services, SessionStatus
from ..kernel import CallTimeout, NoProc, Pid, ProcessDied, current_node
from ..kernel.introspection import ProcessInfo, tree
from ..store.log import EventLog
from ._lookup import children as _children
from ._lookup import identity as _identity
from ._lookup import no_params as _no_params
from ._lookup import result_view as _result_view
from ._lookup import str_param as _str_param
from ._work import WorkOps
from .protocol import (
    PROTOCOL_VERSION,
    HelloView,
    ProcessView,
    RunResultView,
    RunView,
    SessionView,
)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

STATUS_TIMEOUT: Final = 1.0
"""How long a view waits for one session's or run's status before calling it unresponsive."""

DEFAULT_RECENT_RUNS: Final = 20

FOLLOW: Final = "follow"  # streamed by the connection itself (see server)
BUILTIN_OPS: Final = ("hello", "sessions", "runs", "tree", "cancel_run", "start_run", "run_result", FOLLOW)
ACTOR_OPS: Final = ("actors", "cancel_task", "send_task")


class ControlOps:
    """Ops registered by layers above the core, by name. One per runtime; it outlives a
    restart of the control server, so what was registered stays registered."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, name: str, handler: Handler) -> None:
        """Register ``handler`` for op ``name``. Registering a name again replaces its
        handler (a restarted actor layer registers again); built-in ops cannot be replaced."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a control op name must be a non-empty string, got {name!r}")
        if name in BUILTIN_OPS:
            raise ValueError(f"{name!r} is a built-in control op and cannot be replaced")
        if not callable(handler):
            raise TypeError(f"the handler of control op {name!r} must be callable, got {handler!r}")
        self._handlers[name] = handler

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def names(self) -> list[str]:
        return sorted(self._handlers)


@dataclass(frozen=True, slots=True)
class RuntimeView:
    """Where the built-in ops find the runtime (registered names, so restarts are followed)."""

    events: EventLog
    session_supervisor: str
    run_supervisor: str
    control_path: str
    services: Services | None = None
    """What ``start_run`` needs to start a session of its own (None: it runs only in live
    sessions named by id)."""


class BuiltinOps:
    """The core's ops over one runtime, and the dispatch of every op by name."""

    def __init__(self, view: RuntimeView, registered: ControlOps) -> None:
        self.view = view
        self.registered = registered
        work = WorkOps(view.events, view.session_supervisor, view.run_supervisor, view.services)
        self._builtins: dict[str, Handler] = {
            "hello": self.hello,
            "sessions": self.sessions,
            "runs": self.runs,
            "tree": self.tree,
            "cancel_run": self.cancel_run,
            "start_run": work.start_run,
            "run_result": work.run_result,
            "actors": _no_actors,
            "cancel_task": _no_actor_layer,
            "send_task": _no_actor_to_send_to,
        }

    def handler(self, op: str) -> Handler | None:
        """The handler of ``op``: a registered one first (it may replace an actor default)."""
        return self.registered.get(op) or self._builtins.get(op)

    def names(self) -> list[str]:
        return sorted({*self._builtins, FOLLOW, *self.registered.names()})

    async def hello(self, params: dict[str, Any]) -> HelloView:
        _no_params("hello", params)
        stats = await self.view.events.stats()
        return {
            "protocol": PROTOCOL_VERSION,
            "soma": __version__,
            "os_pid": os.getpid(),
            "db": _absolute(stats.path),
            "control": self.view.control_path,
            "last_seq": stats.last_seq,
            "ops": self.names(),
            "actor_layer": self.registered.get("actors") is not None,
        }

    async def sessions(self, params: dict[str, Any]) -> list[SessionView]:
        _no_params("sessions", params)
        pids = await _children(self.view.session_supervisor)
        views = await asyncio.gather(*(_session_view(pid) for pid in pids))
        return [v for v in views if v is not None]

    async def runs(self, params: dict[str, Any]) -> list[RunView]:
        """Live runs (where each one is) then up to ``recent`` finished ones, newest first."""
        recent = params.pop("recent", DEFAULT_RECENT_RUNS)
        _no_params("runs", params)
        if isinstance(recent, bool) or not isinstance(recent, int) or recent < 0:
            raise ValueError(f"'recent' must be an int >= 0, got {recent!r}")
        sessions = await self.sessions({})
        owner = {r["run_id"]: s for s in sessions for r in s["live_runs"]}
        live: list[RunView] = []
        for pid, snap in await self._live_runs():
            session = owner.get(snap.run_id) if isinstance(snap, RunSnapshot) else None
            live.append(_run_view(pid, snap, session))
        seen = {r["run_id"] for r in live}
        finished: list[RunView] = []
        if recent:
            for event in await self.view.events.query(
                type=list(TERMINAL_EVENTS), descending=True, limit=recent
            ):
                if event.run_id is None or event.run_id in seen:
                    continue
                finished.append(
                    {
                        "run_id": event.run_id,
                        "state": TERMINAL_EVENTS[event.type].value,
                        "live": False,
                        "session_id": event.session_id,
                        "agent_id": event.agent_id,
                        "pid": None,
                        "step_id": None,
                        "step_index": None,
                        "steps": None,
                        "tool_call_id": None,
                        "error": event.payload.get("error") or event.payload.get("reason"),
                    }
                )
        return live + finished

    async def tree(self, params: dict[str, Any]) -> list[ProcessView]:
        _no_params("tree", params)
        return [_process_view(info) for info in tree(current_node())]

    async def cancel_run(self, params: dict[str, Any]) -> RunResultView:
        """Cancel a live run (one resumed at open too) and return its result once terminal; a
        finished run's recorded result (cancel is idempotent); ``not_found`` for a run this
        runtime never had."""
        run_id = _str_param("cancel_run", params, "run_id")
        pid = current_node().whereis(run_name(run_id))  # live, or resumed at open
        if pid is not None:
            try:
                result: RunResult = await pid.call(CANCEL, timeout=None)
                return _result_view(result)
            except (NoProc, ProcessDied):
                pass  # it ended on its own meanwhile: the store has the outcome
        try:
            return _result_view(await result_from_store(self.view.events, run_id))
        except LookupError:
            if not await self.view.events.query(run_id=run_id, limit=1):
                raise LookupError(f"no run {run_id!r} in this runtime") from None
            raise LookupError(f"run {run_id!r} has no live process and no terminal event yet") from None

    async def _live_runs(self) -> list[tuple[Pid, RunSnapshot | None]]:
        pids = await _children(self.view.run_supervisor)
        snaps = await asyncio.gather(*(_status(pid, STATUS) for pid in pids))
        return [(pid, snap) for pid, snap in zip(pids, snaps, strict=True) if snap is not _GONE]


# --------------------------------------------------------------------------- helpers


class _Gone:
    pass


_GONE: Any = _Gone()


async def _status(pid: Pid, request: Any) -> Any:
    """The process's answer to ``request``; None if it did not answer in time, ``_GONE`` if
    it exited meanwhile."""
    try:
        return await pid.call(request, timeout=STATUS_TIMEOUT)
    except CallTimeout:
        return None
    except (NoProc, ProcessDied):
        return _GONE


async def _session_view(pid: Pid) -> SessionView | None:
    status = await _status(pid, "status")
    if status is _GONE:
        return None
    if isinstance(status, SessionStatus):
        return {
            "session_id": status.session_id,
            "agent_id": status.agent_id,
            "pid": str(pid),
            "status": "alive",
            "live_runs": [{"run_id": r.run_id, "state": r.state.value} for r in status.live_runs],
            "finished_runs": len(status.runs) - len(status.live_runs),
            "destructive_blocked": status.destructive_blocked,
            "pending_guidance": status.pending_guidance,
        }
    return {
        "session_id": _identity(pid, "session_id") or str(pid),
        "agent_id": _identity(pid, "agent_id") or "?",
        "pid": str(pid),
        "status": "unresponsive",
        "live_runs": [],
        "finished_runs": 0,
        "destructive_blocked": False,
        "pending_guidance": 0,
    }


def _run_view(pid: Pid, snap: RunSnapshot | None, session: SessionView | None) -> RunView:
    return {
        "run_id": snap.run_id if snap is not None else _identity(pid, "run_id") or str(pid),
        "state": snap.state.value if snap is not None else "unresponsive",
        "live": True,
        "session_id": session["session_id"] if session is not None else None,
        "agent_id": session["agent_id"] if session is not None else None,
        "pid": str(pid),
        "step_id": snap.step_id if snap is not None else None,
        "step_index": snap.step_index if snap is not None else None,
        "steps": snap.steps if snap is not None else None,
        "tool_call_id": snap.tool_call_id if snap is not None else None,
        "error": None,
    }


def _process_view(info: ProcessInfo) -> ProcessView:
    return {
        "pid": str(info.pid),
        "name": info.name,
        "child_id": None if info.child_id is None else str(info.child_id),
        "behaviour": info.behaviour,
        "module": info.module,
        "status": info.status,
        "state": info.state,
        "queue_depth": info.queue_depth,
        "current_message": info.current_message,
        "children": [_process_view(child) for child in info.children],
    }


def _absolute(db: str) -> str:
    # Another process (a dashboard) opens the database by this path, from its own directory.
    return db if db == ":memory:" else os.path.abspath(db)


async def _no_actors(params: dict[str, Any]) -> list[Any]:
    _no_params("actors", params)
    return []


async def _no_actor_layer(params: dict[str, Any]) -> Any:
    task_id = params.get("task_id")
    raise LookupError(f"no actor layer runs in this runtime, so there is no task {task_id!r} to cancel")


async def _no_actor_to_send_to(params: dict[str, Any]) -> Any:
    actor_id = params.get("actor_id")
    raise LookupError(f"no actor layer runs in this runtime, so there is no actor {actor_id!r} to send to")
