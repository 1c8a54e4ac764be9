"""Behaviour patterns: specific, recognisable mistakes, each with a rule, a cooldown and a message.

Patterns are judged on every action of an agent, after its signals. Vocabulary:

* a *command tool* call is a tool call whose ``tool.started`` (or terminal) payload has
  ``isolation == "command"`` (a ``CommandTool``);
* a *write* is a call of a state-changing tool with a ``path`` argument — the payload says
  ``effect: "state"`` or ``destructive: true``, or, when it does not say, the tool's name has a
  writing verb (write, edit, patch, delete, …); a *read* likewise, with ``effect: "read"`` or a
  reading verb (read, cat, view, head, grep, …). Paths are compared after ``normpath``. A
  harness's calls (Claude Code's ``Bash``, ``Edit``, ``Read``… with their ``command`` and
  ``file_path``) are read as ``harness`` describes: ``Bash`` is a command tool, ``Edit`` a
  write of its ``file_path``;
* the *cooldown*: after a pattern fires for an agent it stays silent for that agent's next
  ``COOLDOWN`` (5) actions — unless a firing is more severe than its last one (a budget going
  critical, pressure escalating from GUIDE to WARN), which is never held back.

The rules (each fires at the action that completes it):

``bash_retry``
    A command tool called with exactly the same arguments as the agent's previous tool call,
    which was that same command and failed. Re-running a failed command unchanged rarely helps.
``bash_error_streak``
    Two or more consecutive failed command-tool calls (calls of other tools and model calls in
    between neither count nor break the streak; a successful command call does).
``budget``
    The session's token or cost budget is ≥ 80% used (severity 1), or ≥ 95% (critical,
    severity 2). Each level fires once per session. The budget is declared in the
    ``session.started`` payload: ``metadata: {"budget": {"tokens": N, "cost_usd": X}}`` (either
    key may be left out); usage is the sum over every action of the session.
``blind_edit``
    A write to an existing file that the agent has not read (or itself written) within its
    last ``READ_LOOKBACK`` (20) actions. The engine is pure and cannot look at the disk: a file
    "exists" when a successful read or write of its path has been seen before.
``cost_spiral``
    At least 5 of the last 8 actions failed while cost per action is rising: the newest four
    of those eight cost more in total than the oldest four.
``error_cascade``
    At least 3 consecutive failed tool calls involving at least 2 different tools (model calls
    in between are ignored; a successful tool call ends the run) — probably one root cause.

``pressure``
    Not a mistake but the monitor's own alarm: the agent's mode rose to GUIDE, WARN or BLOCK
    (severity = the mode's rank), so every escalation comes with a message that names the
    signals behind it. Judged by the engine whenever an agent's mode changes.

``lesson``
    A failed tool call whose error resembles one that was fixed before brings that fix back
    (see ``lessons``).
"""

from __future__ import annotations

import math
import posixpath
import re
from collections import deque
from typing import Any, Final

from .config import PATTERNS as PATTERNS  # the names, kept with the config that switches their A/B
from .config import SIGNALS
from .pressure import Mode
from .signals import Action

COOLDOWN: Final = 5
READ_LOOKBACK: Final = 20
BUDGET_WARNING: Final = 0.80
BUDGET_CRITICAL: Final = 0.95
SPIRAL_WINDOW: Final = 8
SPIRAL_ERRORS: Final = 5
CASCADE_ERRORS: Final = 3
CASCADE_TOOLS: Final = 2


WRITE_VERBS: Final = frozenset(
    {
        "write", "edit", "patch", "replace", "append", "create", "delete", "remove", "rm", "unlink",
        "move", "mv", "rename", "save", "put", "update", "insert", "truncate", "overwrite", "modify",
    }
)  # fmt: skip
READ_VERBS: Final = frozenset(
    {
        "read",
        "cat",
        "view",
        "open",
        "head",
        "tail",
        "grep",
        "search",
        "show",
        "get",
        "load",
        "stat",
        "inspect",
    }
)
_NAME_PARTS: Final = re.compile(r"[a-z0-9]+")

Finding = tuple[str, int, str, dict[str, Any]]
"""(pattern, severity, message, details) of a rule that triggered."""


