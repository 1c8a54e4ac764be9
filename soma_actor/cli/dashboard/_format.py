"""How the dashboard writes numbers, modes, states and events as short styled text.

Everything here is a pure function of the data: nothing reads the clock, so a screen built
from a fixed log looks the same every time (the snapshot test relies on it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from rich.text import Text

from soma_runtime import Event

SPARK_BARS: Final = "▁▂▃▄▅▆▇█"

MODE_STYLES: Final = {
    "observe": "green",
    "guide": "cyan",
    "warn": "bold yellow",
    "block": "bold red",
}

STATE_STYLES: Final = {
    "accepted": "dim",
    "executing": "cyan",
    "waiting_tool": "yellow",
    "unresponsive": "bold magenta",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "magenta",
    "timeout": "red",
}

SIGNAL_LABELS: Final = {
    "uncertainty": "unc",
    "drift": "drf",
    "error_rate": "err",
    "token_usage": "tok",
    "cost": "cost",
}
"""Column headers of the five signals, in the order of ``soma_runtime.vitals.SIGNALS``."""

NONE: Final = "-"

# What the control API's tree view carries as a process's state is its repr: an enum's looks
# like <RunState.WAITING_TOOL: 'waiting_tool'>, of which only the value is worth showing.
_ENUM_REPR = re.compile(r"^<[\w.]+: '(?P<value>[^']*)'>$")


def sparkline(values: Iterable[float], width: int) -> str:
    """The last ``width`` values in [0, 1] as bars, on a fixed 0-1 scale.

    A fixed scale (rather than one fitted to each agent's range) keeps bars comparable
    between agents and over time: a full bar always means pressure 1.
    """
    tail = list(values)[-width:] if width > 0 else []
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[round(min(1.0, max(0.0, v)) * top)] for v in tail)


def pressure(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def mode(value: str | None) -> Text:
    if value is None:
        return Text(NONE, style="dim")
    return Text(value, style=MODE_STYLES.get(value, ""))


def state(value: str) -> Text:
    return Text(value, style=STATE_STYLES.get(value, ""))


def process_state(value: str | None) -> str | None:
    """A process's state from the tree view, without its enum wrapping."""
    if value is None:
        return None
    found = _ENUM_REPR.match(value)
    return found.group("value") if found else value


def clip(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters (an ellipsis marks a cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"


def offset(ns: int) -> str:
    """A duration since a trace's first event: ``+0.0ms``, ``+12.3ms``, ``+4.21s``, ``+2m05s``."""
    ms = ns / 1e6
    if ms < 1000:
        return f"+{ms:.1f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"+{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"+{minutes}m{rest:02d}s"


# --------------------------------------------------------------------------- events


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)


def _args(payload: Mapping[str, Any]) -> str:
    args = payload.get("args")
    if not isinstance(args, dict) or not args:
        return ""
    return " " + " ".join(f"{k}={_compact(v)}" for k, v in args.items())


def _steps(steps: Any) -> str:
    count = len(steps) if isinstance(steps, list) else 0
    return "1 step" if count == 1 else f"{count} steps"


def _vitals(p: Mapping[str, Any]) -> str:
    value = p.get("effective_pressure", p.get("pressure"))
    shown = f"{value:.2f}" if isinstance(value, int | float) else NONE
    return f"p={shown} {p.get('mode', NONE)}"


def _tokens(p: Mapping[str, Any]) -> str:
    usage = p.get("usage")
    if not isinstance(usage, dict):
        return str(p.get("model") or "")
    return f"{p.get('model') or ''} in={usage.get('input_tokens', 0)} out={usage.get('output_tokens', 0)}"


_DETAILS: Final[dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "session.started": lambda p: f"intent={_compact(p['intent'])}" if p.get("intent") else "",
    "run.accepted": lambda p: _steps(p.get("steps")),
    "run.started": lambda p: _steps(p.get("steps")),
    "step.started": lambda p: f"{p.get('tool', '?')}{_args(p)}",
    "step.succeeded": lambda p: f"→ {_compact(p.get('output'))}",
    "tool.started": lambda p: f"{p.get('tool', '?')}{_args(p)}",
    "tool.succeeded": lambda p: f"{p.get('tool', '?')} → {_compact(p.get('output'))}",
    "vitals.updated": _vitals,
    "guidance.fired": lambda p: f"{p.get('pattern', '?')}: {p.get('message', '')}",
    "llm.started": _tokens,
    "llm.succeeded": _tokens,
    "actor.started": lambda p: f"model={p.get('model', '?')}",
    "actor.task.received": lambda p: _compact(p.get("message", "")),
    "actor.task.started": lambda p: _compact(p.get("message", "")),
    "actor.task.completed": lambda p: f"→ {_compact(p.get('reply'))}",
    "actor.message.sent": lambda p: f"→ {p.get('to_actor', '?')}: {_compact(p.get('message', ''))}",
    "proposal.received": lambda p: str(p.get("kind", "")),
    "proposal.approved": lambda p: str(p.get("kind", "")),
}

# Failures, refusals and endings all say why in one of these fields.
_REASON_FIELDS: Final = ("error", "reason")


def detail(event: Event) -> str:
    """The part of an event's payload worth a glance, on one line."""
    payload = event.payload
    explain = _DETAILS.get(event.type)
    if explain is not None:
        try:
            return explain(payload)
        except (KeyError, TypeError, ValueError):
            pass  # an unexpected payload shape: fall through to the generic forms
    for name in _REASON_FIELDS:
        if payload.get(name):
            return _compact(payload[name])
    return ""


def subject(event: Event) -> str:
    """Who the event is about: its run, else its task, else its session."""
    return event.run_id or event.task_id or event.session_id or ""


def event_line(event: Event, width: int = 200) -> Text:
    """One line of the event tail: seq, type, agent, subject and detail."""
    line = Text(no_wrap=True, overflow="crop")
    line.append(f"{event.seq:>6} ", style="dim")
    line.append(f"{event.type:<20} ", style=type_style(event.type))
    line.append(f"{event.agent_id or '':<10} ", style="bold")
    who = subject(event)
    if who:
        line.append(who + " ", style="dim")
    line.append(clip(detail(event), width))
    return line


def type_style(type_: str) -> str:
    if type_.endswith((".failed", ".timeout", ".blocked", ".rejected")):
        return "red"
    if type_.endswith(".cancelled"):
        return "magenta"
    if type_.startswith(("guidance.", "vitals.")):
        return "cyan"
    if type_.endswith((".completed", ".succeeded")):
        return "green"
    return ""
