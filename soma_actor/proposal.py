"""Proposals: what a model's answer asks the actor to do, and the checks before it is done.

A model never acts. Its answer is read as exactly one proposal —

- ``Reply``: text and no tool calls — the task's answer;
- ``RunSteps``: tool calls — become the ``Step``\\ s of one run;
- ``MessageActor``: the ``message_actor`` tool — delegate to another actor, wait for its reply;
- ``Reject``: the ``reject_task`` tool (or a provider refusal) — the agent declines the task;

— and every proposal passes normalization (known tools, valid arguments: the runtime's own
plan validation), then the actor's policy, then its budget, before anything runs. A proposal
that fails normalization is the model's mistake and goes back to it as tool errors (its
budget bounds the retries); one that fails policy or budget ends the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

from soma_runtime import InvalidRun, Step, ToolSpec
from soma_runtime.execution.steps import validate_plan

from .model import ModelResponse, StopReason, ToolSchema, ToolUse

MESSAGE_ACTOR = "message_actor"
REJECT_TASK = "reject_task"

MESSAGE_ACTOR_SCHEMA = ToolSchema(
    MESSAGE_ACTOR,
    "Send a message to another agent and wait for its reply (delegation).",
    {
        "type": "object",
        "properties": {
            "actor_id": {"type": "string", "description": "the agent to ask"},
            "message": {"type": "string", "description": "what to ask it"},
        },
        "required": ["actor_id", "message"],
    },
)
REJECT_TASK_SCHEMA = ToolSchema(
    REJECT_TASK,
    "Decline the task (say why) instead of answering it.",
    {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
)
ACTOR_TOOLS = frozenset({MESSAGE_ACTOR, REJECT_TASK})


@dataclass(frozen=True, slots=True)
class Reply:
    text: str


@dataclass(frozen=True, slots=True)
class RunSteps:
    steps: tuple[Step, ...]
    text: str = ""


@dataclass(frozen=True, slots=True)
class MessageActor:
    actor_id: str
    message: str
    tool_use_id: str


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str


Proposal: TypeAlias = Reply | RunSteps | MessageActor | Reject


class InvalidProposal(Exception):
    """The model's answer cannot be carried out as it stands (normalization failed)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def read_proposal(response: ModelResponse) -> Proposal:
    """The one proposal in ``response``; :class:`InvalidProposal` if it holds none or mixes kinds."""
    uses = response.tool_uses
    if not uses:
        if response.stop_reason is StopReason.REFUSAL:
            return Reject(response.text or "the model refused")
        return Reply(response.text)
    actor_uses = [u for u in uses if u.name in ACTOR_TOOLS]
    if not actor_uses:
        return RunSteps(tuple(Step(u.id, u.name, dict(u.arguments)) for u in uses), response.text)
    if len(uses) > 1:
        names = ", ".join(u.name for u in uses)
        raise InvalidProposal(
            f"{actor_uses[0].name} must be the only tool call of its turn (this turn called: {names})"
        )
    use = actor_uses[0]
    if use.name == REJECT_TASK:
        return Reject(_text_argument(use, "reason"))
    return MessageActor(_text_argument(use, "actor_id"), _text_argument(use, "message"), use.id)


def normalize(proposal: Proposal, tools: Mapping[str, ToolSpec]) -> None:
    """Known tools and valid arguments (the runtime's own plan checks); raises InvalidProposal."""
    if isinstance(proposal, RunSteps):
        try:
            validate_plan(proposal.steps, tools, None)
        except InvalidRun as e:
            raise InvalidProposal(str(e)) from e


def tool_schemas(specs: Sequence[ToolSpec]) -> tuple[ToolSchema, ...]:
    """Tools as a model sees them (the argument models' JSON schemas)."""
    return tuple(map(_tool_schema, specs))


@lru_cache(maxsize=1024)
def _tool_schema(spec: ToolSpec) -> ToolSchema:
    # Every model call offers the tools again, and pydantic builds a JSON schema slowly; a
    # spec is immutable (and hashes by identity), so its schema is built once.
    return ToolSchema(spec.name, spec.description or spec.name, spec.args_model.model_json_schema())


def describe(proposal: Proposal) -> dict[str, Any]:
    """A proposal as event payload."""
    match proposal:
        case Reply(text=text):
            return {"kind": "reply", "text": text}
        case RunSteps(steps=steps):
            return {"kind": "run_steps", "steps": [s.to_json() for s in steps]}
        case MessageActor(actor_id=to, message=message):
            return {"kind": "message_actor", "to_actor": to, "message": message}
        case Reject(reason=reason):
            return {"kind": "reject", "reason": reason}


def _text_argument(use: ToolUse, name: str) -> str:
    value = use.arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidProposal(f"{use.name} needs a non-empty string argument {name!r}, got {value!r}")
    return value
