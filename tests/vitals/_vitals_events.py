"""Synthetic event logs for the vitals tests: real ``Event`` envelopes, ``seq`` in order."""

from __future__ import annotations

from typing import Any

from soma_runtime.store.events import Event
from soma_runtime.vitals import GuidanceFiring, PressureUpdate, Update, VitalsEngine


class Log:
    """Builds events the way a run (tool calls) and an agent (model calls) record them."""

    def __init__(self, agent: str = "agent-1", session: str | None = "session-1") -> None:
        self.agent = agent
        self.session = session
        self.events: list[Event] = []
        self._calls = 0

    def add(self, type: str, payload: dict[str, Any] | None = None, **ids: Any) -> Event:
        ids.setdefault("agent_id", self.agent)
        ids.setdefault("session_id", self.session)
        seq = len(self.events) + 1
        event = Event(
            seq=seq, event_id=f"ev-{seq}", ts=seq * 1_000_000, type=type, payload=payload or {}, **ids
        )
        self.events.append(event)
        return event

    def start_session(
        self, intent: str | None = None, budget: dict[str, Any] | None = None, **ids: Any
    ) -> Event:
        metadata: dict[str, Any] = {"budget": budget} if budget is not None else {}
        return self.add("session.started", {"intent": intent, "metadata": metadata}, **ids)

    def llm(
        self,
        text: str | None = "Reading the parser module next.",
        *,
        input_tokens: int = 1800,
        output_tokens: int = 120,
        cost_usd: float = 0.0,
        model: str = "claude-3-5-sonnet-20241022",
        failed: bool = False,
        **ids: Any,
    ) -> Event:
        payload: dict[str, Any] = {
            "model": model,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            "cost_usd": cost_usd,
        }
        if failed:
            payload["error"] = text
            return self.add("llm.failed", payload, **ids)
        payload["text"] = text
        return self.add("llm.succeeded", payload, **ids)

    def tool(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        failed: bool = False,
        error: str = "failed",
        isolation: str = "thread",
        started: dict[str, Any] | None = None,
        **ids: Any,
    ) -> Event:
        """``tool.started`` then ``tool.succeeded`` or ``tool.failed`` (returns the latter)."""
        self._calls += 1
        call = f"tc-{self._calls}"
        payload = {"tool": name, "args": args or {}, "isolation": isolation, **(started or {})}
        self.add("tool.started", payload, tool_call_id=call, **ids)
        if failed:
            return self.add(
                "tool.failed", {"tool": name, "error": error, "duration_ms": 3.0}, tool_call_id=call, **ids
            )
        return self.add(
            "tool.succeeded", {"tool": name, "output": None, "duration_ms": 3.0}, tool_call_id=call, **ids
        )

    def command(self, name: str, args: dict[str, Any] | None = None, **kwargs: Any) -> Event:
        return self.tool(name, args, isolation="command", **kwargs)


def pressures(updates: list[Update]) -> list[PressureUpdate]:
    return [u for u in updates if isinstance(u, PressureUpdate)]


def firings(updates: list[Update], pattern: str | None = None) -> list[GuidanceFiring]:
    return [u for u in updates if isinstance(u, GuidanceFiring) and (pattern is None or u.pattern == pattern)]


def run(events: list[Event], engine: VitalsEngine | None = None) -> list[Update]:
    engine = engine if engine is not None else VitalsEngine()
    return engine.observe_many(events)


INTENT = "Fix the failing unit test in the parser module so that the parser test suite passes"

HEALTHY_STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("I will read the parser module to find the failing test.", "file_read", {"path": "parser.py"}),
    (
        "The test for trailing whitespace in the parser fails. Let me read the test.",
        "file_read",
        {"path": "tests/test_parser.py"},
    ),
    (
        "I think the tokenizer drops the last token. Searching the parser for tokenize.",
        "text_grep",
        {"pattern": "def tokenize", "path": "parser.py"},
    ),
    ("Running the parser test suite to see the failure.", "pytest", {"target": "tests/test_parser.py"}),
    (
        "The failing test expects the final token of the input. Reading tokenize in the parser.",
        "text_head",
        {"path": "parser.py", "lines": 80},
    ),
    (
        "Fixing tokenize in the parser module so it keeps the final token.",
        "file_write",
        {"path": "parser.py", "content": "def tokenize(s): ..."},
    ),
    (
        "Running the parser tests again after the fix.",
        "pytest",
        {"target": "tests/test_parser.py", "k": "tokenize"},
    ),
    ("Checking the other parser tests still pass.", "pytest", {"target": "tests/"}),
]
"""(model text, tool, args) of an agent doing its job: on task, confident, varied calls."""


def healthy_cycles(log: Log, cycles: int, *, start: int = 0, tokens: int = 1800) -> None:
    """``cycles`` rounds of healthy work: a model call, then a tool call (tests via a command)."""
    for i in range(start, start + cycles):
        text, tool, args = HEALTHY_STEPS[i % len(HEALTHY_STEPS)]
        log.llm(text, input_tokens=tokens + 60 * (i % 5), output_tokens=100 + 10 * (i % 3))
        if tool == "pytest":
            log.command(tool, {**args, "run": i})
        else:
            log.tool(tool, args)
