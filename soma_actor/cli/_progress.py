"""Progress of a run or an actor task as its events arrive, for ``soma run`` and ``soma ask``.

Each step (or model call) is one line. On a terminal the line of what is under way is live —
a spinner and the time it has taken so far, redrawn in place — and becomes the finished line
once its outcome arrives; elsewhere (a pipe, a log file, CI) only finished lines are written,
one per event worth reading, with nothing redrawn. Durations are read from the events'
timestamps, so the lines say how long the runtime took, not how long the events took to
reach this process.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:
    from soma_runtime import Event

SPINNER: Final = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
TICK: Final = 0.1
"""Seconds between redraws of the live line (an animation rate, nothing waits on it)."""
DETAIL: Final = 200
"""Characters of an output or error shown on a line (the store has it all: soma trace)."""

DONE, FAILED, BLOCKED, NOTE = "✓", "✗", "⊘", "·"


class Progress:
    """Turns events into lines on ``out``; ``live``: redraw the current activity in place."""

    def __init__(self, out: TextIO, *, live: bool) -> None:
        self.out = out
        self.live = live
        self._activity: str | None = None
        self._since = 0.0
        self._frame = 0
        self._started: dict[str, int] = {}  # step or call → its start ts (ns)
        self._tools: dict[str, str] = {}  # step → its tool
        self._drawn = False
        self._held: list[Event] | None = None

    # -- events -------------------------------------------------------------------------------

    def event(self, event: Event) -> None:
        if self._held is not None:
            self._held.append(event)  # a question is on screen: draw it after the answer
            return
        render = _RENDER.get(event.type)
        if render is not None:
            render(self, event)

    def hold(self) -> None:
        """Keep events back (and the live line away) while the command asks something."""
        self._clear()
        if self._held is None:
            self._held = []

    def release(self) -> None:
        """Draw the events kept back, and carry on."""
        held, self._held = self._held or [], None
        for event in held:
            self.event(event)
        self.draw()

    def _step_started(self, event: Event) -> None:
        p = event.payload
        key = f"step:{event.run_id}:{event.step_id}"
        self._started[key] = event.ts
        self._tools[key] = str(p.get("tool", "?"))
        self._begin(f"{event.step_id} {self._tools[key]}{_args(p.get('args'))}")

    def _step_ended(self, event: Event) -> None:
        p = event.payload
        key = f"step:{event.run_id}:{event.step_id}"
        took = self._took(key, event.ts)
        step = f"{event.step_id} {self._tools.pop(key, '')}".rstrip()
        if event.type == "step.succeeded":
            self._finish(f"{DONE} {step} → {_clip(_show(p.get('output')))}{took}")
        else:
            self._finish(f"{FAILED} {step}: {_clip(str(p.get('error', 'failed')))}{took}")

    def _tool_blocked(self, event: Event) -> None:
        p = event.payload
        reason = _clip(str(p.get("reason", "")))
        self._finish(f"{BLOCKED} {event.step_id} {p.get('tool', '?')} refused: {reason}")

    def _llm_started(self, event: Event) -> None:
        self._started[f"llm:{event.task_id}"] = event.ts
        model = event.payload.get("model")
        self._begin(f"thinking{f' ({model})' if model else ''}")

    def _llm_ended(self, event: Event) -> None:
        p = event.payload
        took = self._took(f"llm:{event.task_id}", event.ts)
        if event.type == "llm.succeeded":
            usage = p.get("usage") or {}
            tokens = int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
            self._finish(f"{DONE} model call: {tokens} tokens{_cost(p.get('cost_usd'))}{took}")
        else:
            why = p.get("error") or p.get("reason") or event.type.removeprefix("llm.")
            self._finish(f"{FAILED} model call {event.type.removeprefix('llm.')}: {_clip(str(why))}{took}")

    def _proposal(self, event: Event) -> None:
        p = event.payload
        if event.type == "proposal.invalid":
            self._finish(f"{NOTE} the model's proposal was invalid: {_clip(str(p.get('reason', '')))}")
        elif event.type == "proposal.rejected":
            self._finish(f"{FAILED} proposal refused: {_clip(str(p.get('reason', '')))}")

    def _message_sent(self, event: Event) -> None:
        p = event.payload
        self._finish(f"{NOTE} asked {p.get('to_actor', '?')}: {_clip(str(p.get('message', '')))}")

    # -- drawing --------------------------------------------------------------------------------

    def _begin(self, what: str) -> None:
        if not self.live:
            return  # plain output shows outcomes only: one line per step, nothing redrawn
        self._activity = what
        self._since = time.monotonic()
        self.draw()

    def _finish(self, line: str) -> None:
        self._activity = None
        self._clear()
        self.out.write(_fit(line, self.live) + "\n")
        self.out.flush()

    def note(self, line: str) -> None:
        """A line of the command's own (a prompt's answer, the outcome), above the live line."""
        self._clear()
        self.out.write(line + "\n")
        self.out.flush()
        self.draw()

    def draw(self) -> None:
        """Redraw the live line (called on every tick while something is under way)."""
        if not self.live or self._activity is None or self._held is not None:
            return
        self._frame = (self._frame + 1) % len(SPINNER)
        elapsed = time.monotonic() - self._since
        line = _fit(f"{SPINNER[self._frame]} {self._activity}  {elapsed:.1f}s", True)
        self.out.write("\r\x1b[2K" + line)
        self.out.flush()
        self._drawn = True

    def pause(self) -> None:
        """Take the live line away (before a prompt); the next tick draws it again."""
        self._clear()

    def _clear(self) -> None:
        if self._drawn:
            self.out.write("\r\x1b[2K")
            self._drawn = False

    def _took(self, key: str, ts: int) -> str:
        started = self._started.pop(key, None)
        return "" if started is None else f"  ({_duration(ts - started)})"


_RENDER: Final[dict[str, Callable[[Progress, Event], None]]] = {
    "step.started": Progress._step_started,
    "step.succeeded": Progress._step_ended,
    "step.failed": Progress._step_ended,
    "tool.blocked": Progress._tool_blocked,
    "llm.started": Progress._llm_started,
    "llm.succeeded": Progress._llm_ended,
    "llm.failed": Progress._llm_ended,
    "llm.timeout": Progress._llm_ended,
    "llm.cancelled": Progress._llm_ended,
    "proposal.invalid": Progress._proposal,
    "proposal.rejected": Progress._proposal,
    "actor.message.sent": Progress._message_sent,
}


def _args(args: Any) -> str:
    if not isinstance(args, Mapping) or not args:
        return ""
    return " " + _clip(" ".join(f"{k}={_show(v)}" for k, v in args.items()))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)


def _clip(text: str, width: int = DETAIL) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _cost(cost: Any) -> str:
    from .status import dollars

    return f", {dollars(float(cost))}" if isinstance(cost, int | float) and cost else ""


def _duration(ns: int) -> str:
    seconds = max(0, ns) / 1e9
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def _fit(line: str, live: bool) -> str:
    """A live line must fit the terminal: a wrapped one cannot be redrawn in place."""
    if not live:
        return line
    width = shutil.get_terminal_size((80, 24)).columns
    return line if len(line) < width else line[: max(1, width - 2)] + "…"
