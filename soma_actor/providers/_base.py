"""What the SDK-backed providers share: settings, the API key, the guarded call, reading
tool calls and stop reasons, and pricing. Each provider adds only its wire format."""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from soma_actor.model import (
    ModelError,
    ModelErrorKind,
    ModelRequest,
    ModelResponse,
    StopReason,
    ToolUse,
    Usage,
)
from soma_runtime.store._redaction import MIN_SECRET_LENGTH
from soma_runtime.vitals.config import DEFAULT_PRICES, ModelPrice, price_for

from ._errors import MissingApiKey, ProviderConfigError, SdkErrors, scrub, translate

WireRequest = TypeVar("WireRequest")
WireResponse = TypeVar("WireResponse")

# Exceptions that reading a malformed answer raises: the SDKs build response objects without
# validation (so new API fields and enum values do not break old clients), which leaves a
# missing field as None and a wrong type in place — found only when the field is used.
_UNREADABLE = (AttributeError, TypeError, KeyError, IndexError, ValueError)


class SdkModel(ABC, Generic[WireRequest, WireResponse]):
    """A :class:`~soma_actor.model.Model` on an official SDK's async client.

    ``timeout`` (seconds) and ``max_retries`` apply to every call, also on a client passed in.
    Retries default to none: the actor decides whether a failed call is tried again. A model
    call is cancelled by cancelling its task; the SDK then closes the HTTP request.
    """

    provider: ClassVar[str]
    _env_var: ClassVar[str]
    _errors: SdkErrors  # the SDK's exception classes, set by the provider once it imported its SDK

    def __init__(
        self, model: str, *, timeout: float, max_retries: int, prices: Mapping[str, ModelPrice] | None
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ProviderConfigError(f"model must be a non-empty model name, got {model!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout):
            raise ProviderConfigError(f"timeout must be a number of seconds, got {timeout!r}")
        if timeout <= 0:
            raise ProviderConfigError(f"timeout must be positive, got {timeout!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ProviderConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self._name = model
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._prices: Mapping[str, ModelPrice] = DEFAULT_PRICES if prices is None else prices
        self._secrets: tuple[str, ...] = ()  # only to scrub them from error messages; never shown

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self._name!r})"

    def _resolve_key(self, api_key: str | None, client: object, base_url: str | None) -> str | None:
        """The key to build a client with: the argument, else the environment variable. With
        a ``client`` passed in there is none to resolve (the client brings its own)."""
        if client is not None:
            if api_key is not None or base_url is not None:
                raise ProviderConfigError("pass either client= or api_key=/base_url=, not both")
            # Whatever credential the client holds is scrubbed from errors like a key of our own.
            held = (getattr(client, name, None) for name in ("api_key", "auth_token"))
            self._secrets = tuple(value for value in held if isinstance(value, str) and value)
            _keep_out_of_events(self._secrets)
            return None
        key = api_key if api_key is not None else os.environ.get(self._env_var)
        if not isinstance(key, str) or not key.strip():
            raise MissingApiKey(self.provider, self._env_var)
        self._secrets = (key,)
        _keep_out_of_events(self._secrets)
        return key

    def _bind(
        self,
        sdk: Any,
        client_class: Any,
        base_error: type[Exception],
        api_key: str | None,
        base_url: str | None,
        client: Any,
    ) -> Any:
        """Take the imported ``sdk``'s error classes, then build its async client (or set our
        timeout and retries on the one passed in). Both SDKs name these alike, except for
        their ``base_error``."""
        self._omit = sdk.omit
        self._errors = SdkErrors(
            timeout=sdk.APITimeoutError,
            connection=sdk.APIConnectionError,
            status=sdk.APIStatusError,
            validation=sdk.APIResponseValidationError,
            api=sdk.APIError,
            base=base_error,
        )
        key = self._resolve_key(api_key, client, base_url)
        self._owns_client = client is None
        if client is None:
            return client_class(
                api_key=key, base_url=base_url, timeout=self._timeout, max_retries=self._max_retries
            )
        return client.with_options(timeout=self._timeout, max_retries=self._max_retries)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        wire = self._encode(request)
        try:
            answer = await self._send(wire)
        except Exception as err:
            mapped = translate(
                err, self._errors, provider=self.provider, timeout=self._timeout, secrets=self._secrets
            )
            if mapped is None:
                raise
            failure = mapped
        else:
            return self._read(answer)
        # Raised outside the handler so the SDK exception is not kept as its __context__: that
        # exception holds the request, and the request's headers hold the API key.
        raise failure

    def _read(self, answer: WireResponse) -> ModelResponse:
        if isinstance(answer, str):
            # What the SDKs hand back when the body is not JSON at all (e.g. a proxy's HTML page).
            raise ModelError(
                ModelErrorKind.INVALID_RESPONSE,
                scrub(f"{self.provider} answer is not JSON: {_clip(answer)}", self._secrets),
            )
        try:
            return self._decode(answer)
        except _UNREADABLE as err:
            message = scrub(
                f"{self.provider} answer cannot be read: {type(err).__name__}: {err}", self._secrets
            )
            raise ModelError(ModelErrorKind.INVALID_RESPONSE, message) from err

    @abstractmethod
    def _encode(self, request: ModelRequest) -> WireRequest:
        """The request in the provider's wire format."""

    @abstractmethod
    async def _send(self, wire: WireRequest) -> WireResponse:
        """One call through the SDK client."""

    @abstractmethod
    def _decode(self, answer: WireResponse) -> ModelResponse:
        """The SDK's answer as a ModelResponse (may raise any of ``_UNREADABLE``)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the SDK client's connections (only a client this provider built itself)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _response(
        self, text: str, tool_uses: list[ToolUse], stop: StopReason, usage: Usage, model: str | None
    ) -> ModelResponse:
        answered = model or self._name
        price = price_for(answered, self._prices) or price_for(self._name, self._prices)
        cost = (
            price.cost(
                usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens
            )
            if price is not None
            else 0.0
        )
        return ModelResponse(
            text=text,
            tool_uses=tuple(tool_uses),
            stop_reason=self._settle(stop, tool_uses),
            usage=usage,
            cost=cost,
            model=answered,
        )

    def _settle(self, stop: StopReason, tool_uses: list[ToolUse]) -> StopReason:
        if tool_uses and stop is StopReason.END:
            # Some OpenAI-compatible servers report "stop" on a turn that calls tools; the calls
            # are what the actor must act on.
            return StopReason.TOOL_USE
        if stop is StopReason.TOOL_USE and not tool_uses:
            raise ModelError(
                ModelErrorKind.INVALID_RESPONSE, f"{self.provider} stopped for tool use but called no tool"
            )
        return stop

    def _arguments(self, tool: str, value: object) -> dict[str, Any]:
        """A tool call's arguments, which must be a JSON object."""
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            raise ModelError(
                ModelErrorKind.INVALID_RESPONSE,
                f"{self.provider}: the model called tool {tool!r} with arguments that are not a JSON object: "
                f"{_clip(repr(value))}",
            )
        return value

    def _json_arguments(self, tool: str, raw: str) -> dict[str, Any]:
        """A tool call's arguments sent as JSON text (as the model wrote it: it may be malformed)."""
        if not raw.strip():
            return {}  # some compatible servers send "" for a call without arguments
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ModelError(
                ModelErrorKind.INVALID_RESPONSE,
                f"{self.provider}: the model called tool {tool!r} with arguments that are not valid JSON "
                f"({err.msg} at position {err.pos}): {_clip(raw)}",
            ) from None
        return self._arguments(tool, value)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _keep_out_of_events(keys: tuple[str, ...]) -> None:
    """A provider's key never enters an event, wherever it would appear (registered for the
    life of the process: a model may outlive any one runtime)."""
    from soma_runtime.store import register_secrets

    register_secrets([k for k in keys if len(k) >= MIN_SECRET_LENGTH])
