"""Anthropic's Messages API through the official SDK's async client (``anthropic.AsyncAnthropic``).

The SDK is imported when a model is built, not with this module, so ``soma_actor`` imports
without it (it is the ``soma-runtime[anthropic]`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from soma_actor.model import Message, ModelRequest, ModelResponse, StopReason, ToolUse, Usage
from soma_runtime.vitals.config import ModelPrice

from ._base import SdkModel
from ._errors import MissingSdk

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from anthropic.types import (
        Message as AnthropicMessage,
    )
    from anthropic.types import (
        MessageParam,
        TextBlockParam,
        ToolParam,
        ToolResultBlockParam,
        ToolUseBlockParam,
    )

    Block = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam

_STOP_REASONS = {
    "end_turn": StopReason.END,
    "stop_sequence": StopReason.END,
    "tool_use": StopReason.TOOL_USE,
    "max_tokens": StopReason.MAX_TOKENS,
    "model_context_window_exceeded": StopReason.MAX_TOKENS,
    "refusal": StopReason.REFUSAL,
}
# Any other reason (``pause_turn`` comes only with server tools, which are never sent here;
# reasons the API adds later) reads as END — or TOOL_USE when the turn calls tools.


@dataclass(frozen=True)
class _Call:
    system: str
    messages: list[MessageParam]
    tools: list[ToolParam]
    max_tokens: int


class AnthropicModel(SdkModel["_Call", "AnthropicMessage"]):
    """Claude through the Messages API.

    Arguments:

    - ``model``: the model name (default ``claude-sonnet-4-6``); its price is looked up in
      ``prices`` by the longest matching prefix.
    - ``api_key``: the key; default ``ANTHROPIC_API_KEY``. Without either, building the model
      raises :class:`~soma_actor.providers.MissingApiKey`.
    - ``base_url``: another host for the API (a proxy, a gateway); default the SDK's
      (``ANTHROPIC_BASE_URL``, else Anthropic's API).
    - ``timeout``: seconds per call (default 60); ``max_retries``: the SDK's retries
      (default 0: the actor decides whether to try again).
    - ``prices``: USD per million tokens by model-name prefix (default ``DEFAULT_PRICES``,
      the table the vitals use).
    - ``client``: a ready ``AsyncAnthropic`` to use instead (then neither ``api_key`` nor
      ``base_url``).

    The system prompt is the actor's, not the model's: ``start_actor(..., system="…")``
    (``ActorOptions.system``); each call sends it, followed by any pending guidance.

    Usage follows the runtime's convention: ``input_tokens`` is every input token — the API
    reports uncached input, cache writes and cache reads separately, and they are added up
    here — with the cache counts as parts of it.

    The client holds a connection pool: ``await model.aclose()`` (or ``async with model``)
    when done with it.
    """

    provider = "anthropic"
    _env_var = "ANTHROPIC_API_KEY"

    def __init__(
        self,
        model: str = "claude-sonnet-4-6",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 0,
        prices: Mapping[str, ModelPrice] | None = None,
        client: AsyncAnthropic | None = None,
    ) -> None:
        super().__init__(model, timeout=timeout, max_retries=max_retries, prices=prices)
        try:
            import anthropic
        except ImportError:
            raise MissingSdk(self.provider, "anthropic") from None
        self._client: AsyncAnthropic = self._bind(
            anthropic, anthropic.AsyncAnthropic, anthropic.AnthropicError, api_key, base_url, client
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    def _encode(self, request: ModelRequest) -> _Call:
        tools: list[ToolParam] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
            for tool in request.tools
        ]
        return _Call(request.system_prompt(), _messages(request.messages), tools, request.max_tokens)

    async def _send(self, wire: _Call) -> AnthropicMessage:
        omit = self._omit  # an empty system prompt or tool list is left out, not sent empty
        return await self._client.messages.create(
            model=self._name,
            max_tokens=wire.max_tokens,
            messages=wire.messages,
            system=wire.system or omit,
            tools=wire.tools or omit,
        )

    def _decode(self, answer: AnthropicMessage) -> ModelResponse:
        texts: list[str] = []
        tool_uses: list[ToolUse] = []
        for block in answer.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                tool_uses.append(ToolUse(block.id, block.name, self._arguments(block.name, block.input)))
            # Other blocks (thinking, server tools) answer features this provider never asks for.
        usage = answer.usage
        cache_write = usage.cache_creation_input_tokens or 0
        cache_read = usage.cache_read_input_tokens or 0
        counted = Usage(
            input_tokens=_count(usage.input_tokens) + _count(cache_write) + _count(cache_read),
            output_tokens=_count(usage.output_tokens),
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )
        stop = _STOP_REASONS.get(answer.stop_reason or "", StopReason.END)
        return self._response("".join(texts), tool_uses, stop, counted, answer.model)


def _messages(messages: tuple[Message, ...]) -> list[MessageParam]:
    """The conversation as Messages API turns. A tool result is a ``tool_result`` block in a
    user turn, and the API wants all results of one assistant turn in the next user turn, so
    consecutive messages of one wire role are merged into one turn."""
    turns: list[tuple[str, list[Block]]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return [
        {"role": "assistant", "content": blocks}
        if role == "assistant"
        else {"role": "user", "content": blocks}
        for role, blocks in turns
    ]


def _blocks(message: Message) -> list[Block]:
    if message.role == "tool":
        if not message.tool_use_id:
            raise ValueError("a tool message needs the tool_use_id of the call it answers")
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_use_id,
                "content": message.content,
                "is_error": message.is_error,
            }
        ]
    blocks: list[Block] = []
    # The API rejects empty text blocks; an assistant turn of tool calls alone has no text.
    if message.content or not message.tool_uses:
        blocks.append({"type": "text", "text": message.content})
    for use in message.tool_uses:
        blocks.append({"type": "tool_use", "id": use.id, "name": use.name, "input": use.arguments})
    return blocks


def _count(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"token count {value!r} is not a count")
    return value
