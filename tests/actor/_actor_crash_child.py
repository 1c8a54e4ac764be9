"""Child of the actor crash test: an actor whose task is running a run (its tool sleeps),
until the test kills the whole runtime. Usage: python _actor_crash_child.py DB. Prints
``TASK <task_id>`` once the task's tool runs, and again for a queued task behind it.
"""

from __future__ import annotations

import sys

import anyio

from soma_actor import Budget, Policy, ScriptedModel, start_actor
from soma_actor.providers import reply, use_tools
from soma_runtime import Runtime


async def main(db: str) -> None:
    async with Runtime.open(db=db, vitals=False) as rt:
        model = ScriptedModel([use_tools(("sleep", {"seconds": 60})), reply("never")])
        actor = await start_actor(rt, "worker", model, Policy(["sleep"]), Budget(max_model_calls=5))
        running = await actor.send("wait a minute")
        queued = await actor.send("and then another")
        async for _ in rt.events.subscribe(type="tool.started"):
            break
        print("TASK", running, flush=True)
        print("TASK", queued, flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
