"""Lessons: errors that got fixed, brought back when a similar error happens again.

A *lesson* is recorded when a tool call succeeds after at least ``MIN_FAILURES`` (2) failed
calls of the same tool by the same agent since that tool last succeeded: the last error's
text, and what the call that worked did differently — for a command tool its command, else
which arguments it changed, added or dropped. A success with the very arguments that failed
teaches nothing (the failure was transient) and records none.

A later failed call of the same tool whose error resembles a lesson's — the Jaccard
similarity of their character-trigram sets (lower-cased, whitespace collapsed) at least
``VitalsConfig.lesson_similarity`` — brings the most similar lesson back as guidance (the
``lesson`` pattern, with its cooldown and, when switched on, its A/B arm like any other).
Lessons are bounded: ``max_lessons_per_agent`` per agent and ``max_lessons`` in all, the
oldest dropped first. Everything is a function of the events in order (no clock, sets are
only counted), so replay records the same lessons.
"""

from __future__ import annotations

import json
from hashlib import blake2b
from typing import Any, Final

MIN_FAILURES: Final = 2
MAX_ERROR_CHARS: Final = 500
"""A lesson keeps this much of its error (and compares this much of a new one)."""
MAX_ARG_CHARS: Final = 200
"""An argument value kept for a lesson's diff is cut to this many characters."""
MAX_TOOLS_REMEMBERED: Final = 32
"""Failing tools remembered per agent (the oldest go)."""

_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def call_args(args: dict[str, Any]) -> str:
    """A call's arguments as kept for a lesson: canonical JSON, long values cut short."""
    short: dict[str, Any] = {}
    for name, value in args.items():
        if isinstance(value, str):
            short[name] = value[:MAX_ARG_CHARS]
        elif value is None or isinstance(value, bool | int | float):
            short[name] = value
        else:
            short[name] = _CANONICAL.encode(value)[:MAX_ARG_CHARS]
    return _CANONICAL.encode(short)


def trigrams(error: str) -> frozenset[str]:
    text = " ".join(error.lower().split())[:MAX_ERROR_CHARS]
    return frozenset(text[i : i + 3] for i in range(len(text) - 2))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two trigram sets (0 when both are empty)."""
    common = len(a & b)
    union = len(a) + len(b) - common
    return common / union if union else 0.0


def fix_of(command: bool, failed_args: str, args: str) -> dict[str, Any] | None:
    """What the successful call did differently from the last failed one (None: nothing)."""
    old, new = json.loads(failed_args), json.loads(args)
    if old == new:
        return None
    if command and isinstance(new.get("command"), str):
        return {"command": new["command"], "instead_of": old.get("command")}
    fix: dict[str, Any] = {}
    changed = {k: [old[k], new[k]] for k in sorted(old.keys() & new.keys()) if old[k] != new[k]}
    added = {k: new[k] for k in sorted(new.keys() - old.keys())}
    removed = sorted(old.keys() - new.keys())
    if changed:
        fix["changed"] = changed
    if added:
        fix["added"] = added
    if removed:
        fix["removed"] = removed
    return fix


def describe(fix: dict[str, Any]) -> str:
    """The fix in words, for the guidance message."""
    if "command" in fix:
        return f"running `{fix['command']}`"
    parts = [f"{k}: {old!r} → {new!r}" for k, (old, new) in fix.get("changed", {}).items()]
    parts += [f"adding {k}={v!r}" for k, v in fix.get("added", {}).items()]
    parts += [f"dropping {k}" for k in fix.get("removed", [])]
    return "; ".join(parts)


class Lesson:
    __slots__ = ("agent_id", "error", "fix", "grams", "lesson_id", "tool")

    def __init__(self, lesson_id: str, agent_id: str, tool: str, error: str, fix: dict[str, Any]) -> None:
        self.lesson_id = lesson_id
        self.agent_id = agent_id
        self.tool = tool
        self.error = error
        self.fix = fix
        self.grams = trigrams(error)

    def message(self) -> str:
        error = " ".join(self.error.split())
        if len(error) > 160:
            error = error[:159] + "…"
        return (
            f"A similar error was fixed before: `{self.tool}` failed with “{error}”, and what worked "
            f"then was {describe(self.fix)}. Check whether the same fix applies before retrying."
        )

    def to_json(self) -> list[Any]:
        return [self.lesson_id, self.agent_id, self.tool, self.error, self.fix]


def lesson_id(agent_id: str, seq: int) -> str:
    return "ls-" + blake2b(f"{agent_id}\x1f{seq}".encode(), digest_size=10).hexdigest()


class Lessons:
    """Every lesson kept, oldest first, bounded per agent and in all."""

    __slots__ = ("by_id", "by_tool", "per_agent", "threshold", "total")

    def __init__(self, per_agent: int, total: int, threshold: float) -> None:
        self.per_agent = per_agent
        self.total = total
        self.threshold = threshold
        self.by_id: dict[str, Lesson] = {}  # oldest first
        self.by_tool: dict[str, dict[str, Lesson]] = {}  # the same lessons, by tool

    def add(self, lesson: Lesson) -> None:
        self.by_id[lesson.lesson_id] = lesson
        self.by_tool.setdefault(lesson.tool, {})[lesson.lesson_id] = lesson
        own = [k for k, v in self.by_id.items() if v.agent_id == lesson.agent_id]
        for key in own[: max(0, len(own) - self.per_agent)]:
            self._drop(key)
        while len(self.by_id) > self.total:
            self._drop(next(iter(self.by_id)))

    def _drop(self, key: str) -> None:
        lesson = self.by_id.pop(key)
        same = self.by_tool[lesson.tool]
        del same[key]
        if not same:
            del self.by_tool[lesson.tool]

    def recall(self, tool: str, error: str) -> tuple[Lesson, float] | None:
        """The lesson of ``tool`` most like ``error`` (the newest of equals), if similar enough."""
        same = self.by_tool.get(tool)
        if not same:
            return None
        best: tuple[Lesson, float] | None = None
        grams = trigrams(error)
        for lesson in same.values():
            score = similarity(grams, lesson.grams)
            if score >= self.threshold and (best is None or score >= best[1]):
                best = (lesson, score)
        return best

    def to_json(self) -> list[Any]:
        return [lesson.to_json() for lesson in self.by_id.values()]

    def load(self, data: list[Any]) -> None:
        for lesson_id_, agent_id, tool, error, fix in data:
            lesson = self.by_id[lesson_id_] = Lesson(lesson_id_, agent_id, tool, error, fix)
            self.by_tool.setdefault(tool, {})[lesson_id_] = lesson
