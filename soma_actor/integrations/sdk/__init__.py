"""``wrap(client)``: vitals for a script on the Anthropic or OpenAI SDK, in one line.

::

    from soma_actor import wrap
    client = wrap(anthropic.Anthropic(), agent_id="research", db="soma.db")
    reply = client.messages.create(model=..., max_tokens=..., messages=[...])

The client comes back as itself — the same object, of a subclass of its class made for this
``wrap``, so ``isinstance`` and type checkers see what they saw — observed by Soma: every
``messages.create`` / ``messages.stream`` (Anthropic) or ``chat.completions.create``
(OpenAI), sync or async, streaming or not, is recorded as ``llm.*`` events with usage and
cost, each tool call in an answer as an action, and each tool result sent back as that
action's end (``_observer``). Pending vitals guidance joins the system prompt of the next
call; under BLOCK an answer asking for a destructive tool raises :class:`ToolBlocked`.

Copies of the client (``client.with_options(...)``) are observed too, as the same agent and
session. Wrapping a wrapped client is a no-op: it returns the client as it is.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from ._observer import Observer, ToolBlocked

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..destructive import Rules

__all__ = ["ToolBlocked", "wrap"]

ClientT = TypeVar("ClientT")

_OBSERVER = "__soma_observer__"


def wrap(
    client: ClientT,
    *,
    agent_id: str,
    db: str | os.PathLike[str] | None = None,
    control: str | os.PathLike[str] | None = None,
    intent: str | None = None,
    on_block: Callable[[ToolBlocked], Any] | None = None,
    rules: Rules | None = None,
) -> ClientT:
    """Observe ``client`` (``anthropic.Anthropic`` / ``AsyncAnthropic``, ``openai.OpenAI`` /
    ``AsyncOpenAI``) as the Soma agent ``agent_id``; returns ``client`` itself.

    Events go through the runtime serving ``control`` (a ``soma serve`` socket), or straight
    into the database ``db`` (default: ``SOMA_DB``, else ``./soma.db``), created if missing.
    ``intent`` is what the agent is for (the drift signal measures against it). Under BLOCK,
    an answer that asks for a destructive tool (``rules``: what counts, beyond the built-in
    list) raises :class:`ToolBlocked` carrying the response — or, with ``on_block``, returns
    ``on_block(the ToolBlocked)`` instead.
    """
    cls = type(client)
    if getattr(cls, _OBSERVER, None) is not None:
        return client  # already wrapped
    if not isinstance(agent_id, str) or not agent_id.strip():
        raise ValueError(f"wrap needs agent_id, a non-empty string, got {agent_id!r}")
    if db is not None and control is not None:
        raise ValueError("wrap records to db= or through control=, not both")
    provider, is_async = _identify(client)
    ledger: Any
    if control is not None:
        from .._control import ControlLedger

        ledger = ControlLedger(os.path.abspath(os.fspath(control)))
    else:
        from .._direct import DirectLedger

        ledger = DirectLedger(os.fspath(db) if db is not None else os.environ.get("SOMA_DB") or "soma.db")
    secrets = [
        value for name in ("api_key", "auth_token") if isinstance(value := getattr(client, name, None), str)
    ]
    observer = Observer(
        ledger,
        agent_id=agent_id,
        provider=provider,
        intent=intent,
        rules=rules,
        on_block=on_block,
        secrets=secrets,
    )
    proxy: type[Any]
    if provider == "anthropic":
        from . import _anthropic

        proxy = _anthropic.AsyncMessages if is_async else _anthropic.Messages
        attribute = "messages"
    else:
        from . import _openai

        proxy = _openai.AsyncChat if is_async else _openai.Chat
        attribute = "chat"
    real = _resource(cls, attribute)

    def observed(self: Any) -> Any:
        return proxy(real(self), observer)

    observed.__name__ = attribute
    namespace = {_OBSERVER: observer, attribute: cached_property(observed), "__module__": cls.__module__}
    observed_class = type(cls.__name__, (cls,), namespace)
    observed_class.__qualname__ = cls.__qualname__
    vars(client).pop(attribute, None)  # a resource built before wrap would bypass it
    client.__class__ = observed_class
    return client


def _identify(client: Any) -> tuple[str, bool]:
    """("anthropic" | "openai", async?) of an SDK client; TypeError for anything else."""
    roots = {klass.__module__.split(".")[0] for klass in type(client).__mro__}
    if "anthropic" in roots:
        import anthropic

        if isinstance(client, anthropic.AsyncAnthropic):
            return "anthropic", True
        if isinstance(client, anthropic.Anthropic):
            return "anthropic", False
    if "openai" in roots:
        import openai

        if isinstance(client, openai.AsyncOpenAI):
            return "openai", True
        if isinstance(client, openai.OpenAI):
            return "openai", False
    raise TypeError(
        f"wrap takes an anthropic.Anthropic/AsyncAnthropic or openai.OpenAI/AsyncOpenAI client, "
        f"got {type(client).__qualname__}"
    )


def _resource(cls: type, attribute: str) -> Callable[[Any], Any]:
    """The function that builds the client's ``attribute`` resource (the SDKs make each one a
    cached property), called afresh for the observed one."""
    for klass in cls.__mro__:
        found = klass.__dict__.get(attribute)
        if found is not None:
            function = getattr(found, "func", None) or getattr(found, "fget", None)
            if callable(function):
                return function  # type: ignore[no-any-return]
            break
    raise TypeError(f"{cls.__qualname__} has no {attribute!r} resource to observe")
