"""A hanging tool times out; the run ends in TIMEOUT and the session runs again.

python examples/timeout.py
"""

from __future__ import annotations

import anyio

from soma_runtime import Runtime, Step, tool


@tool(timeout=0.5)
async def stuck_download(url: str) -> str:
    await anyio.sleep_forever()  # a server that never answers
    return url


async def main() -> None:
    async with Runtime.open(tools=[stuck_download]) as rt:
        session = await rt.start_session(agent_id="fetcher")
        run = await session.start_run([Step("s1", "stuck_download", {"url": "http://example.invalid"})])
        result = await run.result()
        print(f"step timeout -> {result.state}: {result.error}")
        run = await session.start_run([Step("s1", "sleep", {"seconds": 10})], timeout=0.3)
        result = await run.result()
        print(f"run timeout  -> {result.state}: {result.error}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
