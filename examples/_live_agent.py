"""What the two live-model examples share: one agent with file tools answers a question about
this repository, through a real provider. Without a key (or the provider's SDK) they say
what is missing on stderr and exit with status 1: nothing was run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import anyio

from soma_actor import Budget, Policy, TaskFailed, start_actor
from soma_actor.providers import AnthropicModel, MissingApiKey, MissingSdk, OpenAIModel
from soma_runtime import Runtime

REPO = Path(__file__).resolve().parent.parent
QUESTION = "Which make targets does this project's Makefile define? Read it, then answer in one line."


def run(make_model: Callable[[], AnthropicModel | OpenAIModel], provider: str) -> int:
    try:
        model = make_model()
    except (MissingApiKey, MissingSdk) as e:
        print(f"{provider}: {e}\nNothing was run.", file=sys.stderr)
        return 1
    return anyio.run(_ask, model)


async def _ask(model: AnthropicModel | OpenAIModel) -> int:
    async with model, Runtime.open(db=":memory:", root=REPO) as rt:  # the model closes its HTTP pool
        actor = await start_actor(
            rt,
            "reader",
            model,
            Policy(["file_read", "text_grep", "text_head"]),
            Budget(max_model_calls=6, max_steps=6, max_cost_usd=0.05),
            model_timeout=60.0,
        )
        try:
            answer = await actor.ask(QUESTION, timeout=180.0)
        except TaskFailed as failed:
            print(f"the task ended {failed.result.state.value}: {failed.result.error}", file=sys.stderr)
            return 1
        print(answer)
        llm = await rt.events.query(agent_id="reader", type="llm.succeeded")
        tokens = sum(e.payload["usage"]["input_tokens"] + e.payload["usage"]["output_tokens"] for e in llm)
        cost = sum(e.payload["cost_usd"] for e in llm)
        print(f"({len(llm)} model calls, {tokens} tokens, ${cost:.4f})")
        return 0
