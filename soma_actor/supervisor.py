"""ActorSupervisor: the dynamic supervisor of a runtime's agent actors, and ``start_actor``.

It joins the runtime's tree as the root supervisor's last child, so the runtime's orderly
shutdown stops actors first — their tasks cancelled and recorded — while the sessions, runs
and event store they use are still there. Started on first use: a runtime without actors
has no actor supervisor.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio

from soma_runtime import Runtime
from soma_runtime.kernel import (
    SUPERVISOR,
    TRANSIENT,
    AlreadyPresent,
    AlreadyStarted,
    ChildSpec,
    DynamicSupervisor,
    Pid,
    Supervisor,
    current_node,
)

from . import control_ops
from ._recovery import end_orphaned_tasks
from .actor import ACTOR_SUPERVISOR, ActorOptions, actor_name, start_link
from .budget import Budget
from .handle import Actor
from .model import Model
from .policy import Policy

_starting = anyio.Lock()


class ActorAlreadyRunning(Exception):
    def __init__(self, actor_id: str) -> None:
        self.actor_id = actor_id
        super().__init__(f"an actor {actor_id!r} is already running in this runtime")


async def actor_supervisor(rt: Runtime) -> Pid:
    """The runtime's actor supervisor, started under its root on first use."""
    async with _starting:
        existing = current_node().whereis(ACTOR_SUPERVISOR)
        if existing is not None:
            return existing
        # No actor of this runtime runs yet: a task still open belongs to none (its runtime
        # stopped before it ended, and this process opened the store before the actor layer
        # was imported, so the open could not end it).
        await end_orphaned_tasks(rt)
        # An actor that crashes is restarted (transient: not after a normal stop); its
        # in-flight tasks were recorded as cancelled by its terminate.
        template = ChildSpec("actor", start_link, restart=TRANSIENT, shutdown=10.0)
        spec = ChildSpec(
            "actor_sup",
            partial(DynamicSupervisor.start_link, name=ACTOR_SUPERVISOR),
            (template,),
            kind=SUPERVISOR,
        )
        try:
            pid = await Supervisor.start_child(rt.root, spec)
        except AlreadyPresent:  # stopped earlier, spec kept: start it again
            pid = await Supervisor.restart_child(rt.root, "actor_sup")
        assert pid is not None
        control_ops.register(rt, ACTOR_SUPERVISOR)
        return pid


async def start_actor(
    rt: Runtime,
    actor_id: str,
    model: Model,
    policy: Policy | None = None,
    budget: Budget | None = None,
    **options: Any,
) -> Actor:
    """Start a long-lived agent actor under the runtime's actor supervisor.

    ``policy`` defaults to ``Policy()`` (reply only), ``budget`` to ``Budget()``; ``options``
    are :class:`ActorOptions` fields (``system``, ``model_timeout``, ``run_timeout``,
    ``max_tokens``, ``delegation_trust``, ``intent``, ``cancel_grace``).
    """
    if not isinstance(actor_id, str) or not actor_id or not actor_id.isprintable():
        raise ValueError(f"actor_id must be a non-empty printable string, got {actor_id!r}")
    if not isinstance(model, Model):
        raise TypeError(f"model must provide the soma_actor.Model protocol, got {model!r}")
    opts = ActorOptions(**options)
    sup = await actor_supervisor(rt)
    if current_node().whereis(actor_name(actor_id)) is not None:
        raise ActorAlreadyRunning(actor_id)
    try:
        pid = await DynamicSupervisor.start_child(
            sup, actor_id, rt, model, policy or Policy(), budget or Budget(), opts
        )
    except AlreadyStarted as e:
        raise ActorAlreadyRunning(actor_id) from e
    assert pid is not None
    return Actor(actor_id, rt)
