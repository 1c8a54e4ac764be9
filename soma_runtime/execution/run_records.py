"""A run's outcome read back from the event store, the source of truth once its process is gone.

Shared by ``RunHandle`` (a result asked for after the run exited) and the control API (cancel
of a run that already finished, recently finished runs).
"""

from __future__ import annotations

from typing import Any, Final

from ..store.log import EventLog
from .run_types import TERMINAL_TYPES, RunResult, RunState

TERMINAL_EVENTS: Final = {event_type: state for state, event_type in TERMINAL_TYPES.items()}


class UnknownRun(LookupError):
    """No event of the store names this run."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r} in the store")
        self.run_id = run_id


async def result_from_store(events: EventLog, run_id: str) -> RunResult:
    """The recorded result of ``run_id``: :class:`UnknownRun` if the store never heard of it,
    ``LookupError`` if it holds no terminal event for it (it still runs, or was suspended)."""
    outputs: dict[str, Any] = {}
    session_id: str | None = None
    recorded = await events.query(run_id=run_id)
    for event in recorded:
        session_id = event.session_id or session_id
        if event.type == "step.succeeded" and event.step_id is not None:
            outputs[event.step_id] = event.payload.get("output")
        elif event.type in TERMINAL_EVENTS:
            state = TERMINAL_EVENTS[event.type]
            error = event.payload.get("error") or event.payload.get("reason")
            return RunResult(
                run_id, state, outputs, None if state is RunState.COMPLETED else error, session_id
            )
    if not recorded:
        raise UnknownRun(run_id)
    if [e.type for e in recorded if e.type in ("run.suspended", "run.resumed")][-1:] == ["run.suspended"]:
        raise LookupError(f"run {run_id} was suspended; the next runtime to open the store resumes it")
    raise LookupError(f"run {run_id} has no terminal event in the store (is it still running?)")
