"""A run's outcome read back from the event store, the source of truth once its process is gone.

Shared by ``RunHandle`` (a result asked for after the run exited) and the control API (cancel
of a run that already finished, recently finished runs).
"""

from __future__ import annotations

from typing import Any, Final

from ..store.log import EventLog
from .run import RunResult, RunState

TERMINAL_EVENTS: Final = {
    "run.completed": RunState.COMPLETED,
    "run.failed": RunState.FAILED,
    "run.cancelled": RunState.CANCELLED,
    "run.timeout": RunState.TIMEOUT,
}


async def result_from_store(events: EventLog, run_id: str) -> RunResult:
    """The recorded result of ``run_id``; ``LookupError`` if the store holds no terminal
    event for it (an unknown run, or one still running)."""
    outputs: dict[str, Any] = {}
    session_id: str | None = None
    for event in await events.query(run_id=run_id):
        session_id = event.session_id or session_id
        if event.type == "step.succeeded" and event.step_id is not None:
            outputs[event.step_id] = event.payload.get("output")
        elif event.type in TERMINAL_EVENTS:
            state = TERMINAL_EVENTS[event.type]
            error = event.payload.get("error") or event.payload.get("reason")
            return RunResult(
                run_id, state, outputs, None if state is RunState.COMPLETED else error, session_id
            )
    raise LookupError(f"run {run_id} has no terminal event in the store (is it still running?)")
