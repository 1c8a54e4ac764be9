"""Cancelling a run stops its active tool; the session keeps serving.

python examples/cancellation.py
"""

from __future__ import annotations

import anyio

from soma_runtime import Runtime, Step


async def main() -> None:
    async with Runtime.open(db=":memory:") as rt:
        session = await rt.start_session(agent_id="worker")
        slow = await session.start_run([Step("s1", "sleep", {"seconds": 60})])
        await anyio.sleep(0.1)  # a user clicking "cancel" a little later
        result = await slow.cancel()  # returns once the run is terminal
        print(f"{slow.run_id}: {result.state} ({result.error})")
        types = [e.type for e in await rt.events.query(run_id=slow.run_id)]
        print("events:", " → ".join(types))
        again = await session.start_run([Step("s1", "echo", {"value": "the session is still here"})])
        print((await again.result()).outputs["s1"])


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
