"""Agents in tests: start a scripted or a real agent on the ``soma_runtime`` fixture.

    from soma_actor.testing import start_scripted_agent
    from soma_actor.providers import reply, use_tools

    async def test_answers(soma_runtime):
        script = [use_tools(("echo", {"value": 1})), reply("done")]
        agent = await start_scripted_agent(soma_runtime, "helper", script)
        assert await agent.ask("go") == "done"

The fixture, the ``@pytest.mark.soma`` marker and the assertions come from the pytest plugin
(``soma_runtime.testing``, registered when Soma is installed); they are re-exported here so a
test module needs one import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from soma_runtime import Runtime
from soma_runtime.testing import (
    VitalsAssertionError,
    agent_trajectory,
    assert_mode_at_most,
    assert_pressure_below,
    check_agents,
    replay_session,
)

from ..budget import Budget
from ..handle import Actor
from ..model import Model, ModelResponse
from ..policy import ANY, Policy
from ..proposal import MESSAGE_ACTOR, REJECT_TASK
from ..providers.scripted import ScriptedModel, Turn
from ..supervisor import start_actor

__all__ = [
    "VitalsAssertionError",
    "agent_trajectory",
    "assert_mode_at_most",
    "assert_pressure_below",
    "check_agents",
    "replay_session",
    "start_agent",
    "start_scripted_agent",
]


async def start_scripted_agent(
    rt: Runtime,
    agent_id: str,
    script: Iterable[Turn],
    *,
    tools: Sequence[str] | None = None,
    actors: Sequence[str] | None = None,
    budget: Budget | None = None,
    model_name: str = "scripted",
    **options: Any,
) -> Actor:
    """An agent playing ``script`` (``reply``, ``use_tools``, ``fail``… turns, see
    ``soma_actor.providers``) on ``rt``.

    Its policy allows what the script uses — the tools it calls and the actors it messages —
    unless ``tools`` / ``actors`` say otherwise; its budget is unlimited unless given (the
    script's length bounds it). ``options`` are ``ActorOptions`` fields (``intent``…).
    """
    turns = list(script)
    used_tools, used_actors = _used(turns)
    policy = Policy(
        used_tools if tools is None else tools,
        used_actors if actors is None else actors,
    )
    model = ScriptedModel(turns, name=model_name)
    return await start_actor(rt, agent_id, model, policy, budget or Budget.unlimited(), **options)


async def start_agent(
    rt: Runtime,
    agent_id: str,
    model: Model,
    *,
    tools: Sequence[str] = (ANY,),
    actors: Sequence[str] = (),
    budget: Budget | None = None,
    **options: Any,
) -> Actor:
    """A real agent (``AnthropicModel``, ``OpenAIModel``, any ``soma_actor.Model``) on ``rt``,
    allowed ``tools`` (default: every tool of the runtime) and ``actors``, with ``budget``
    (default ``Budget()``: ten model calls a task, a sane bound for a test that pays per call).
    """
    return await start_actor(rt, agent_id, model, Policy(tools, actors), budget or Budget(), **options)


def _used(turns: Sequence[Turn]) -> tuple[list[str], list[str]]:
    tools: dict[str, None] = {}
    actors: dict[str, None] = {}
    for turn in turns:
        if not isinstance(turn, ModelResponse):
            continue
        for use in turn.tool_uses:
            if use.name == MESSAGE_ACTOR:
                target = use.arguments.get("actor_id")
                if isinstance(target, str):
                    actors[target] = None
            elif use.name != REJECT_TASK:
                tools[use.name] = None
    return list(tools), list(actors)