def classify(tool: str, args: dict[str, Any], effect: Any, destructive: Any) -> tuple[str | None, str | None]:
    """(path, access) of a tool call: access is "read", "write" or None (see module docstring)."""
    path = args.get("path")
    if not isinstance(path, str) or not path:
        return None, None
    path = _normpath(path)
    if destructive is True or effect == "state":
        return path, "write"
    if effect == "read":
        return path, "read"
    if effect is None:
        return path, _verb(tool)
    return path, None


def shaped_access(access: str | None, path: Any) -> tuple[str | None, str | None]:
    """(path, access) of a harness's call (``harness``): its path argument, normalized."""
    if access is None or not isinstance(path, str) or not path:
        return None, None
    return _normpath(path), access


_verbs: dict[str, str | None] = {}
_paths: dict[str, str] = {}


def _normpath(path: str) -> str:
    """``posixpath.normpath``, remembered (a session touches the same few paths again and again)."""
    normal = _paths.get(path)
    if normal is None:
        if len(_paths) > 4096:
            _paths.clear()
        normal = _paths[path] = posixpath.normpath(path)
    return normal


def _verb(tool: str) -> str | None:
    """ "write" or "read" from a tool's name (remembered per name)."""
    verb = _verbs.get(tool, "")
    if verb == "":
        parts = _NAME_PARTS.findall(tool.lower())
        verb = (
            "write" if any(part in WRITE_VERBS for part in parts)
            else "read" if any(part in READ_VERBS for part in parts) else None
        )  # fmt: skip
        if len(_verbs) > 4096:
            _verbs.clear()
        _verbs[tool] = verb
    return verb


class Budget:
    """A session's declared budget and what its actions have used (tokens, nano-dollars)."""

    __slots__ = ("announced", "cost_nanos", "tokens", "used_cost_nanos", "used_tokens")

    def __init__(self, tokens: int | None = None, cost_nanos: int | None = None) -> None:
        self.tokens = tokens
        self.cost_nanos = cost_nanos
        self.used_tokens = 0
        self.used_cost_nanos = 0
        self.announced = 0  # the highest level fired: 0 none, 1 warning, 2 critical

    @classmethod
    def from_metadata(cls, metadata: Any) -> Budget:
        """From ``session.started`` metadata; a missing or malformed budget means none."""
        spec = metadata.get("budget") if isinstance(metadata, dict) else None
        if not isinstance(spec, dict):
            return cls()
        tokens = _positive(spec.get("tokens"))
        cost = _positive(spec.get("cost_usd"))
        cost_nanos = round(cost * 1e9) if cost is not None else 0
        return cls(math.ceil(tokens) if tokens is not None else None, cost_nanos or None)

    def level(self) -> tuple[int, str, float]:
        """(level, resource, used fraction) of the most used resource."""
        best = (0, "", 0.0)
        for resource, used, limit in (
            ("tokens", self.used_tokens, self.tokens),
            ("cost", self.used_cost_nanos, self.cost_nanos),
        ):
            if limit:
                share = used / limit
                level = 2 if share >= BUDGET_CRITICAL else 1 if share >= BUDGET_WARNING else 0
                if (level, share) > (best[0], best[2]):
                    best = (level, resource, share)
        return best

    def to_json(self) -> list[Any]:
        return [self.tokens, self.cost_nanos, self.used_tokens, self.used_cost_nanos, self.announced]

    @classmethod
    def from_json(cls, data: list[Any]) -> Budget:
        budget = cls(data[0], data[1])
        budget.used_tokens, budget.used_cost_nanos, budget.announced = data[2], data[3], data[4]
        return budget


