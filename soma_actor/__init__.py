"""Soma agent entities: long-lived, LLM-driven actors on top of :mod:`soma_runtime`.

::

    async with Runtime.open(db="soma.db") as rt:
        model = ScriptedModel([use_tools(("echo", {"value": "hi"})), reply("done")])
        actor = await start_actor(rt, "helper", model, Policy(["echo"]), Budget(max_model_calls=5))
        answer = await actor.ask("say hi")

Model providers are importable from here too: ``ScriptedModel``, ``AnthropicModel`` and
``OpenAIModel`` (see :mod:`soma_actor.providers` for their arguments).

Names are imported on first use (as in ``soma_runtime``): the ``soma`` command lives in this
package, and ``soma --version`` or ``soma statusline`` must not pay for the actor, pydantic
and the runtime they never touch. The actor layer's event types are registered with the
store when the actor module is first imported (an actor is what records them).
"""

from typing import TYPE_CHECKING

from soma_runtime._lazy import lazy_exports

_EXPORTS = {
    "ACTOR_SUPERVISOR": ".actor",
    "ActorInfo": ".actor",
    "ActorOptions": ".actor",
    "ActorState": ".actor",
    "AgentActor": ".actor",
    "Budget": ".budget",
    "Actor": ".handle",
    "ActorNotRunning": ".handle",
    "Message": ".model",
    "Model": ".model",
    "ModelError": ".model",
    "ModelErrorKind": ".model",
    "ModelRequest": ".model",
    "ModelResponse": ".model",
    "StopReason": ".model",
    "ToolSchema": ".model",
    "ToolUse": ".model",
    "Usage": ".model",
    "Policy": ".policy",
    "AnthropicModel": ".providers",
    "MissingApiKey": ".providers",
    "MissingSdk": ".providers",
    "OpenAIModel": ".providers",
    "ProviderConfigError": ".providers",
    "ScriptedModel": ".providers",
    "ActorAlreadyRunning": ".supervisor",
    "actor_supervisor": ".supervisor",
    "start_actor": ".supervisor",
    "TaskFailed": ".task",
    "TaskResult": ".task",
    "TaskState": ".task",
    "TaskStatus": ".task",
    "TaskUsage": ".task",
    "UnknownTask": ".task",
}

__all__ = [
    "ACTOR_SUPERVISOR",
    "Actor",
    "ActorAlreadyRunning",
    "ActorInfo",
    "ActorNotRunning",
    "ActorOptions",
    "ActorState",
    "AgentActor",
    "AnthropicModel",
    "Budget",
    "Message",
    "MissingApiKey",
    "MissingSdk",
    "Model",
    "ModelError",
    "ModelErrorKind",
    "ModelRequest",
    "ModelResponse",
    "OpenAIModel",
    "Policy",
    "ProviderConfigError",
    "ScriptedModel",
    "StopReason",
    "TaskFailed",
    "TaskResult",
    "TaskState",
    "TaskStatus",
    "TaskUsage",
    "ToolSchema",
    "ToolUse",
    "UnknownTask",
    "Usage",
    "actor_supervisor",
    "start_actor",
]
assert set(__all__) == set(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from .actor import ACTOR_SUPERVISOR, ActorInfo, ActorOptions, ActorState, AgentActor
    from .budget import Budget
    from .handle import Actor, ActorNotRunning
    from .model import (
        Message,
        Model,
        ModelError,
        ModelErrorKind,
        ModelRequest,
        ModelResponse,
        StopReason,
        ToolSchema,
        ToolUse,
        Usage,
    )
    from .policy import Policy
    from .providers import (
        AnthropicModel,
        MissingApiKey,
        MissingSdk,
        OpenAIModel,
        ProviderConfigError,
        ScriptedModel,
    )
    from .supervisor import ActorAlreadyRunning, actor_supervisor, start_actor
    from .task import TaskFailed, TaskResult, TaskState, TaskStatus, TaskUsage, UnknownTask
