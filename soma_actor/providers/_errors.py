"""SDK failures as :class:`~soma_actor.model.ModelError`, written once for both providers.

The Anthropic and OpenAI SDKs share one exception shape (a status error carrying the HTTP
status and the decoded error body, a timeout error that is a connection error, a response
validation error, a base class for the rest), so one translation serves both; each provider
names its SDK's classes in an :class:`SdkErrors`.

A translated message never holds the API key: it is built from the status, the provider's
error type and message and the request id — never from the SDK exception itself, whose
request carries the key in its headers — and any echo of the key (a 401 body may quote it)
is scrubbed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from soma_actor.model import ModelError, ModelErrorKind

_MAX_DETAIL = 500  # an error body can be a proxy's whole HTML page; the event needs the gist
_REDACTED = "[redacted]"


class ProviderConfigError(ModelError):
    """A provider cannot be built as configured (kind ``configuration``)."""

    def __init__(self, message: str) -> None:
        super().__init__(ModelErrorKind.CONFIGURATION, message)


class MissingApiKey(ProviderConfigError):
    """No API key was passed and the provider's environment variable is unset or empty."""

    def __init__(self, provider: str, env_var: str) -> None:
        self.env_var = env_var
        super().__init__(f"no {provider} API key: set {env_var} or pass api_key=")


class MissingSdk(ProviderConfigError):
    """The provider's official SDK is not installed (it is an optional extra of soma)."""

    def __init__(self, provider: str, module: str) -> None:
        self.module = module
        super().__init__(
            f"the {provider} provider needs the {module!r} SDK, which is not installed: "
            f"pip install 'soma-runtime[{module}]'"
        )


@dataclass(frozen=True)
class SdkErrors:
    """One SDK's exception classes, most specific first in the order they are checked."""

    timeout: type[Exception]  # a subclass of ``connection``
    connection: type[Exception]
    status: type[Exception]  # has ``status_code``, ``body`` and ``request_id``
    validation: type[Exception]  # the answer does not match the API's schema
    api: type[Exception]  # any other failure of a request
    base: type[Exception]  # the SDK's root: failures before any request (e.g. credentials)


def translate(
    err: Exception, errors: SdkErrors, *, provider: str, timeout: float, secrets: Iterable[str]
) -> ModelError | None:
    """``err`` as a ModelError, or None when it is not an SDK failure (a bug to let through)."""
    status: int | None = None
    if isinstance(err, errors.timeout):
        kind, message = ModelErrorKind.TIMEOUT, f"{provider} gave no answer within {timeout:g} s"
    elif isinstance(err, errors.connection):
        cause = f": {err.__cause__}" if err.__cause__ is not None else ""
        kind, message = ModelErrorKind.CONNECTION, f"cannot reach {provider}{cause}"
    elif isinstance(err, errors.status):
        status = int(getattr(err, "status_code", 0)) or None
        detail = _detail(getattr(err, "body", None)) or "no error detail"
        request_id = getattr(err, "request_id", None)
        where = f" (request id {request_id})" if request_id else ""
        kind, message = ModelErrorKind.STATUS, f"{provider} refused the call: {detail}{where}"
    elif isinstance(err, errors.validation):
        kind, message = ModelErrorKind.INVALID_RESPONSE, f"{provider} answer does not match its API: {err}"
    elif isinstance(err, json.JSONDecodeError):
        # The SDK decodes a body labelled JSON without catching this: the answer is unreadable.
        kind, message = ModelErrorKind.INVALID_RESPONSE, f"{provider} answer is not valid JSON: {err}"
    elif isinstance(err, errors.api):
        kind, message = ModelErrorKind.INVALID_RESPONSE, f"{provider} call failed: {err}"
    elif isinstance(err, errors.base):
        kind, message = ModelErrorKind.CONFIGURATION, f"{provider} client: {err}"
    else:
        return None
    return ModelError(kind, _clip(scrub(message, secrets)), status=status)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets`` in it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


def _detail(body: Any) -> str:
    """``type: message`` from a provider's error JSON. Anthropic sends
    ``{"type": "error", "error": {"type", "message"}}``; the OpenAI SDK hands over the inner
    ``{"message", "type", "code"}`` object; a proxy may send plain text."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict):
        kind = body.get("type") or body.get("code")
        message = body.get("message")
        parts = [str(part) for part in (kind, message) if part]
        return ": ".join(parts) if parts else json.dumps(body, default=str)
    return str(body).strip() if body else ""


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
