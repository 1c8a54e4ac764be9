"""Two agent actors on a scripted model: one delegates, the other reads files with tools.

Runs anywhere (no network, no key): the ScriptedModel plays the model's part, and
everything else — policy and budget checks, runs of tools, delegation, events — is real.

python examples/agent_scripted.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio

from soma_actor import Budget, Policy, ScriptedModel, TaskFailed, start_actor
from soma_actor.model import ModelRequest, ModelResponse
from soma_actor.providers import message_actor, reply, responding, use_tools
from soma_runtime import Runtime


def summarise(request: ModelRequest) -> ModelResponse:
    """The reader's last turn: answer from what its tools returned."""
    lines = request.messages[-1].content
    return reply(f"The notes say: {lines}")


async def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        notes = "supervisors restart children\nlinks propagate exits\n"
        await anyio.Path(root, "notes.txt").write_text(notes)
        async with Runtime.open(db=Path(root, "soma.db"), root=root) as rt:
            reader = await start_actor(
                rt,
                "reader",
                ScriptedModel(
                    [
                        use_tools(("text_grep", {"pattern": "restart", "path": "notes.txt"})),
                        responding(summarise),
                    ]
                ),
                Policy(["text_grep", "file_read"]),
                Budget(max_model_calls=4, max_steps=5),
            )
            lead = await start_actor(
                rt,
                "lead",
                ScriptedModel(
                    [
                        message_actor("reader", "What do my notes say about restarts?"),
                        responding(lambda r: reply(f"Summary for you — {r.messages[-1].content}")),
                        use_tools(("file_write", {"path": "out.txt", "content": "x"})),  # not allowed
                    ]
                ),
                Policy([], ["reader"]),
            )
            task_id = await lead.send("Brief me on restarts.")
            result = await lead.task_result(task_id)
            print(f"lead → {result.state.value}: {result.reply}")
            print(f"  usage: {result.usage.model_calls} model calls, {result.usage.tokens} tokens")
            try:
                await lead.ask("Now write that to a file.")
            except TaskFailed as refused:
                print(f"lead → {refused.result.state.value}: {refused.result.error}")
            print(f"\nevery event of {result.correlation_id} (both actors, one correlation id):")
            for event in await rt.events.query(correlation_id=result.correlation_id):
                print(f"  {event.seq:>3} {event.agent_id:<7} {event.type}")
            await reader.stop()


if __name__ == "__main__":
    anyio.run(main)
