"""OpenAI's Chat Completions API through the official SDK's async client (``openai.AsyncOpenAI``),
against OpenAI or any OpenAI-compatible endpoint (``base_url``).

The SDK is imported when a model is built, not with this module, so ``soma_actor`` imports
without it (it is the ``soma-runtime[openai]`` extra).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from soma_actor.model import Message, ModelRequest, ModelResponse, StopReason, ToolUse, Usage
from soma_runtime.vitals.config import ModelPrice

from ._base import SdkModel
from ._errors import MissingSdk, ProviderConfigError

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionAssistantMessageParam,
        ChatCompletionFunctionToolParam,
        ChatCompletionMessageParam,
    )

MaxTokensParam = Literal["max_completion_tokens", "max_tokens"]

_FINISH_REASONS = {
    "stop": StopReason.END,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "length": StopReason.MAX_TOKENS,
    "content_filter": StopReason.REFUSAL,
}
# Any other reason (compatible servers have their own, e.g. "eos") reads as END — or
# TOOL_USE when the turn calls tools.

# Chat Completions has no error flag on a tool result, so a failed step says so in its text.
TOOL_ERROR_PREFIX = "Error: "


@dataclass(frozen=True)
class _Call:
    messages: list[ChatCompletionMessageParam]
    tools: list[ChatCompletionFunctionToolParam]
    max_tokens: int


class OpenAIModel(SdkModel["_Call", "ChatCompletion"]):
    """A model behind the Chat Completions API: OpenAI's, or any compatible server's.

    Arguments:

    - ``model``: the model name (default ``gpt-4.1``); its price is looked up in ``prices`` by
      the longest matching prefix.
    - ``api_key``: the key; default ``OPENAI_API_KEY``. Without either, building the model
      raises :class:`~soma_actor.providers.MissingApiKey` (a local server that checks no key
      still needs one set: any placeholder).
    - ``base_url``: the endpoint's API root, e.g. ``http://localhost:8000/v1``; default the
      SDK's (``OPENAI_BASE_URL``, else OpenAI's API).
    - ``timeout``: seconds per call (default 60); ``max_retries``: the SDK's retries
      (default 0: the actor decides whether to try again).
    - ``prices``: USD per million tokens by model-name prefix (default ``DEFAULT_PRICES``,
      the table the vitals use).
    - ``client``: a ready ``AsyncOpenAI`` to use instead (then neither ``api_key`` nor
      ``base_url``).
    - ``max_tokens_param``: how the output limit is named on the wire: OpenAI's current
      ``max_completion_tokens`` (required by its reasoning models), or the older
      ``max_tokens`` for compatible servers that know only that.

    The system prompt is the actor's, not the model's: ``start_actor(..., system="…")``
    (``ActorOptions.system``); each call sends it first, followed by any pending guidance.

    Usage: ``prompt_tokens`` already includes the cached part (``cached_tokens``), which is
    recorded as the cache reads. A failed tool step reaches the model as its text prefixed
    with ``TOOL_ERROR_PREFIX`` (Chat Completions has no error flag on a tool result).

    The client holds a connection pool: ``await model.aclose()`` (or ``async with model``)
    when done with it.
    """

    provider = "openai"
    _env_var = "OPENAI_API_KEY"

    def __init__(
        self,
        model: str = "gpt-4.1",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 0,
        prices: Mapping[str, ModelPrice] | None = None,
        client: AsyncOpenAI | None = None,
        max_tokens_param: MaxTokensParam = "max_completion_tokens",
    ) -> None:
        super().__init__(model, timeout=timeout, max_retries=max_retries, prices=prices)
        if max_tokens_param not in ("max_completion_tokens", "max_tokens"):
            raise ProviderConfigError(
                f"max_tokens_param must be 'max_completion_tokens' or 'max_tokens', got {max_tokens_param!r}"
            )
        self._max_tokens_param: MaxTokensParam = max_tokens_param
        try:
            import openai
        except ImportError:
            raise MissingSdk(self.provider, "openai") from None
        self._client: AsyncOpenAI = self._bind(
            openai, openai.AsyncOpenAI, openai.OpenAIError, api_key, base_url, client
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    def _encode(self, request: ModelRequest) -> _Call:
        messages: list[ChatCompletionMessageParam] = []
        system = request.system_prompt()
        if system:
            messages.append({"role": "system", "content": system})
        messages.extend(_message(message) for message in request.messages)
        tools: list[ChatCompletionFunctionToolParam] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
        return _Call(messages, tools, request.max_tokens)

    async def _send(self, wire: _Call) -> ChatCompletion:
        omit = self._omit  # OpenAI rejects an empty tool list: none is sent without tools
        limit = wire.max_tokens
        return await self._client.chat.completions.create(
            model=self._name,
            messages=wire.messages,
            tools=wire.tools or omit,
            max_completion_tokens=limit if self._max_tokens_param == "max_completion_tokens" else omit,
            max_tokens=limit if self._max_tokens_param == "max_tokens" else omit,
        )

    def _decode(self, answer: ChatCompletion) -> ModelResponse:
        if not answer.choices:
            raise ValueError("the answer has no choices")
        choice = answer.choices[0]
        message = choice.message
        tool_uses: list[ToolUse] = []
        for call in message.tool_calls or ():
            if call.type != "function":
                raise ValueError(f"a tool call of type {call.type!r} (only function tools are offered)")
            function = call.function
            tool_uses.append(
                ToolUse(call.id, function.name, self._json_arguments(function.name, function.arguments))
            )
        text = message.content or ""
        stop = _FINISH_REASONS.get(choice.finish_reason or "", StopReason.END)
        if message.refusal:
            text, stop = text or message.refusal, StopReason.REFUSAL
        return self._response(text, tool_uses, stop, _usage(answer), answer.model)


def _message(message: Message) -> ChatCompletionMessageParam:
    if message.role == "user":
        return {"role": "user", "content": message.content}
    if message.role == "tool":
        if not message.tool_use_id:
            raise ValueError("a tool message needs the tool_use_id of the call it answers")
        content = TOOL_ERROR_PREFIX + message.content if message.is_error else message.content
        return {"role": "tool", "tool_call_id": message.tool_use_id, "content": content}
    assistant: ChatCompletionAssistantMessageParam = {
        "role": "assistant",
        # Content may be null on a turn of tool calls alone; an empty list of calls is rejected.
        "content": message.content if message.content or not message.tool_uses else None,
    }
    if message.tool_uses:
        assistant["tool_calls"] = [
            {
                "id": use.id,
                "type": "function",
                "function": {"name": use.name, "arguments": json.dumps(use.arguments)},
            }
            for use in message.tool_uses
        ]
    return assistant


def _usage(answer: ChatCompletion) -> Usage:
    usage = answer.usage
    if usage is None:
        return Usage()  # some compatible servers report none: nothing to count or charge
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens if details is not None else None) or 0
    for count in (usage.prompt_tokens, usage.completion_tokens, cached):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"token count {count!r} is not a count")
    return Usage(
        input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens, cache_read_tokens=cached
    )
