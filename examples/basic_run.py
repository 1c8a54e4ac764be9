"""A session, a run of three steps, its result and its trace.

python examples/basic_run.py
"""

from __future__ import annotations

import anyio

from soma_runtime import RunState, Runtime, Step, tool


@tool(timeout=5.0, effect="read", idempotent=True)
async def search(query: str, limit: int = 3) -> list[str]:
    """A stand-in search: deterministic results for the query."""
    return [f"{query} result {i}" for i in range(1, limit + 1)]


async def main() -> None:
    async with Runtime.open(db="soma-example.db", tools=[search]) as rt:
        session = await rt.start_session(agent_id="research", intent="learn how OTP supervisors work")
        run = await session.start_run(
            [
                Step("s1", "search", {"query": "otp supervisor", "limit": 2}),
                Step("s2", "echo", {"value": "summarised"}),
            ],
            timeout=30.0,
        )
        result = await run.result()
        assert result.state is RunState.COMPLETED
        print(f"{result.run_id}: {result.state}")
        for step_id, output in result.outputs.items():
            print(f"  {step_id}: {output}")
        print("trace:")
        for event in await rt.events.query(run_id=run.run_id):
            print(f"  #{event.seq:<4} {event.type:<16} {event.step_id or ''}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
