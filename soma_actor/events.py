"""The actor layer's event types (the ``actor.*`` and ``proposal.*`` families), typed.

The core reserves both families; registering exact payload models here means a malformed
actor event is refused at the store with an error naming the field, like a core event.
Registered when ``soma_actor`` is imported.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, Field

from soma_runtime.store.events import register_event_type
from soma_runtime.store.payloads import Payload


class ActorStarted(Payload):
    actor_id: str
    model: str
    provider: str
    policy: dict[str, Any] = Field(default_factory=dict)
    budget: dict[str, Any] = Field(default_factory=dict)
    lost_tasks: int = Field(default=0, ge=0)


class ActorStopped(Payload):
    reason: str


class TaskReceived(Payload):
    message: str
    timeout: float | None = None
    from_actor: str | None = None
    parent_task_id: str | None = None


class TaskStarted(Payload):
    message: str


class TaskEnded(Payload):
    """Every terminal task event: ``reply`` when completed, ``error`` otherwise. A task its
    actor could not end also says why in ``reason`` (an extra field): ``interrupted`` (the
    runtime stopped), ``actor_restarted`` (the actor was killed and started again)."""

    reply: str | None = None
    error: str | None = None
    usage: dict[str, Any] = Field(default_factory=dict)
    runs: list[str] = Field(default_factory=list)


class MessageSent(Payload):
    to_actor: str
    message: str
    child_task_id: str


class ProposalReceived(Payload):
    kind: str


class ProposalApproved(Payload):
    kind: str


class ProposalRefused(Payload):
    """``proposal.rejected`` (policy or budget: the task ends) and ``proposal.invalid``
    (normalization: the model hears why and tries again)."""

    reason: str
    stage: str | None = None


ACTOR_PAYLOADS: Final[dict[str, type[BaseModel]]] = {
    "actor.started": ActorStarted,
    "actor.stopped": ActorStopped,
    "actor.task.received": TaskReceived,
    "actor.task.started": TaskStarted,
    "actor.task.completed": TaskEnded,
    "actor.task.rejected": TaskEnded,
    "actor.task.failed": TaskEnded,
    "actor.task.cancelled": TaskEnded,
    "actor.task.timeout": TaskEnded,
    "actor.message.sent": MessageSent,
    "proposal.received": ProposalReceived,
    "proposal.approved": ProposalApproved,
    "proposal.rejected": ProposalRefused,
    "proposal.invalid": ProposalRefused,
}

for _name, _model in ACTOR_PAYLOADS.items():
    register_event_type(_name, _model)
