"""What a wrapped client records, whichever SDK it is: one :class:`Observer` per ``wrap``.

Each model call goes through a :class:`Call`:

1. :meth:`Observer.begin` — before the request: the session's start (first call), the results
   of earlier tool calls that this request sends back (``tool.succeeded`` / ``tool.failed``,
   for calls this observer saw the model make), and ``llm.started``; the pending guidance is
   handed out with them (``guidance.delivered``, channel ``wrap``) and returned, to join the
   system prompt of this very request.
2. :meth:`Call.succeeded` — the answer: ``llm.succeeded`` with usage and cost, then each tool
   call in it as ``tool.started`` (the agent's action, ``tool_call_id`` = the call's id) — or,
   when the agent is at BLOCK and the call is destructive (``destructive``), ``tool.blocked``,
   and :class:`ToolBlocked` for the caller. :meth:`Call.failed` records ``llm.failed``;
   :meth:`Call.abandoned` ``llm.cancelled`` for a stream closed before its end.

Every payload says ``"source": "wrap"``. The observer never touches the caller's objects: it
reads the request and the response, and what it adds to a request is a new argument.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from .._ledger import Draft
from .._wire import bounded, clean
from ..destructive import DEFAULT_RULES, destructive_action

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ...model import Usage
    from .._ledger import Ledger
    from ..destructive import Rules

SOURCE = "wrap"
CHANNEL = "wrap"


class ToolBlocked(Exception):
    """The model asked for a destructive tool while its agent's vitals are at BLOCK.

    ``response`` is the SDK's response, untouched (every tool call in it, blocked or not);
    ``blocked`` the refused calls as ``(id, name, arguments, reason)``; ``pressure`` the
    agent's effective pressure. Pass ``on_block=`` to :func:`~soma_actor.wrap` to handle it
    instead of raising: the wrapped call then returns what the handler returns.
    """

    def __init__(
        self,
        response: Any,
        blocked: list[tuple[str, str, dict[str, Any], str]],
        pressure: float,
        agent_id: str,
    ) -> None:
        names = ", ".join(f"{name} ({reason})" for _, name, _, reason in blocked)
        super().__init__(
            f"Soma blocked {len(blocked)} tool call(s) of agent {agent_id!r} at BLOCK "
            f"(pressure {pressure:.2f}): {names}"
        )
        self.response = response
        self.blocked = blocked
        self.pressure = pressure
        self.agent_id = agent_id


class Answer:
    """A model's answer, read from either SDK (a response or an accumulated stream)."""

    __slots__ = ("model", "stop_reason", "text", "tool_uses", "usage")

    def __init__(
        self,
        text: str,
        tool_uses: list[tuple[str, str, dict[str, Any]]],
        stop_reason: str | None,
        model: str | None,
        usage: Usage,
    ) -> None:
        self.text = text
        self.tool_uses = tool_uses
        self.stop_reason = stop_reason
        self.model = model
        self.usage = usage


class ToolResult:
    """A tool call's result as a request sends it back to the model."""

    __slots__ = ("content", "failed", "tool_use_id")

    def __init__(self, tool_use_id: str, content: Any, failed: bool) -> None:
        self.tool_use_id = tool_use_id
        self.content = content
        self.failed = failed


