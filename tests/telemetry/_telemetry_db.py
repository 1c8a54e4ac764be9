"""A real runtime records the database the export tests read: two actors (a delegation, a
tool that fails), a plain session's runs (one completed, one cancelled), and the vitals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from soma_actor import Budget, Policy, start_actor
from soma_actor.providers import ScriptedModel, message_actor, reply, use_tools
from soma_runtime import RunState, Runtime, Step
from soma_runtime.telemetry import TelemetryConfig


@dataclass(frozen=True)
class Recorded:
    db: Path
    completed_run: str
    cancelled_run: str


async def record(db: Path, exporter: InMemorySpanExporter | None = None) -> Recorded:
    """Record into ``db``; with ``exporter``, the live export of it goes there."""
    telemetry = TelemetryConfig(exporter=exporter, metrics=False) if exporter is not None else None
    async with Runtime.open(db=str(db), telemetry=telemetry) as rt:
        worker = ScriptedModel([use_tools(("echo", {"value": "w"})), reply("ok")])
        lead = ScriptedModel(
            [message_actor("worker", "help"), use_tools(("fail", {"message": "x"})), reply("done")]
        )
        await start_actor(rt, "worker", worker, Policy(["echo"]), Budget())
        actor = await start_actor(rt, "lead", lead, Policy(["fail"], ["worker"]), Budget())
        assert await actor.ask("go") == "done"
        session = await rt.start_session("plain")
        completed = await session.start_run([Step("s1", "echo", {"value": 1})])
        assert (await completed.result()).state is RunState.COMPLETED
        slow = await session.start_run([Step("s1", "sleep", {"seconds": 60})])
        assert (await slow.cancel()).state is RunState.CANCELLED
        await rt.vitals.caught_up()
    return Recorded(db, completed.run_id, slow.run_id)
