"""Proposals: reading a model's answer as exactly one proposal, and normalization."""

from __future__ import annotations

import pytest

from soma_actor.model import ModelResponse, StopReason, ToolUse
from soma_actor.proposal import (
    InvalidProposal,
    MessageActor,
    Reject,
    Reply,
    RunSteps,
    normalize,
    read_proposal,
    tool_schemas,
)
from soma_runtime import Step
from soma_runtime.tools.builtin import BUILTIN_TOOLS

TOOLS = {spec.name: spec for spec in BUILTIN_TOOLS}


def use(name: str, **args: object) -> ToolUse:
    return ToolUse(f"id-{name}", name, dict(args))


def test_text_without_tool_calls_is_a_reply() -> None:
    assert read_proposal(ModelResponse("the answer")) == Reply("the answer")


def test_a_refusal_is_a_rejection() -> None:
    assert read_proposal(ModelResponse("", stop_reason=StopReason.REFUSAL)) == Reject("the model refused")


def test_tool_calls_become_steps_in_order_with_the_call_ids() -> None:
    response = ModelResponse("let me look", (use("echo", value=1), use("text_head", path="a", lines=2)))
    proposal = read_proposal(response)
    assert proposal == RunSteps(
        (Step("id-echo", "echo", {"value": 1}), Step("id-text_head", "text_head", {"path": "a", "lines": 2})),
        "let me look",
    )


def test_the_actor_tools_are_delegation_and_rejection() -> None:
    assert read_proposal(
        ModelResponse("", (use("message_actor", actor_id="b", message="hi"),))
    ) == MessageActor("b", "hi", "id-message_actor")
    assert read_proposal(ModelResponse("", (use("reject_task", reason="no"),))) == Reject("no")


@pytest.mark.parametrize(
    ("uses", "words"),
    [
        ((use("message_actor", actor_id="b", message="x"), use("echo", value=1)), "only tool call"),
        ((use("message_actor", actor_id="", message="x"),), "'actor_id'"),
        ((use("message_actor", actor_id="b"),), "'message'"),
        ((use("reject_task"),), "'reason'"),
    ],
)
def test_malformed_actor_tool_calls_are_invalid(uses: tuple[ToolUse, ...], words: str) -> None:
    with pytest.raises(InvalidProposal, match=words):
        read_proposal(ModelResponse("", uses))


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ((Step("a", "nope"),), "unknown tool 'nope'"),
        ((Step("a", "echo", {}),), "value"),
        ((Step("a", "echo", {"value": 1}), Step("a", "echo", {"value": 2})), "duplicate step id"),
    ],
)
def test_normalization_uses_the_runtimes_plan_checks(steps: tuple[Step, ...], words: str) -> None:
    with pytest.raises(InvalidProposal, match=words):
        normalize(RunSteps(steps), TOOLS)
    normalize(RunSteps((Step("a", "echo", {"value": 1}),)), TOOLS)  # a valid one passes
    normalize(Reply("text"), TOOLS)


def test_tools_are_offered_with_their_json_schemas() -> None:
    [schema] = tool_schemas([TOOLS["text_head"]])
    assert schema.name == "text_head" and schema.description
    assert schema.parameters["type"] == "object" and set(schema.parameters["properties"]) >= {"path", "lines"}