class Observer:
    """The recording side of one ``wrap``: its agent, session, ledger, and the tool calls
    the model asked for whose results have not come back yet."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        agent_id: str,
        provider: str,
        intent: str | None,
        rules: Rules | None,
        on_block: Callable[[ToolBlocked], Any] | None,
        secrets: Sequence[str],
    ) -> None:
        self.ledger = ledger
        self.agent_id = agent_id
        self.provider = provider
        self.session_id = f"sess-wrap-{os.urandom(6).hex()}"
        self.intent = intent
        self.rules = rules if rules is not None else DEFAULT_RULES
        self.on_block = on_block
        self.secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()
        self._started = False
        self._calls: dict[str, tuple[str, dict[str, Any]]] = {}  # tool_use_id -> (name, arguments)

    def _draft(self, type: str, payload: dict[str, Any], tool_call_id: str | None = None) -> Draft:
        return Draft(
            type,
            payload,
            agent_id=self.agent_id,
            session_id=self.session_id,
            tool_call_id=tool_call_id,
            source=SOURCE,
        )

    def begin(self, model: str | None, results: Sequence[ToolResult]) -> tuple[Call, str | None]:
        """Record what comes before a model call; the call, and the guidance to add to its
        system prompt (None: nothing pending)."""
        drafts: list[Draft] = []
        with self._lock:
            if not self._started:
                self._started = True
                metadata = {"wrap": {"provider": self.provider}}
                start = {"intent": self.intent, "metadata": metadata}
                drafts.append(self._draft("session.started", start))
            ended = [(r, self._calls.pop(r.tool_use_id)) for r in results if r.tool_use_id in self._calls]
        for result, (name, arguments) in ended:
            payload: dict[str, Any] = {"tool": name, "args": arguments}
            if result.failed:
                payload["error"] = _text(result.content)
                drafts.append(self._draft("tool.failed", payload, result.tool_use_id))
            else:
                payload["output"] = bounded(clean(result.content))
                drafts.append(self._draft("tool.succeeded", payload, result.tool_use_id))
        drafts.append(self._draft("llm.started", {"model": model, "provider": self.provider}))
        outcome = self.ledger.exchange(drafts, self.agent_id, CHANNEL)
        guidance = None
        if outcome.guidance:
            vitals = outcome.vitals
            head = (
                f"Soma vitals: {vitals.mode.upper()} (pressure {vitals.pressure:.2f})."
                if vitals
                else "Soma vitals:"
            )
            guidance = "\n".join([head, *(f"- {f.message}" for f in reversed(outcome.guidance[-3:]))])
        return Call(self, model), guidance


class Call:
    """One model call being recorded (see the module docstring)."""

    def __init__(self, observer: Observer, model: str | None) -> None:
        self.observer = observer
        self.model = model
        self.started = time.perf_counter()
        self.done = False

    def _ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)

    def succeeded(self, answer: Answer, response: Any) -> Any:
        """Record the answer; returns ``response`` — or raises :class:`ToolBlocked` (or
        returns the ``on_block`` handler's value) when it asks for a blocked tool."""
        if self.done:
            return response
        self.done = True
        o = self.observer
        model = answer.model or self.model
        usage = answer.usage
        payload = {
            "model": model,
            "provider": o.provider,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
            },
            "cost_usd": _cost(model, usage),
            "duration_ms": self._ms(),
            "text": bounded(answer.text, 16_000),
            "stop_reason": answer.stop_reason,
        }
        outcome = o.ledger.exchange([o._draft("llm.succeeded", payload)], o.agent_id, None)
        if not answer.tool_uses:
            return response
        vitals = outcome.vitals
        blocked: list[tuple[str, str, dict[str, Any], str]] = []
        drafts = []
        for call_id, name, arguments in answer.tool_uses:
            args = bounded(clean(arguments), 8000)
            why = None
            if vitals is not None and vitals.blocked:
                why = destructive_action(name, arguments, rules=o.rules)
            if why is not None and vitals is not None:
                reason = f"{why}; agent {o.agent_id!r} is at BLOCK (pressure {vitals.pressure:.2f})"
                blocked.append((call_id, name, arguments, reason))
                refusal = {"tool": name, "reason": reason, "pressure": vitals.pressure, "args": args}
                drafts.append(o._draft("tool.blocked", refusal, call_id))
            else:
                with o._lock:
                    o._calls[call_id] = (name, args)
                drafts.append(
                    o._draft("tool.started", {"tool": name, "args": args, "isolation": None}, call_id)
                )
        o.ledger.exchange(drafts, o.agent_id, None)
        if not blocked or vitals is None:
            return response
        error = ToolBlocked(response, blocked, vitals.pressure, o.agent_id)
        if o.on_block is not None:
            return o.on_block(error)
        raise error

    def failed(self, error: BaseException) -> None:
        if self.done:
            return
        self.done = True
        o = self.observer
        payload = {
            "model": self.model,
            "provider": o.provider,
            "duration_ms": self._ms(),
            "error": _error(o, error),
        }
        o.ledger.exchange([o._draft("llm.failed", payload)], o.agent_id, None)

    def abandoned(self, reason: str, partial: Answer | None) -> None:
        """A stream the caller closed (or left) before its end."""
        if self.done:
            return
        self.done = True
        o = self.observer
        payload: dict[str, Any] = {"model": self.model, "provider": o.provider, "duration_ms": self._ms()}
        if partial is not None:
            usage = partial.usage
            payload["usage"] = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
            payload["model"] = partial.model or self.model
        payload["reason"] = reason
        o.ledger.exchange([o._draft("llm.cancelled", payload)], o.agent_id, None)


def _cost(model: str | None, usage: Usage) -> float:
    from soma_runtime.vitals.config import DEFAULT_PRICES, price_for

    price = price_for(model, DEFAULT_PRICES)
    if price is None:
        return 0.0
    return price.cost(
        usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens
    )


def _text(content: Any) -> str:
    """A tool result's content as text (a string, or Anthropic's list of blocks)."""
    if isinstance(content, list):
        parts = [block.get("text", "") for block in content if isinstance(block, dict)]
        content = " ".join(p for p in parts if isinstance(p, str)) or "failed"
    elif not isinstance(content, str):
        content = "failed" if content is None else str(content)
    text: str = bounded(content, 4000)
    return text


def _error(observer: Observer, error: BaseException) -> str:
    """What the SDK's exception says, in the providers' words, without the client's key."""
    from ...providers._errors import scrub

    message = f"{type(error).__name__}: {error}"
    return scrub(message, observer.secrets)[:2000]
