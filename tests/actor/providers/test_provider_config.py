"""What both providers share: where the API key comes from, that it never shows (repr, name,
errors), a missing SDK or key as a typed configuration error, bad settings, a ready SDK
client passed in, and that importing the providers needs no SDK."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
from _fake_llm import (
    FakeLLMServer,
    Reply,
    anthropic_error,
    anthropic_message,
    openai_completion,
    openai_error,
)

from soma_actor.model import Message, Model, ModelError, ModelErrorKind, ModelRequest
from soma_actor.providers import AnthropicModel, MissingApiKey, MissingSdk, OpenAIModel, ProviderConfigError
from soma_actor.providers._errors import SdkErrors, translate

HELLO = ModelRequest(system="", messages=(Message("user", "hello"),))
SECRET = "sk-SECRET-do-not-leak-31415926"


@dataclass(frozen=True)
class Provider:
    cls: type[AnthropicModel] | type[OpenAIModel]
    model: str
    env_var: str
    extra: str
    api_root: str  # the base_url path under which the SDK adds its endpoint
    answer: Callable[[], dict[str, Any]]
    unauthorized: Callable[[str], dict[str, Any]]  # a 401 body that quotes the key it got
    sdk_client: Callable[..., Any]

    def build(self, server: FakeLLMServer, **options: Any) -> AnthropicModel | OpenAIModel:
        return self.cls(self.model, base_url=server.base_url + self.api_root, **options)


PROVIDERS = [
    Provider(
        AnthropicModel,
        "claude-sonnet-4-6",
        "ANTHROPIC_API_KEY",
        "anthropic",
        "",
        lambda: anthropic_message([{"type": "text", "text": "ok"}]),
        lambda key: anthropic_error("authentication_error", f"invalid x-api-key: {key}"),
        anthropic.AsyncAnthropic,
    ),
    Provider(
        OpenAIModel,
        "gpt-4o",
        "OPENAI_API_KEY",
        "openai",
        "/v1",
        lambda: openai_completion(content="ok"),
        lambda key: openai_error(
            f"Incorrect API key provided: {key}", "invalid_request_error", "invalid_api_key"
        ),
        openai.AsyncOpenAI,
    ),
]
each_provider = pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.extra)


def bearer(server: FakeLLMServer) -> str:
    headers = server.requests[-1].headers
    return headers.get("x-api-key") or headers["authorization"].removeprefix("Bearer ")


@pytest.mark.anyio
@each_provider
async def test_the_key_comes_from_the_environment(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(provider.env_var, "key-from-the-environment")
    async with FakeLLMServer(Reply.json(provider.answer())) as server, provider.build(server) as model:
        await model.complete(HELLO)
    assert bearer(server) == "key-from-the-environment"


@pytest.mark.anyio
@each_provider
async def test_a_key_argument_wins_over_the_environment(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(provider.env_var, "key-from-the-environment")
    async with FakeLLMServer(Reply.json(provider.answer())) as server:
        model = provider.build(server, api_key="key-from-the-argument")
        async with model:
            await model.complete(HELLO)
    assert bearer(server) == "key-from-the-argument"


@each_provider
@pytest.mark.parametrize("key", [None, "", "   "])
def test_without_a_key_building_the_model_fails_naming_the_variable(
    provider: Provider, key: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(provider.env_var, raising=False)
    with pytest.raises(MissingApiKey) as caught:
        provider.cls(provider.model, api_key=key)
    assert isinstance(caught.value, ModelError)
    assert caught.value.kind is ModelErrorKind.CONFIGURATION
    assert caught.value.env_var == provider.env_var
    assert f"set {provider.env_var}" in str(caught.value)


@pytest.mark.anyio
@each_provider
async def test_the_key_never_shows_in_the_model_or_its_errors(provider: Provider) -> None:
    replies = (Reply.json(provider.answer()), Reply.error(401, provider.unauthorized(SECRET)))
    async with FakeLLMServer(*replies) as server, provider.build(server, api_key=SECRET) as model:
        response = await model.complete(HELLO)
        with pytest.raises(ModelError) as caught:
            await model.complete(HELLO)
    assert bearer(server) == SECRET  # it did reach the provider

    assert isinstance(model, Model)
    for shown in (repr(model), str(model), model.name, model.provider, repr(response)):
        assert SECRET not in shown
    error = caught.value
    assert (error.kind, error.status) == (ModelErrorKind.STATUS, 401)
    assert "[redacted]" in error.message  # the provider echoed the key; the error does not
    for shown in (str(error), repr(error), error.message, repr(vars(error))):
        assert SECRET not in shown
    # Nothing chained either: the SDK's exception holds the request, whose headers hold the key.
    assert error.__cause__ is None
    assert error.__context__ is None


@each_provider
def test_a_missing_sdk_names_the_extra_to_install(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, provider.extra, None)  # `import <sdk>` now fails
    with pytest.raises(MissingSdk) as caught:
        provider.cls(provider.model, api_key="k")
    assert caught.value.kind is ModelErrorKind.CONFIGURATION
    assert f"pip install 'soma-runtime[{provider.extra}]'" in str(caught.value)


def test_importing_the_providers_needs_no_sdk() -> None:
    script = textwrap.dedent(
        """
        import sys
        import soma_actor.providers as providers
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("anthropic", "openai"))
        assert not loaded, loaded
        sys.modules["anthropic"] = sys.modules["openai"] = None  # as if not installed
        for cls in (providers.AnthropicModel, providers.OpenAIModel):
            try:
                cls(api_key="k")
            except providers.MissingSdk as err:
                print(err)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'soma-runtime[anthropic]'" in done.stdout
    assert "pip install 'soma-runtime[openai]'" in done.stdout


