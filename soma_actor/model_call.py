"""ModelCall: a disposable worker process for exactly one model call.

The actor spawns it linked (the actor traps exits), exactly as a run spawns a ToolCall: its
whole body is "complete, then send the response to the actor". A provider error crashes this
process and reaches the actor as an exit signal whose reason is the ``ModelError``; a timeout
or a cancel is the actor stopping this process — the provider's HTTP request is cancelled
with its task, and the connection closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from soma_runtime.kernel import Pid, Process

from .model import Model, ModelRequest, ModelResponse


@dataclass(frozen=True, slots=True)
class ModelReturned:
    """Message from a ModelCall to its actor."""

    call_id: str
    response: ModelResponse


async def model_call(proc: Process, actor: Pid, call_id: str, model: Model, request: ModelRequest) -> None:
    response = await model.complete(request)
    await actor.send(ModelReturned(call_id, response))
