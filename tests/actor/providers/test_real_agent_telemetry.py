"""A real provider (the official Anthropic SDK, against the loopback fake) started with the
testing helper, through the plugin's fixture and marker, and exported as telemetry: the
``chat`` span carries what the API answered — model, finish reason, token usage with the
prompt cache — under the GenAI conventions' names."""

from __future__ import annotations

import pytest
from _fake_llm import FakeLLMServer, Reply, anthropic_message
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from soma_actor.providers import AnthropicModel
from soma_actor.testing import assert_pressure_below, start_agent
from soma_runtime import Runtime
from soma_runtime.telemetry import TelemetryConfig

KEY = "sk-test-0123456789abcdef"
EXPORTER = InMemorySpanExporter()


@pytest.fixture
def soma_runtime_options() -> dict[str, object]:
    return {"telemetry": TelemetryConfig(exporter=EXPORTER, metrics=False)}


@pytest.mark.soma(max_pressure=0.5)
async def test_a_real_agent_on_the_fixture_is_gated_and_traced(soma_runtime: Runtime) -> None:
    answer = anthropic_message(
        [{"type": "text", "text": "four"}],
        model="claude-sonnet-4-6-20260101",
        input_tokens=1200,
        output_tokens=12,
        cache_read_input_tokens=800,
        cache_creation_input_tokens=100,
    )
    async with (
        FakeLLMServer(Reply.json(answer)) as server,
        AnthropicModel("claude-sonnet-4-6", api_key=KEY, base_url=server.base_url) as claude,
    ):
        agent = await start_agent(soma_runtime, "real", claude, tools=())
        assert await agent.ask("2+2?") == "four"
    await assert_pressure_below(soma_runtime, "real", 0.5)
    assert soma_runtime.telemetry is not None
    await soma_runtime.telemetry.flush()
    [chat] = [s for s in EXPORTER.get_finished_spans() if s.name == "chat claude-sonnet-4-6"]
    attributes = dict(chat.attributes or {})
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.request.model"] == "claude-sonnet-4-6"
    assert attributes["gen_ai.response.model"] == "claude-sonnet-4-6-20260101"
    assert attributes["gen_ai.response.finish_reasons"] == ("end",)
    # Input counts every input token, the cached ones included (as the convention asks).
    assert attributes["gen_ai.usage.input_tokens"] == 1200 + 800 + 100
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 800
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 100
    assert attributes["gen_ai.usage.output_tokens"] == 12
    assert attributes["soma.cost_usd"] > 0
    assert KEY not in str([s.to_json() for s in EXPORTER.get_finished_spans()])
