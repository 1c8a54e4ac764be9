"""External executables as tools: an argv list (never a shell string), output capped, and the
OS process killed on cancel or timeout.

    python examples/command_tool.py
"""

from __future__ import annotations

import sys

import anyio

from soma_runtime import CommandTool, Runtime, Step

# Placeholders become the tool's (string) arguments; each argv element stays one argument.
count_lines = CommandTool("count_lines", ["wc", "-l", "{path}"], timeout=5.0, effect="read")
python_version = CommandTool("python_version", [sys.executable, "--version"], effect="pure")
spin = CommandTool("spin", [sys.executable, "-c", "while True: pass"], timeout=0.5)


async def main() -> None:
    async with Runtime.open(tools=[count_lines, python_version, spin], root=".") as rt:
        session = await rt.start_session(agent_id="shell")
        run = await session.start_run(
            [Step("v", "python_version"), Step("n", "count_lines", {"path": "README.md"})]
        )
        result = await run.result()
        print(result.state, {k: v.strip() for k, v in result.outputs.items()})
        # A hostile-looking argument is just an argument: no shell ever sees it.
        run = await session.start_run([Step("n", "count_lines", {"path": "README.md; rm -rf /"})])
        print((await run.result()).error)
        # A CPU-bound child is killed (SIGTERM, then SIGKILL) when its timeout expires.
        run = await session.start_run([Step("s", "spin")])
        print((await run.result()).state)


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
