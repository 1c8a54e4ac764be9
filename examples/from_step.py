"""Chaining steps with FromStep: a later step's arguments take an earlier step's output.

python examples/from_step.py
"""

from __future__ import annotations

from tempfile import TemporaryDirectory

import anyio

from soma_runtime import FromStep, Runtime, Step, tool


@tool(effect="pure")
def word_count(text: str) -> dict[str, int]:
    return {"words": len(text.split()), "lines": text.count("\n") + 1}


async def main() -> None:
    with TemporaryDirectory() as root:
        await anyio.Path(root, "notes.txt").write_text(
            "supervisors restart children\nlinks propagate exits\n"
        )
        async with Runtime.open(tools=[word_count], root=root) as rt:
            session = await rt.start_session(agent_id="reader")
            run = await session.start_run(
                [
                    Step("read", "file_read", {"path": "notes.txt"}),
                    Step("count", "word_count", {"text": FromStep("read")}),
                    Step("report", "echo", {"value": {"words": FromStep("count", "words")}}),
                ]
            )
            result = await run.result()
            print(result.state, result.outputs["report"])


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
