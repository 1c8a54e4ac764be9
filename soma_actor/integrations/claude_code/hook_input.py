"""A Claude Code hook's stdin: one JSON object, read into :class:`HookInput`.

The fields Soma reads (Claude Code's hooks reference; the common ones come with every event):

=====================  ==========================================================================
field                  events
=====================  ==========================================================================
``hook_event_name``    all: ``SessionStart``, ``UserPromptSubmit``, ``PreToolUse``,
                       ``PostToolUse``, ``PostToolUseFailure``, ``Stop``, ``SubagentStart``,
                       ``SubagentStop``, ``SessionEnd`` (others are recorded as unknown)
``session_id``         all: the Claude Code session
``transcript_path``    all: the session's transcript (recorded with the session's start)
``cwd``                all: the working directory (where a ``>`` redirection would write)
``agent_id``           inside a subagent: which one (absent on the main thread)
``agent_type``         inside a subagent (``general-purpose``…), or a ``--agent`` session
``tool_name``          ``PreToolUse``, ``PostToolUse``, ``PostToolUseFailure``
``tool_input``         the same: the tool's arguments (``Bash``: ``command``; ``Edit``: ``file_path``…)
``tool_use_id``        the same: the call, which pairs a start with its end
``tool_response``      ``PostToolUse``: what the tool returned
``error``              ``PostToolUseFailure``: why it failed; ``is_interrupt``: the user stopped it
``prompt``             ``UserPromptSubmit``; ``prompt_id`` (newer versions) names the turn
``source``, ``model``  ``SessionStart`` (``startup``, ``resume``, ``clear``, ``compact``)
``last_assistant_message``  ``Stop``, ``SubagentStop``: the reply that ended the turn
``reason``             ``SessionEnd``
=====================  ==========================================================================
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .._wire import clean

if TYPE_CHECKING:
    from typing import Any

EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "Stop",
    "SubagentStart",
    "SubagentStop",
    "SessionEnd",
)
"""The events Soma records, in the order a session meets them (``soma init`` hooks each)."""
TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure"})


class BadHookInput(ValueError):
    """Stdin that is not a hook event Soma can record. ``kind``: ``malformed`` (not a JSON
    object with a session) or ``unknown_event``."""

    def __init__(self, kind: str, problem: str, event: str | None = None) -> None:
        super().__init__(problem)
        self.kind = kind
        self.problem = problem
        self.event = event


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


class HookInput:
    """One hook event, its fields checked (see the module docstring)."""

    __slots__ = (
        "agent_type",
        "cwd",
        "data",
        "error",
        "event",
        "is_interrupt",
        "last_message",
        "model",
        "prompt",
        "prompt_id",
        "reason",
        "session_id",
        "source",
        "subagent",
        "tool_input",
        "tool_name",
        "tool_response",
        "tool_use_id",
        "transcript_path",
    )

    def __init__(self, data: dict[str, Any]) -> None:
        event = _text(data, "hook_event_name")
        if event is None:
            raise BadHookInput("malformed", "no hook_event_name (a string) in the hook's input")
        session_id = _text(data, "session_id")
        if session_id is None:
            raise BadHookInput("malformed", f"a {event} event without a session_id", event)
        if event not in EVENTS:
            raise BadHookInput("unknown_event", f"Soma does not record {event!r} events", event)
        self.data = data
        self.event = event
        self.session_id = session_id
        self.subagent = _text(data, "agent_id")
        self.agent_type = _text(data, "agent_type")
        self.transcript_path = _text(data, "transcript_path")
        self.cwd = _text(data, "cwd")
        self.tool_name = _text(data, "tool_name")
        tool_input = data.get("tool_input")
        self.tool_input: dict[str, Any] = tool_input if isinstance(tool_input, dict) else {}
        self.tool_use_id = _text(data, "tool_use_id")
        self.tool_response = data.get("tool_response")
        error = data.get("error")
        self.error = error if isinstance(error, str) else None if error is None else json.dumps(error)
        self.is_interrupt = data.get("is_interrupt") is True
        self.prompt = data.get("prompt") if isinstance(data.get("prompt"), str) else None
        self.prompt_id = _text(data, "prompt_id")
        self.source = _text(data, "source")
        model = data.get("model")
        self.model = model if isinstance(model, str) else None
        self.last_message = _text(data, "last_assistant_message")
        self.reason = _text(data, "reason")
        if event in TOOL_EVENTS and (self.tool_name is None or self.tool_use_id is None):
            raise BadHookInput("malformed", f"a {event} event without tool_name and tool_use_id", event)


def parse(raw: bytes) -> HookInput:
    """Stdin's bytes as a :class:`HookInput`; :class:`BadHookInput` says what is wrong."""
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise BadHookInput("malformed", f"stdin is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadHookInput("malformed", f"stdin is a JSON {type(data).__name__}, not an object")
    return HookInput(clean(data))
