"""An event stream as a Soma store records it: real ``Event`` envelopes, ``seq`` from 1.

The scenarios write what a run (``tool.started`` then ``tool.succeeded|failed``), an actor
(``llm.succeeded|failed`` with usage) or Claude Code's hooks (the same tool events, with
Claude Code's tool names and arguments) would have recorded, and nothing the engine does not
read. Timestamps are synthetic and the engine never reads them.
"""

from __future__ import annotations

from typing import Any, Final

from ...store.events import Event

MODEL: Final = "claude-sonnet-4-5-20250929"
"""The model of the scenarios' agents: a priced one, so their cost is known."""


class EventStream:
    """The log of one scenario, built in order, and how many actions each agent has taken."""

    def __init__(self, agent: str, session: str) -> None:
        self.agent = agent
        self.session = session
        self.events: list[Event] = []
        self.actions = 0  # of ``agent``: the action number of the next one is actions + 1
        self._calls = 0

    def add(self, type: str, payload: dict[str, Any], *, tool_call_id: str | None = None) -> Event:
        seq = len(self.events) + 1
        event = Event(
            seq=seq,
            event_id=f"ev-{seq}",
            ts=1_700_000_000_000_000_000 + seq * 1_000_000,
            type=type,
            session_id=self.session,
            agent_id=self.agent,
            tool_call_id=tool_call_id,
            payload=payload,
        )
        self.events.append(event)
        return event

    def start_session(self, intent: str | None) -> None:
        self.add("session.started", {"intent": intent, "metadata": {}})

    def llm(
        self,
        text: str,
        *,
        input_tokens: int,
        output_tokens: int,
        failed: bool = False,
        model: str = MODEL,
    ) -> None:
        """A model call: its output text (or error) and usage. A failed call reports no usage,
        as providers' errors do."""
        self.actions += 1
        if failed:
            self.add("llm.failed", {"model": model, "error": text})
            return
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
        self.add("llm.succeeded", {"model": model, "usage": usage, "text": text})

    def tool(
        self,
        name: str,
        args: dict[str, Any],
        *,
        error: str | None = None,
        isolation: str | None = "thread",
    ) -> None:
        """A tool call: ``tool.started`` then ``tool.failed`` (when ``error`` is given) or
        ``tool.succeeded``. ``isolation=None`` leaves it out, as a hook's record does."""
        self.actions += 1
        self._calls += 1
        call = f"tc-{self._calls}"
        started: dict[str, Any] = {"tool": name, "args": args}
        if isolation is not None:
            started["isolation"] = isolation
        self.add("tool.started", started, tool_call_id=call)
        if error is not None:
            self.add("tool.failed", {"tool": name, "error": error, "duration_ms": 40.0}, tool_call_id=call)
        else:
            self.add("tool.succeeded", {"tool": name, "output": "ok", "duration_ms": 12.0}, tool_call_id=call)