@each_provider
@pytest.mark.parametrize(
    "settings",
    [
        {"model": ""},
        {"model": "  "},
        {"timeout": 0},
        {"timeout": -1.0},
        {"timeout": math.nan},
        {"timeout": math.inf},
        {"timeout": True},
        {"timeout": "60"},
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"max_retries": True},
    ],
)
def test_bad_settings_are_a_configuration_error(provider: Provider, settings: dict[str, Any]) -> None:
    options: dict[str, Any] = {"model": provider.model, "api_key": "k", **settings}
    with pytest.raises(ProviderConfigError) as caught:
        provider.cls(**options)
    assert caught.value.kind is ModelErrorKind.CONFIGURATION
    name = next(iter(settings))
    assert name in str(caught.value)


def test_openai_max_tokens_param_is_checked() -> None:
    with pytest.raises(ProviderConfigError, match="max_tokens_param"):
        OpenAIModel(api_key="k", max_tokens_param="max_output_tokens")  # type: ignore[arg-type]


@pytest.mark.anyio
@each_provider
async def test_a_ready_sdk_client_gets_the_models_timeout_and_retries(provider: Provider) -> None:
    async with FakeLLMServer(Reply.error(500, provider.unauthorized(SECRET)), Reply.stalled()) as server:
        # The client's own settings would retry twice and wait ten minutes.
        client = provider.sdk_client(
            api_key=SECRET, base_url=server.base_url + provider.api_root, timeout=600.0, max_retries=2
        )
        model = provider.cls(provider.model, client=client, timeout=0.2, max_retries=0)
        with pytest.raises(ModelError) as status:
            await model.complete(HELLO)
        with pytest.raises(ModelError) as timeout:
            await model.complete(HELLO)
        await model.aclose()
        assert not client.is_closed()  # the caller's client is the caller's to close
        await client.close()
    assert (status.value.kind, status.value.status, len(server.requests)) == (ModelErrorKind.STATUS, 500, 2)
    assert SECRET not in str(status.value)  # the client's own key is scrubbed too
    assert timeout.value.kind is ModelErrorKind.TIMEOUT


@pytest.mark.anyio
@each_provider
async def test_a_client_and_a_key_together_are_refused(provider: Provider) -> None:
    client = provider.sdk_client(api_key="k", base_url="http://127.0.0.1:9")
    with pytest.raises(ProviderConfigError, match="either client= or api_key="):
        provider.cls(provider.model, client=client, api_key="k")
    await client.close()


@pytest.mark.anyio
@each_provider
async def test_a_tool_result_without_its_call_id_is_refused(provider: Provider) -> None:
    async with FakeLLMServer() as server, provider.build(server, api_key="k") as model:
        orphan = ModelRequest(system="", messages=(Message("user", "go"), Message("tool", "result")))
        with pytest.raises(ValueError, match="tool_use_id"):
            await model.complete(orphan)
    assert server.requests == []  # refused before anything was sent


def test_sdk_failures_before_any_request_are_configuration_errors_and_bugs_pass_through() -> None:
    errors = SdkErrors(
        timeout=anthropic.APITimeoutError,
        connection=anthropic.APIConnectionError,
        status=anthropic.APIStatusError,
        validation=anthropic.APIResponseValidationError,
        api=anthropic.APIError,
        base=anthropic.AnthropicError,
    )
    failure = translate(
        anthropic.CredentialsError(f"no profile for {SECRET}"),
        errors,
        provider="anthropic",
        timeout=1.0,
        secrets=(SECRET,),
    )
    assert failure is not None
    assert failure.kind is ModelErrorKind.CONFIGURATION
    assert "no profile for [redacted]" in failure.message
    assert translate(KeyError("x"), errors, provider="anthropic", timeout=1.0, secrets=()) is None
