"""ScriptedModel: a deterministic model for tests, demos and offline development.

It plays a script, one turn per call, and records every request it received (so a test can
assert what the model was shown — guidance included). A turn is a ``ModelResponse``, a
``ModelError`` (raised, as a real provider would), or an async function of the request (to
wait on an event, or to answer from what the request holds).

Usage is deterministic and roughly realistic (about four characters per token of the
request and of the answer), so the vitals' token and cost signals have something to read.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeAlias

import anyio

from ..model import (
    ModelError,
    ModelErrorKind,
    ModelRequest,
    ModelResponse,
    StopReason,
    ToolUse,
    Usage,
)
from ..proposal import MESSAGE_ACTOR, REJECT_TASK

Turn: TypeAlias = ModelResponse | ModelError | Callable[[ModelRequest], Awaitable[ModelResponse]]

_ids = itertools.count(1)


class ScriptedModel:
    """Plays ``script`` in order; a call past its end fails with a clear ``ModelError`` —
    or, with ``repeat=True``, starts the script over (an agent that serves forever, as
    ``soma serve --config`` runs one).

    Arguments: ``script`` (the turns: ``reply``, ``use_tools``, ``message_actor``,
    ``reject``, ``fail``, ``after``, ``delayed``, ``responding``), ``name`` (the model name
    recorded on ``llm.*`` events), ``price_per_mtok`` (USD per million input and output
    tokens, for the cost signal), ``repeat``.
    """

    provider = "scripted"

    def __init__(
        self,
        script: Iterable[Turn] = (),
        *,
        name: str = "scripted",
        price_per_mtok: tuple[float, float] = (0.0, 0.0),
        repeat: bool = False,
    ) -> None:
        self._name = name
        self._script = list(script)
        self._next = 0
        self._repeat = repeat
        self._price = price_per_mtok
        self.requests: list[ModelRequest] = []

    def __repr__(self) -> str:
        return f"ScriptedModel({self._name!r}, turn {self._next}/{len(self._script)})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def remaining(self) -> int:
        return len(self._script) - self._next

    def extend(self, turns: Iterable[Turn]) -> None:
        """Append turns (an actor can be given more work after its script ran out)."""
        self._script.extend(turns)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if self._repeat and self._script and self._next >= len(self._script):
            self._next = 0
        if self._next >= len(self._script):
            raise ModelError(
                ModelErrorKind.INVALID_RESPONSE,
                f"script of {self._name!r} exhausted after {len(self._script)} turns",
            )
        turn = self._script[self._next]
        self._next += 1
        if isinstance(turn, ModelError):
            raise turn
        response = turn if isinstance(turn, ModelResponse) else await turn(request)
        return self._with_usage(request, response)

    def _with_usage(self, request: ModelRequest, response: ModelResponse) -> ModelResponse:
        if response.usage != Usage():
            return response  # the script said what it costs
        seen = len(request.system_prompt()) + sum(len(m.content) for m in request.messages)
        said = len(response.text) + sum(len(json.dumps(u.arguments)) for u in response.tool_uses)
        usage = Usage(input_tokens=max(1, seen // 4), output_tokens=max(1, said // 4))
        cost = (usage.input_tokens * self._price[0] + usage.output_tokens * self._price[1]) / 1e6
        return ModelResponse(
            response.text, response.tool_uses, response.stop_reason, usage, cost, response.model or self._name
        )


# -- turns ------------------------------------------------------------------------------------


def reply(text: str, *, usage: Usage | None = None, cost: float = 0.0) -> ModelResponse:
    """A final answer."""
    return ModelResponse(text, (), StopReason.END, usage or Usage(), cost)


def use_tools(*calls: tuple[str, Mapping[str, Any]], text: str = "") -> ModelResponse:
    """Tool calls, run as one run's steps in the order given."""
    uses = tuple(ToolUse(f"call-{next(_ids)}", name, dict(args)) for name, args in calls)
    return ModelResponse(text, uses, StopReason.TOOL_USE)


def message_actor(actor_id: str, message: str) -> ModelResponse:
    """Delegate to another actor and wait for its reply."""
    use = ToolUse(f"call-{next(_ids)}", MESSAGE_ACTOR, {"actor_id": actor_id, "message": message})
    return ModelResponse("", (use,), StopReason.TOOL_USE)


def reject(reason: str) -> ModelResponse:
    """Decline the task."""
    use = ToolUse(f"call-{next(_ids)}", REJECT_TASK, {"reason": reason})
    return ModelResponse("", (use,), StopReason.TOOL_USE)


def fail(
    message: str, *, kind: ModelErrorKind = ModelErrorKind.STATUS, status: int | None = 500
) -> ModelError:
    """The provider fails this call."""
    return ModelError(kind, message, status=status)


def after(event: anyio.Event, then: ModelResponse) -> Callable[[ModelRequest], Awaitable[ModelResponse]]:
    """Answer ``then`` once ``event`` is set: a model call that stays in flight until a test
    (or a demo) lets it finish — and that a cancel or timeout interrupts."""

    async def turn(_request: ModelRequest) -> ModelResponse:
        await event.wait()
        return then

    return turn


def delayed(seconds: float, then: ModelResponse) -> Callable[[ModelRequest], Awaitable[ModelResponse]]:
    """Answer ``then`` after ``seconds`` of (real) thinking time — for demos."""

    async def turn(_request: ModelRequest) -> ModelResponse:
        await anyio.sleep(seconds)
        return then

    return turn


def responding(
    fn: Callable[[ModelRequest], ModelResponse],
) -> Callable[[ModelRequest], Awaitable[ModelResponse]]:
    """Answer from the request (e.g. echo the last tool result into the reply)."""

    async def turn(request: ModelRequest) -> ModelResponse:
        return fn(request)

    return turn
