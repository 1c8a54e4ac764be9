"""The live-model examples, run as users run them: without a key they say so and exit 1;
with one (pointed at the loopback fake through the SDKs' own base-URL variables) an agent
reads this repository's Makefile through a real run and answers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from _fake_llm import FakeLLMServer, Reply, anthropic_message, openai_completion, openai_tool_call

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def keyless_env() -> dict[str, str]:
    drop = ("ANTHROPIC_", "OPENAI_", "SOMA_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


async def run_example(name: str, env: dict[str, str]) -> tuple[int, str, str]:
    done = await anyio.run_process([sys.executable, str(EXAMPLES / name)], env=env, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.parametrize(
    ("name", "variable"), [("agent_anthropic.py", "ANTHROPIC"), ("agent_openai.py", "OPENAI")]
)
async def test_without_a_key_the_examples_say_so_and_exit_non_zero(name: str, variable: str) -> None:
    code, out, err = await run_example(name, keyless_env())
    assert (code, out) == (1, "")
    assert f"set {variable}_API_KEY" in err and "Nothing was run." in err


async def test_the_openai_example_runs_an_agent_through_the_real_sdk() -> None:
    replies = [
        Reply.json(
            openai_completion(
                tool_calls=[openai_tool_call("call_1", "file_read", json.dumps({"path": "Makefile"}))],
                finish_reason="tool_calls",
                model="gpt-4.1-mini",
            )
        ),
        Reply.json(openai_completion(content="install, run, test, lint, bench", model="gpt-4.1-mini")),
    ]
    async with FakeLLMServer(*replies) as server:
        env = {
            **keyless_env(),
            "OPENAI_API_KEY": "sk-test-secret",
            "OPENAI_BASE_URL": server.base_url + "/v1",
        }
        code, out, err = await run_example("agent_openai.py", env)
    assert code == 0, err
    assert "install, run, test, lint, bench" in out and "2 model calls" in out
    tool_message = server.requests[1].body["messages"][-1]
    assert tool_message["role"] == "tool" and "make" in tool_message["content"].lower()
    assert "sk-test-secret" not in out + err


async def test_the_anthropic_example_runs_an_agent_through_the_real_sdk() -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "file_read", "input": {"path": "Makefile"}}
    replies = [
        Reply.json(anthropic_message([use], stop_reason="tool_use")),
        Reply.json(anthropic_message([{"type": "text", "text": "install, run, test, lint, bench"}])),
    ]
    async with FakeLLMServer(*replies) as server:
        env = {
            **keyless_env(),
            "ANTHROPIC_API_KEY": "sk-ant-test-secret",
            "ANTHROPIC_BASE_URL": server.base_url,
        }
        code, out, err = await run_example("agent_anthropic.py", env)
    assert code == 0, err
    assert "install, run, test, lint, bench" in out and "2 model calls" in out
    result = server.requests[1].body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_1"
