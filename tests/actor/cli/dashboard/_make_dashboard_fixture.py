"""Records ``dashboard_fixture.jsonl``, the log behind the dashboard's snapshot test.

    .venv/bin/python tests/actor/cli/dashboard/_make_dashboard_fixture.py

A real runtime with vitals: a research session whose run completes and another it cancels,
a builder whose failing runs set off guidance, an actor that runs a tool and replies, and a
scout whose run is still waiting on its tool when the log is exported. The file is committed
so that ids and times are fixed; re-record it only on purpose (and update the snapshot).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from _dashboard_helpers import FIXTURE, GATES, hold

from soma_actor import Policy, ScriptedModel, start_actor
from soma_actor.providers import reply, use_tools
from soma_runtime import Runtime, Step


async def record(out: Path) -> None:
    GATES["scout"] = anyio.Event()
    with tempfile.TemporaryDirectory() as tmp:
        async with Runtime.open(db=Path(tmp) / "soma.db", tools=[hold], root=tmp) as rt:
            research = await rt.start_session("research", intent="summarise the OTP design docs")
            done = await research.start_run(
                [Step("s1", "echo", {"value": "supervisors"}), Step("s2", "echo", {"value": "restarts"})]
            )
            await done.result()
            builder = await rt.start_session("builder", intent="build the release")
            for steps in (
                [Step("s1", "fail", {"message": "compiler exited 1"})],
                [Step("s1", "file_read", {"path": "missing.txt"})],
                [Step("s1", "fail", {"message": "linker exited 1"})],
            ):
                await (await builder.start_run(steps)).result()
            helper = await start_actor(
                rt,
                "helper",
                ScriptedModel([use_tools(("echo", {"value": "ok"})), reply("all done")]),
                Policy(["echo"]),
            )
            await helper.ask("check the echo tool")
            slow = await research.start_run([Step("s1", "sleep", {"seconds": 60})])
            await slow.cancel()
            scout = await rt.start_session("scout")
            waiting = await scout.start_run(
                [Step("look", "echo", {"value": 1}), Step("wait", "hold", {"gate": "scout"})]
            )
            async for event in rt.events.subscribe(run_id=waiting.run_id, type="tool.started"):
                if event.step_id == "wait":
                    break
            await rt.vitals.caught_up()
            count = await rt.events.export_jsonl(out)
            GATES["scout"].set()
    print(f"wrote {count} events to {out}")


if __name__ == "__main__":
    anyio.run(record, FIXTURE, backend="asyncio")
