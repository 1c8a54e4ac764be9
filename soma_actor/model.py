"""The model protocol: what an agent actor asks a language model, and what comes back.

Every provider (the deterministic :class:`~soma_actor.scripted.ScriptedModel`, the Anthropic
and OpenAI clients) speaks these provider-neutral types, so the actor's loop, its policy and
its budget never see a wire format. A provider translates a :class:`ModelRequest` into its
own API call and the answer back into a :class:`ModelResponse`; it raises
:class:`ModelError` (never an SDK exception) when the call fails.

A model call runs in a disposable worker process, so a provider needs no timeout or
cancellation logic of its own: the worker is cancelled, and an SDK built on an async HTTP
client closes the request when its task is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolUse:
    """A tool call the model asked for: ``id`` is the provider's call id, echoed back with
    the result so the model can pair them."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """One turn of the conversation.

    - ``user``: a task message (``content``), or a message from another actor.
    - ``assistant``: the model's text and the tool calls it made.
    - ``tool``: the result of one tool call (``tool_use_id`` pairs it; ``is_error`` marks a
      failed step, whose ``content`` is the reason).
    """

    role: Role
    content: str = ""
    tool_uses: tuple[ToolUse, ...] = ()
    tool_use_id: str | None = None
    is_error: bool = False


@dataclass(frozen=True)
class ToolSchema:
    """A tool as the model sees it: name, description and a JSON schema of the arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    """Everything one model call gets.

    ``guidance`` holds the vitals monitor's pending guidance for this agent; providers put it
    into the system prompt (after ``system``), so the model reads it before the conversation.
    """

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSchema, ...] = ()
    guidance: tuple[str, ...] = ()
    max_tokens: int = 1024

    def system_prompt(self) -> str:
        """``system`` followed by the guidance, as every provider renders it."""
        if not self.guidance:
            return self.system
        notes = "\n".join(f"- {line}" for line in self.guidance)
        return f"{self.system}\n\nGuidance from the runtime's monitor (act on it):\n{notes}".strip()


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, as ``llm.*`` events record them (``payloads.TokenUsage``):
    ``input_tokens`` is every input token, cache reads and writes included (Anthropic reports
    them separately; its provider adds them in); the cache counts are parts of it."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class StopReason(StrEnum):
    END = "end"  # the model finished its turn (a reply)
    TOOL_USE = "tool_use"  # the model wants tools run
    MAX_TOKENS = "max_tokens"  # cut off by the output limit
    REFUSAL = "refusal"  # the provider or model refused


@dataclass(frozen=True)
class ModelResponse:
    """A model's answer. ``cost`` is in US dollars, computed by the provider from ``usage``
    and a price table (``soma_runtime.vitals.ModelPrice``, the one the vitals use);
    ``model`` names the model that answered."""

    text: str
    tool_uses: tuple[ToolUse, ...] = ()
    stop_reason: StopReason = StopReason.END
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    model: str = ""


class ModelErrorKind(StrEnum):
    STATUS = "status"  # the provider answered with an error status
    TIMEOUT = "timeout"  # the provider did not answer in time
    CONNECTION = "connection"  # no connection, or it broke
    INVALID_RESPONSE = "invalid_response"  # an answer this provider cannot read
    CONFIGURATION = "configuration"  # e.g. no API key


class ModelError(Exception):
    """A model call failed. The actor records it on the task (``llm.failed``); it never
    crashes the actor. ``status`` is the HTTP status when there was one."""

    def __init__(self, kind: ModelErrorKind, message: str, *, status: int | None = None) -> None:
        self.kind = ModelErrorKind(kind)
        self.status = status
        self.message = message
        where = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{self.kind.value}{where}: {message}")


@runtime_checkable
class Model(Protocol):
    """A language model provider. ``provider`` (``"anthropic"``, ``"openai"``, ``"scripted"``)
    and ``name`` (the model asked for) appear on ``llm.*`` events; neither may hold a secret."""

    @property
    def provider(self) -> str: ...

    @property
    def name(self) -> str: ...

    async def complete(self, request: ModelRequest) -> ModelResponse: ...