def _positive(value: Any) -> float | None:
    """``value`` if it is a finite positive number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf:
        return value
    return None


class PatternState:
    """What one agent's pattern rules remember between actions."""

    __slots__ = (
        "cmd_streak",
        "fired",
        "last_tool",
        "reads",
        "recent",
        "recent_errors",
        "tool_streak",
        "tool_streak_names",
    )

    def __init__(self) -> None:
        self.last_tool: tuple[str | None, bool, bool] | None = None  # (call key, command, failed)
        self.cmd_streak = 0
        self.tool_streak = 0
        self.tool_streak_names: list[str] = []  # distinct tools of the current failing streak
        self.recent: deque[tuple[bool, int]] = deque(maxlen=SPIRAL_WINDOW)  # (failed, cost)
        self.recent_errors = 0  # failures in ``recent``
        self.reads: dict[str, int] = {}  # path -> the action that last read or wrote it
        self.fired: dict[str, tuple[int, int]] = {}  # pattern -> (action, severity)

    def allow(self, pattern: str, severity: int, index: int) -> bool:
        """Whether a firing passes the cooldown; if it does, it is recorded."""
        last = self.fired.get(pattern)
        if last is not None and index - last[0] <= COOLDOWN and severity <= last[1]:
            return False
        self.fired[pattern] = (index, severity)
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "last_tool": list(self.last_tool) if self.last_tool is not None else None,
            "cmd_streak": self.cmd_streak,
            "tool_streak": self.tool_streak,
            "tool_streak_names": list(self.tool_streak_names),
            "recent": [list(r) for r in self.recent],
            "reads": dict(self.reads),
            "fired": {k: list(v) for k, v in self.fired.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PatternState:
        state = cls()
        last = data["last_tool"]
        state.last_tool = (last[0], last[1], last[2]) if last is not None else None
        state.cmd_streak = data["cmd_streak"]
        state.tool_streak = data["tool_streak"]
        state.tool_streak_names = list(data["tool_streak_names"])
        state.recent.extend((r[0], r[1]) for r in data["recent"])
        state.recent_errors = sum(1 for failed, _ in state.recent if failed)
        state.reads = dict(data["reads"])
        state.fired = {k: (v[0], v[1]) for k, v in data["fired"].items()}
        return state


def detect(
    state: PatternState, action: Action, budget: Budget, known_paths: dict[str, None]
) -> list[Finding]:
    """Judge ``action`` (already counted in ``budget``) and update ``state``. Cooldowns are
    applied by the caller (``PatternState.allow``)."""
    found: list[Finding] = []
    recent = state.recent
    if len(recent) == SPIRAL_WINDOW:
        state.recent_errors -= recent[0][0]
    recent.append((action.failed, action.cost_nanos))
    state.recent_errors += action.failed
    if not action.model:
        _tool_call(state, action, known_paths, found)
    if budget.tokens is not None or budget.cost_nanos is not None:
        _budget(budget, found)
    if state.recent_errors >= SPIRAL_ERRORS and len(recent) == SPIRAL_WINDOW:
        _cost_spiral(state, found)
    return found


def _tool_call(
    state: PatternState, action: Action, known_paths: dict[str, None], found: list[Finding]
) -> None:
    failed = action.failed
    tool = action.tool
    if action.command:
        previous = state.last_tool
        if previous is not None and previous == (action.call_key, True, True):
            found.append(
                (
                    "bash_retry",
                    1,
                    f"You re-ran `{tool}` with the same arguments right after it failed. Repeating a "
                    "failed command rarely changes its outcome: read the error and change something "
                    "(arguments, environment, approach) — or stop and report what blocks you.",
                    {"tool": tool},
                )
            )
        if failed:
            state.cmd_streak += 1
            if state.cmd_streak >= 2:
                found.append(
                    (
                        "bash_error_streak",
                        1,
                        f"{state.cmd_streak} command-tool calls in a row have failed (the last: "
                        f"`{tool}`). Stop and diagnose the cause before running another command.",
                        {"tool": tool, "streak": state.cmd_streak},
                    )
                )
        else:
            state.cmd_streak = 0
    state.last_tool = (action.call_key, action.command, failed)

    if failed:
        state.tool_streak += 1
        if tool not in state.tool_streak_names:
            state.tool_streak_names.append(tool)
        names = state.tool_streak_names
        if state.tool_streak >= CASCADE_ERRORS and len(names) >= CASCADE_TOOLS:
            found.append(
                (
                    "error_cascade",
                    1,
                    f"{state.tool_streak} tool calls in a row have failed, across {len(names)} tools "
                    f"({', '.join(names)}). Step back: one root cause is probably breaking them all; "
                    "find it before calling more tools.",
                    {"streak": state.tool_streak, "tools": list(names)},
                )
            )
    else:
        state.tool_streak = 0
        state.tool_streak_names = []

    path = action.path
    if path is not None and action.access is not None:
        index = action.index
        if action.access == "write" and path in known_paths:
            last = state.reads.get(path)
            if last is None or index - last > READ_LOOKBACK:
                found.append(
                    (
                        "blind_edit",
                        1,
                        f"You are writing `{path}`, an existing file you have not read in your last "
                        f"{READ_LOOKBACK} actions. Read it first, so the edit does not clobber content "
                        "you have not seen.",
                        {"path": path},
                    )
                )
        if not failed:
            state.reads[path] = index
            known_paths.pop(path, None)  # re-inserted last: the oldest paths are forgotten first
            known_paths[path] = None
            if len(state.reads) > 4 * READ_LOOKBACK:
                state.reads = {p: i for p, i in state.reads.items() if index - i <= READ_LOOKBACK}


def _budget(budget: Budget, found: list[Finding]) -> None:
    level, resource, share = budget.level()
    if level <= budget.announced:
        return
    budget.announced = level
    if resource == "tokens":
        used, limit = f"{budget.used_tokens:,} tokens", f"{budget.tokens:,}"
    else:
        used, limit = f"${budget.used_cost_nanos / 1e9:.2f}", f"${(budget.cost_nanos or 0) / 1e9:.2f}"
    pct = int(share * 100)
    if level == 2:
        message = (
            f"CRITICAL: this session has used {pct}% of its {resource} budget ({used} of {limit}). "
            "Finish now with what you have, or stop and report."
        )
    else:
        message = (
            f"This session has used {pct}% of its {resource} budget ({used} of {limit}). "
            "Prioritise what matters most and plan to wrap up."
        )
    found.append(("budget", level, message, {"resource": resource, "used": round(share, 4), "level": level}))


def _cost_spiral(state: PatternState, found: list[Finding]) -> None:
    recent = state.recent
    errors = state.recent_errors
    half = SPIRAL_WINDOW // 2
    costs = [cost for _, cost in recent]
    older, newer = sum(costs[:half]), sum(costs[half:])
    if newer > older:
        found.append(
            (
                "cost_spiral",
                1,
                f"{errors} of your last {SPIRAL_WINDOW} actions failed while the cost per action rose "
                f"(${older / half / 1e9:.4f} → ${newer / half / 1e9:.4f}). You are spending more to "
                "fail more: change your approach or stop.",
                {"errors": errors, "older_cost_usd": older / 1e9, "newer_cost_usd": newer / 1e9},
            )
        )


_MODE_ADVICE: Final = {
    Mode.GUIDE: "Slow down and check your approach against the task.",
    Mode.WARN: "Stop and reassess before your next action; consider a different approach.",
    Mode.BLOCK: "Destructive tools are refused until pressure falls: diagnose, do not act.",
}


def escalation(
    previous: Mode, mode: Mode, pressure: float, effective: float, pressures: tuple[float, ...]
) -> Finding | None:
    """The ``pressure`` rule: the mode rose to GUIDE, WARN or BLOCK (severity = its rank). The
    message names the signals at or above 0.5, most pressing first, or the trust graph when
    the pressure came from other agents."""
    rank = mode.rank
    if rank <= previous.rank:
        return None
    hot = sorted((i for i, p in enumerate(pressures) if p >= 0.5), key=lambda i: (-pressures[i], i))
    if effective > pressure:
        cause = "agents it relies on are struggling (trust graph)"
    elif hot:
        cause = f"{', '.join(SIGNALS[i] for i in hot)} well above this agent's usual"
    else:
        cause = "several signals above this agent's usual"
    message = f"Vitals {mode.value.upper()} (pressure {effective:.2f}): {cause}. {_MODE_ADVICE[mode]}"
    return "pressure", rank, message, {"signals": [SIGNALS[i] for i in hot], "previous_mode": previous.value}
