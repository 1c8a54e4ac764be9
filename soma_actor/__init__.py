"""Soma agent entities: long-lived, LLM-driven actors on top of :mod:`soma_runtime`.

::

    async with Runtime.open(db="soma.db") as rt:
        model = ScriptedModel([use_tools(("echo", {"value": "hi"})), reply("done")])
        actor = await start_actor(rt, "helper", model, Policy(["echo"]), Budget(max_model_calls=5))
        answer = await actor.ask("say hi")
"""

from . import _recovery as _recovery
from . import events as _events  # noqa: F401  (registers the actor event types)
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
from .providers import ScriptedModel
from .supervisor import ActorAlreadyRunning, actor_supervisor, start_actor
from .task import TaskFailed, TaskResult, TaskState, TaskStatus, TaskUsage, UnknownTask

__all__ = [
    "ACTOR_SUPERVISOR",
    "Actor",
    "ActorAlreadyRunning",
    "ActorInfo",
    "ActorNotRunning",
    "ActorOptions",
    "ActorState",
    "AgentActor",
    "Budget",
    "Message",
    "Model",
    "ModelError",
    "ModelErrorKind",
    "ModelRequest",
    "ModelResponse",
    "Policy",
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
