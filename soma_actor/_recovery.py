"""Tasks whose actor is gone without ending them: each gets exactly one end,
``actor.task.failed`` with ``reason`` ``interrupted`` (an extra field of the payload).

An actor ends its own tasks — an orderly stop cancels and records them in ``terminate``. Two
things skip that. A runtime killed outright leaves every actor's tasks open in the log: the
next open of the store ends them (registered with the core's resume below, so it runs before
any run is resumed, and the runs of those tasks end instead of running on for a task nobody
waits for). The registration happens when this layer's actor module is imported; a program
that opens its runtime before that has them ended when its first actor starts instead, their
runs (resumed meanwhile) cancelled. An actor killed on its own, in a runtime that lives on,
leaves its tasks too: its successor ends them when it starts. All of these find the open
tasks through the store's index of unfinished work: the cost is those tasks, not the history.

Not resumed: a task's conversation with its model is not journalled, so it cannot go on.
"""

from __future__ import annotations

from soma_runtime import Runtime
from soma_runtime.execution.resume import register_recovery
from soma_runtime.store.events import EventDraft
from soma_runtime.store.log import EventLog

INTERRUPTED = "interrupted"
ACTOR_RESTARTED = "actor_restarted"


async def end_open_tasks(
    events: EventLog, *, error: str, reason: str, actor_id: str | None = None
) -> list[str]:
    """End every task without an end (only ``actor_id``'s, if given); returns their ids."""
    opened = [e for e in await events.unfinished("task") if actor_id is None or e.agent_id == actor_id]
    drafts = [
        EventDraft(
            "actor.task.failed",
            {"error": error, "reason": reason, "usage": {}, "runs": []},
            session_id=e.session_id,
            agent_id=e.agent_id,
            task_id=e.task_id,
            correlation_id=e.correlation_id,
        )
        for e in opened
    ]
    if drafts:
        await events.write_many(drafts)
    return [e.task_id for e in opened if e.task_id is not None]


_INTERRUPTED_ERROR = "interrupted: the runtime stopped before the task ended"


async def _at_open(events: EventLog) -> list[str]:
    return await end_open_tasks(events, error=_INTERRUPTED_ERROR, reason=INTERRUPTED)


async def end_orphaned_tasks(rt: Runtime) -> None:
    """Before this runtime's first actor: end the tasks no actor can end any more, and cancel
    the runs of theirs that were resumed at open."""
    ended = set(await end_open_tasks(rt.events, error=_INTERRUPTED_ERROR, reason=INTERRUPTED))
    if not ended:
        return
    for opened in await rt.events.unfinished("run"):
        if opened.task_id in ended and opened.run_id is not None:
            await (await rt.run(opened.run_id)).cancel()


register_recovery("soma_actor.tasks", _at_open)
