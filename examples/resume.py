"""A deploy without losing runs: the first runtime suspends its live run when it stops, the
next one resumes it — the step it had finished is not run again.

python examples/resume.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio

from soma_runtime import Runtime, Step, tool


@tool(idempotent=True)  # safe to repeat: a resumed run may run it again if it was cut
async def publish(version: str) -> str:
    await anyio.sleep(0.5)
    return f"published {version}"


async def main() -> None:
    db = Path(tempfile.mkdtemp()) / "soma.db"
    async with Runtime.open(db=db, tools=[publish], on_shutdown="suspend") as rt:
        session = await rt.start_session(agent_id="release")
        run = await session.start_run(
            [Step("build", "echo", {"value": "v1.2 built"}), Step("publish", "publish", {"version": "v1.2"})]
        )
        async for event in rt.events.subscribe(run_id=run.run_id, type="tool.started"):
            if event.step_id == "publish":
                break
        print(f"stopping while {run.run_id} publishes…")
    # The old runtime is gone: its run is suspended, not lost. The next one resumes it.
    async with Runtime.open(db=db, tools=[publish]) as rt:
        print("resumed at open:", rt.recovery.resumed)
        result = await (await rt.run(run.run_id)).result()
        print(f"{result.run_id}: {result.state} {result.outputs}")
        for event in await rt.events.query(run_id=run.run_id):
            print(f"  #{event.seq:<4} {event.type:<15} {event.step_id or ''}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
