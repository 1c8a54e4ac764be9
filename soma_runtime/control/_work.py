"""The ops that give a runtime work from outside: ``start_run`` and ``run_result``.

``start_run`` takes a run as JSON — the steps ``Step.to_json`` writes, references between
steps as ``{"$from_step": "s1"}`` — and starts it in a session: a live one named by
``session_id``, or the session this API keeps for ``agent_id`` (started on first use, and
again if it stopped). Keeping one session per agent rather than one per run is what a
session is for: the agent's runs, its guidance and its BLOCK all go through it. A run the
session refuses (an unknown tool, bad arguments, a reference to a later step) answers
``bad_request`` with ``InvalidRun``'s message; nothing is started.

``run_result`` waits for a run to end and returns its result, from the run itself while it
lives and from the store once it has gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import anyio

from ..execution.run import RESULT, RunResult
from ..execution.run_records import result_from_store
from ..execution.session import RunAccepted, Services, StartRun, _Failed
from ..execution.steps import InvalidRun, Step
from ..kernel import DynamicSupervisor, NoProc, Pid, ProcessDied
from ..store.ids import new_id
from ..store.log import EventLog
from ._lookup import (
    children,
    flag,
    identity,
    no_params,
    optional_seconds,
    optional_str,
    result_view,
    str_param,
)
from .protocol import RunResultView, StartedRunView

MAX_STEPS: Final = 1000
"""Steps in one run started from outside (a request line is 64 KiB anyway)."""

ACCEPT_TIMEOUT: Final = 30.0
"""How long a session may take to accept a run (as ``Session.start_run`` allows)."""


class WorkOps:
    """``start_run`` and ``run_result`` over one runtime's sessions and store."""

    def __init__(
        self, events: EventLog, session_supervisor: str, run_supervisor: str, services: Services | None
    ) -> None:
        self.events = events
        self.session_supervisor = session_supervisor
        self.run_supervisor = run_supervisor
        self.services = services
        """What a session needs to start; None: this API starts no session (runs go to
        live sessions named by ``session_id`` only)."""
        self._sessions: dict[str, Pid] = {}
        """The session this API started for each agent (reused while it lives)."""
        self._starting = anyio.Lock()
        """Two first runs of one agent, at once, must not start two sessions."""

    async def start_run(self, params: dict[str, Any]) -> StartedRunView | RunResultView:
        """Start a run; with ``wait`` return its result once it ended, else where it runs."""
        steps = _steps(params.pop("steps", None))
        agent_id = optional_str("start_run", params, "agent_id")
        session_id = optional_str("start_run", params, "session_id")
        timeout = optional_seconds("start_run", params, "timeout")
        wait = flag("start_run", params, "wait")
        no_params("start_run", params)
        if (agent_id is None) == (session_id is None):
            raise ValueError("op 'start_run' needs one of 'agent_id' (a session kept for it) or 'session_id'")
        if session_id is not None:
            session, agent_id = await self._live_session(session_id)
        else:
            assert agent_id is not None
            session, session_id = await self._session_of(agent_id)
        accepted = await session.call(StartRun(steps, timeout), timeout=ACCEPT_TIMEOUT)
        if isinstance(accepted, _Failed):
            raise accepted.error  # InvalidRun is a ValueError: answered as bad_request
        assert isinstance(accepted, RunAccepted)
        if wait:
            return result_view(await self._result(accepted.run_id, accepted.pid))
        return {"run_id": accepted.run_id, "session_id": session_id, "agent_id": agent_id}

    async def run_result(self, params: dict[str, Any]) -> RunResultView:
        """Wait for the run ``run_id`` to end; ``not_found`` for a run this runtime never had."""
        run_id = str_param("run_result", params, "run_id")
        for pid in await children(self.run_supervisor):
            if identity(pid, "run_id") == run_id:
                return result_view(await self._result(run_id, pid))
        return result_view(await self._stored(run_id))

    async def _result(self, run_id: str, pid: Pid) -> RunResult:
        try:
            result: RunResult = await pid.call(RESULT, timeout=None)
            return result
        except (NoProc, ProcessDied):
            return await self._stored(run_id)  # it ended meanwhile: the store has the outcome

    async def _stored(self, run_id: str) -> RunResult:
        events = self.events
        try:
            return await result_from_store(events, run_id)
        except LookupError:
            if not await events.query(run_id=run_id, limit=1):
                raise LookupError(f"no run {run_id!r} in this runtime") from None
            raise LookupError(f"run {run_id!r} has no live process and no terminal event yet") from None

    async def _live_session(self, session_id: str) -> tuple[Pid, str]:
        for pid in await children(self.session_supervisor):
            if identity(pid, "session_id") == session_id:
                return pid, identity(pid, "agent_id") or "?"
        raise LookupError(f"no live session {session_id!r} in this runtime")

    async def _session_of(self, agent_id: str) -> tuple[Pid, str]:
        async with self._starting:
            pid = self._sessions.get(agent_id)
            if pid is None or not pid.is_alive():
                if self.services is None:
                    raise LookupError("this runtime starts no sessions from outside")
                session_id = new_id("sess")
                started = await DynamicSupervisor.start_child(
                    self.session_supervisor, session_id, agent_id, self.services, None, {"via": "control"}
                )
                assert started is not None
                pid = self._sessions[agent_id] = started
            return pid, identity(pid, "session_id") or "?"


def _steps(value: Any) -> list[Step]:
    """The steps of a run as JSON, each checked for shape (the session checks the rest)."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"op 'start_run' needs 'steps' as a non-empty list, got {value!r:.80}")
    if len(value) > MAX_STEPS:
        raise ValueError(f"op 'start_run' takes at most {MAX_STEPS} steps, got {len(value)}")
    steps = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InvalidRun(f"step {index} must be an object with 'id', 'tool' and 'args', got {item!r:.80}")
        unknown = set(item) - {"id", "tool", "args", "timeout"}
        if unknown:
            raise InvalidRun(f"step {index} has unknown field(s) {sorted(unknown)}")
        if not isinstance(item.get("id"), str) or not isinstance(item.get("tool"), str):
            raise InvalidRun(f"step {index} needs 'id' and 'tool' as strings")
        args = item.get("args", {})
        if not isinstance(args, Mapping):
            raise InvalidRun("'args' must be an object", step_id=item["id"])
        steps.append(Step.from_json(item))
    return steps
